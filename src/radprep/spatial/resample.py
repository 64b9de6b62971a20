"""Resampling with SimpleITK: to a target spacing, or onto another image's grid.

To a spacing, the output covers the input's extent (the same pixel-centre convention as
:meth:`Geometry.resize`): ``new_shape = round(shape * spacing / target)``, the first output pixel
centred half an output pixel inside the input's first corner, direction unchanged. Images use
linear or B-spline interpolation (B-spline as nnU-Net's order-3 resampling); masks and label maps
use nearest neighbour, so labels keep their values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np

from radprep._dtype import as_float32
from radprep._lazy import sitk
from radprep._validate import check_choice, check_positive
from radprep.errors import InputError, SpecError
from radprep.geometry import Geometry
from radprep.spatial.itk import from_sitk, to_sitk

__all__ = [
    "RESAMPLE_INTERPOLATIONS",
    "ResampleInterpolation",
    "resample_to_grid",
    "resample_to_spacing",
    "resampled_geometry",
]

ResampleInterpolation = Literal["linear", "bspline", "nearest"]
RESAMPLE_INTERPOLATIONS: tuple[ResampleInterpolation, ...] = ("linear", "bspline", "nearest")
_SITK_INTERP = {  # SimpleITK's names (it loads on first use)
    "linear": "sitkLinear",
    "bspline": "sitkBSpline",
    "nearest": "sitkNearestNeighbor",
}


def _spatial(image: np.ndarray, geometry: Geometry) -> tuple[int, ...]:
    n = geometry.ndim
    if image.ndim not in (n, n + 1):
        raise InputError(
            f"image of shape {image.shape} does not fit its geometry of {n} axes; "
            "give the spatial axes and at most one trailing channel axis"
        )
    return tuple(int(v) for v in image.shape[:n])


def _target(spacing_mm: float | Sequence[float], ndim: int) -> tuple[float, ...]:
    values = (
        [float(spacing_mm)] * ndim
        if isinstance(spacing_mm, (int, float))
        else [float(v) for v in spacing_mm]
    )
    if len(values) != ndim:
        raise SpecError(f"spacing_mm needs {ndim} values (one per axis), got {list(values)}")
    for v in values:
        check_positive(v, name="spacing_mm")
    return tuple(values)


def resampled_geometry(
    shape: Sequence[int], geometry: Geometry, spacing_mm: float | Sequence[float]
) -> tuple[tuple[int, ...], Geometry]:
    """Return the shape and geometry of `shape` resampled to `spacing_mm` (same extent).

    ``None``-free: every axis gets a target; give the current spacing to leave an axis alone.
    """
    target = _target(spacing_mm, geometry.ndim)
    old = np.asarray(geometry.spacing, float)
    new = np.asarray(target, float)
    shp = np.asarray(shape[: geometry.ndim], float)
    new_shape = tuple(int(max(1, round(s))) for s in shp * old / new)
    # Keep the extent's first corner: pixel 0 moves by (new - old) / 2 along each axis.
    origin = geometry.index_to_world((new - old) / 2.0 / old)
    return new_shape, replace(
        geometry, spacing=tuple(float(v) for v in new), origin=tuple(float(v) for v in origin)
    )


def _resample(
    image: np.ndarray,
    geometry: Geometry,
    out_shape: Sequence[int],
    out_geometry: Geometry,
    interpolation: ResampleInterpolation,
    default: float,
) -> np.ndarray:
    check_choice(interpolation, RESAMPLE_INTERPOLATIONS, name="interpolation")
    is_mask = interpolation == "nearest"
    src = image if is_mask else as_float32(image)
    if src.dtype == bool:
        src = src.view(np.uint8)
    img = to_sitk(src, geometry)
    ref = sitk.Image([int(v) for v in out_shape[::-1]], sitk.sitkUInt8)
    ref.SetSpacing(tuple(float(v) for v in out_geometry.spacing[::-1]))
    ref.SetOrigin(tuple(float(v) for v in out_geometry.origin))
    ref.SetDirection(tuple(float(v) for v in out_geometry.matrix[:, ::-1].ravel()))
    out = sitk.Resample(
        img,
        ref,
        sitk.Transform(),
        getattr(sitk, _SITK_INTERP[interpolation]),
        float(default),
        img.GetPixelID(),
    )
    arr, _ = from_sitk(out)
    if image.dtype == bool:
        return arr.astype(bool)
    return arr if is_mask else as_float32(arr)


def resample_to_spacing(
    image: np.ndarray,
    /,
    geometry: Geometry,
    spacing_mm: float | Sequence[float],
    *,
    interpolation: ResampleInterpolation = "linear",
    default: float = 0.0,
) -> tuple[np.ndarray, Geometry]:
    """Resample an image or mask to `spacing_mm`, keeping its extent and direction.

    Parameters
    ----------
    image : ndarray
        2D or 3D, optionally with a trailing channel axis; a mask (bool or integer labels) with
        ``interpolation="nearest"``.
    geometry : Geometry
        Where `image` is.
    spacing_mm : float or sequence of float
        The target spacing, one value for all axes or one per axis (axis order).
    interpolation : {"linear", "bspline", "nearest"}
        ``nearest`` for masks and label maps (values kept, dtype kept).
    default : float
        Value of output pixels that fall outside the input.

    Returns
    -------
    pixels : ndarray
        float32 for linear and B-spline, the input dtype for nearest.
    geometry : Geometry
        The new spacing and origin; direction unchanged.
    """
    shape = _spatial(image, geometry)
    new_shape, new_geometry = resampled_geometry(shape, geometry, spacing_mm)
    return _resample(image, geometry, new_shape, new_geometry, interpolation, default), new_geometry


def resample_to_grid(
    image: np.ndarray,
    /,
    geometry: Geometry,
    shape: Sequence[int],
    target: Geometry,
    *,
    interpolation: ResampleInterpolation = "nearest",
    default: float = 0.0,
) -> np.ndarray:
    """Resample `image` (placed by `geometry`) onto the grid of `shape` placed by `target`.

    The usual use is a label file brought onto an image's grid (nearest neighbour); outside the
    label file's extent the output is `default`.

    Raises
    ------
    InputError
        If the geometries have different numbers of axes.
    """
    _spatial(image, geometry)
    if target.ndim != geometry.ndim or len(shape) < target.ndim:
        raise InputError(
            f"cannot resample a {geometry.ndim}D image onto a {target.ndim}D grid of shape "
            f"{tuple(shape)}"
        )
    return _resample(image, geometry, shape[: target.ndim], target, interpolation, default)
