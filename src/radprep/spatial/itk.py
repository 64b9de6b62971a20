"""SimpleITK images from (array, Geometry) and back: the one place where the axis orders meet.

radprep states axes as numpy does: a volume is ``(slices, rows, cols)`` and column ``k`` of
``Geometry.direction`` is the direction of array axis ``k``. ITK indexes ``(x, y, z) = (cols,
rows, slices)``: :func:`SimpleITK.GetImageFromArray` reverses the axes, so ITK's spacing is our
spacing reversed and ITK's direction is our direction with its columns reversed. The origin (the
centre of the pixel at index 0) is the same point in both. NIfTI's RAS flip is left to SimpleITK's
writer, which converts from ITK's LPS.
"""

from __future__ import annotations

import numpy as np

from radprep._lazy import sitk
from radprep.errors import InputError
from radprep.geometry import Geometry

__all__ = ["from_sitk", "to_sitk"]

# sitk.GetImageFromArray does not take these; they are widened first.
_WIDEN = {np.dtype(bool): np.uint8, np.dtype(np.float16): np.float32}


def to_sitk(array: np.ndarray, geometry: Geometry) -> sitk.Image:
    """Return a SimpleITK image of `array` placed by `geometry`.

    Parameters
    ----------
    array : ndarray
        ``geometry.ndim`` spatial axes, optionally followed by one channel axis (a vector image).
    geometry : Geometry
        Spacing, origin and direction in radprep's axis order.

    Raises
    ------
    InputError
        If the array's spatial axes do not match the geometry's number of axes.
    """
    n = geometry.ndim
    if array.ndim not in (n, n + 1):
        raise InputError(
            f"array of shape {array.shape} does not fit a geometry of {n} axes; "
            f"give {n} spatial axes and at most one channel axis"
        )
    arr = np.ascontiguousarray(array)
    if arr.dtype in _WIDEN:
        arr = arr.astype(_WIDEN[arr.dtype])
    img = sitk.GetImageFromArray(arr, isVector=array.ndim == n + 1)
    img.SetSpacing(tuple(float(s) for s in geometry.spacing[::-1]))
    img.SetOrigin(tuple(float(v) for v in geometry.origin))
    img.SetDirection(tuple(float(v) for v in geometry.matrix[:, ::-1].ravel()))
    return img


def from_sitk(image: sitk.Image) -> tuple[np.ndarray, Geometry]:
    """Return the array (radprep axis order) and geometry of a SimpleITK image."""
    n = image.GetDimension()
    arr = sitk.GetArrayFromImage(image)
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(n, n)[:, ::-1]
    geometry = Geometry(
        spacing=tuple(float(s) for s in image.GetSpacing()[::-1]),
        origin=tuple(float(v) for v in image.GetOrigin()),
        direction=tuple(float(v) for v in direction.ravel()),
        spacing_source="SimpleITK",
    )
    return arr, geometry
