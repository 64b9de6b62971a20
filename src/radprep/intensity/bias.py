"""N4 bias-field correction (Tustison et al. 2010) with SimpleITK, for MR.

The field is fitted on a shrunken copy (fast) inside a foreground mask (Otsu by default), then
evaluated at full resolution with ``GetLogBiasFieldAsImage`` and divided out, the recipe the
SimpleITK N4 example gives. The image must be positive where the field is fitted: N4 models
``v = u * f`` in the log domain.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from radprep._dtype import as_float32
from radprep._lazy import sitk
from radprep._validate import check_array
from radprep.errors import InputError, SpecError
from radprep.geometry import Geometry
from radprep.spatial.itk import to_sitk

__all__ = ["n4_bias_correction", "n4_bias_field"]


def _checked_iterations(iterations: Sequence[int]) -> list[int]:
    its = [int(v) for v in iterations]
    if not its or any(v < 1 for v in its):
        raise SpecError(f"iterations must be one or more counts >= 1 (per level), got {its}")
    return its


def n4_bias_field(
    image: np.ndarray,
    /,
    *,
    mask: np.ndarray | None = None,
    geometry: Geometry | None = None,
    shrink_factor: int = 4,
    iterations: Sequence[int] = (50, 50, 50, 50),
    control_points: int = 4,
    convergence: float = 1e-3,
) -> np.ndarray:
    """Return the multiplicative bias field N4 estimates (same shape as `image`, float32).

    Parameters
    ----------
    image : ndarray
        2D or 3D grey image (MR magnitudes).
    mask : ndarray, optional
        Where to fit (nonzero); default: Otsu's threshold of the image.
    geometry : Geometry, optional
        Gives the B-spline mesh its physical spacing; pixel units without it.
    shrink_factor : int
        Fit on the image shrunk by this factor along every axis (1 = full resolution).
    iterations : sequence of int
        Maximum iterations per fitting level (its length is the number of levels).
    control_points : int
        B-spline control points per axis at the first level (>= 4: spline order 3 + 1).
    convergence : float
        Stop a level when the change falls below this.

    Raises
    ------
    SpecError
        For bad options.
    InputError
        If the mask is empty or not on the image's grid, or the image has no positive pixel.
    """
    check_array(image, ndim=(2, 3))
    its = _checked_iterations(iterations)
    if int(shrink_factor) < 1:
        raise SpecError(f"shrink_factor must be >= 1, got {shrink_factor}")
    if int(control_points) < 4:
        raise SpecError(f"control_points must be >= 4 (B-spline order 3 + 1), got {control_points}")
    geo = geometry if geometry is not None else Geometry.pixels(image.ndim)
    pixels = as_float32(image)
    if not np.any(pixels > 0):
        raise InputError("image has no positive pixel; N4 fits log intensities of positive images")
    img = to_sitk(pixels, geo)
    m = _fit_mask(img, pixels, mask, geo)
    factor = [int(shrink_factor)] * image.ndim
    small = sitk.Shrink(img, factor) if shrink_factor > 1 else img
    small_mask = sitk.Shrink(m, factor) if shrink_factor > 1 else m
    n4 = sitk.N4BiasFieldCorrectionImageFilter()
    n4.SetMaximumNumberOfIterations(its)
    n4.SetNumberOfControlPoints([int(control_points)] * image.ndim)
    n4.SetConvergenceThreshold(float(convergence))
    n4.SetNumberOfThreads(1)  # one core per item: runs go parallel across items
    n4.Execute(small, small_mask)
    log_field = n4.GetLogBiasFieldAsImage(img)
    return as_float32(np.exp(sitk.GetArrayFromImage(log_field)))


def n4_bias_correction(
    image: np.ndarray,
    /,
    *,
    mask: np.ndarray | None = None,
    geometry: Geometry | None = None,
    shrink_factor: int = 4,
    iterations: Sequence[int] = (50, 50, 50, 50),
    control_points: int = 4,
    convergence: float = 1e-3,
) -> np.ndarray:
    """Divide out the N4 bias field; see :func:`n4_bias_field` for the options.

    Returns
    -------
    ndarray of float32
        ``image / field`` everywhere (the field extends smoothly outside the mask).
    """
    field = n4_bias_field(
        image,
        mask=mask,
        geometry=geometry,
        shrink_factor=shrink_factor,
        iterations=iterations,
        control_points=control_points,
        convergence=convergence,
    )
    return as_float32(image) / field


def _fit_mask(
    img: sitk.Image, pixels: np.ndarray, mask: np.ndarray | None, geo: Geometry
) -> sitk.Image:
    """Where N4 fits: the given mask's positive pixels, else Otsu's foreground of `img`."""
    if mask is None:
        m = sitk.OtsuThreshold(img, 0, 1, 200)
        return sitk.And(m, sitk.Cast(img > 0, sitk.sitkUInt8))
    if tuple(mask.shape) != tuple(pixels.shape):
        raise InputError(
            f"mask has shape {mask.shape} but the image is {pixels.shape}; "
            "masks must share the image's grid"
        )
    if not np.any(mask):
        raise InputError("mask is empty: N4 has nothing to fit the bias field to")
    return to_sitk(((mask != 0) & (pixels > 0)).astype(np.uint8), geo)
