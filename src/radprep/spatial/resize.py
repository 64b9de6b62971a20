"""Resizing: anti-aliased area averaging for images, nearest neighbour for masks.

Downsampling uses OpenCV's ``INTER_AREA`` (each output pixel is the mean of the input pixels it
covers). A large reduction goes in two passes: first by an exact integer factor that divides the
axis (OpenCV's fast path) while leaving at least two intermediate pixels per output pixel, then by
the remaining fraction; on a 3328x3328 uint16 image to 299x299 that is 5 ms instead of 25 ms, and
differs from the single pass by about 0.3 % of the image's standard deviation.
``INTER_LINEAR`` reads only 2x2 input pixels per output pixel and aliases when shrinking by more
than 2, so it is used only for enlarging.
Pixel-centre convention throughout, as :meth:`radprep.geometry.Geometry.resize` assumes: the output
grid covers exactly the input's extent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from radprep._validate import check_array, check_choice, check_positive
from radprep.errors import SpecError
from radprep.spatial.pad import Align, pad_to_shape
from radprep.types import BBox

__all__ = [
    "FITS",
    "INTERPOLATIONS",
    "Fit",
    "Interpolation",
    "Letterbox",
    "fit_shape",
    "resize",
    "resize_area_box",
    "resize_letterbox",
    "resize_mask",
    "resize_shortest_side",
]

Interpolation = Literal["auto", "area", "nearest", "linear", "cubic", "lanczos"]
INTERPOLATIONS: tuple[Interpolation, ...] = (
    "auto",
    "area",
    "nearest",
    "linear",
    "cubic",
    "lanczos",
)
Fit = Literal["stretch", "letterbox", "shortest_side"]
FITS: tuple[Fit, ...] = ("stretch", "letterbox", "shortest_side")

_CV2_FLAGS = {
    "area": cv2.INTER_AREA,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
}
# dtypes cv2.resize interpolates; others go through nearest or must be converted first.
_CV2_DTYPES = {np.dtype(t) for t in (np.uint8, np.uint16, np.int16, np.float32, np.float64)}


@dataclass(frozen=True)
class Letterbox:
    """How :func:`resize_letterbox` placed the scaled image in the output.

    Attributes
    ----------
    scaled_shape : (int, int)
        Rows and columns of the image after scaling, before padding.
    box : BBox
        The output's extent in the scaled image's indices (negative start = padding); the
        geometry follows with ``Geometry.resize(old, scaled_shape).crop(box[:2])``.
    """

    scaled_shape: tuple[int, int]
    box: BBox


def _size_pair(size: int | tuple[int, int], name: str = "size") -> tuple[int, int]:
    pair = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(pair) != 2:
        raise SpecError(f"{name} must be an int or (rows, cols), got {size!r}")
    for v in pair:
        if int(v) != v:
            raise SpecError(f"{name} must hold whole pixels, got {size!r}")
        check_positive(v, name=name)
    return int(pair[0]), int(pair[1])


def fit_shape(shape: tuple[int, ...], size: int | tuple[int, int], fit: Fit) -> tuple[int, int]:
    """Return the ``(rows, cols)`` an image of `shape` is scaled to before any padding.

    ``"stretch"``: exactly `size`. ``"letterbox"``: the largest shape of the image's aspect ratio
    inside `size`. ``"shortest_side"``: the short side becomes `size` (an int), the long side
    keeps the aspect ratio.
    """
    check_choice(fit, FITS, name="fit")
    rows, cols = int(shape[0]), int(shape[1])
    if fit == "shortest_side":
        if not isinstance(size, (int, np.integer)):
            raise SpecError(f"fit='shortest_side' takes one int size, got {size!r}")
        side = _size_pair(size)[0]
        scale = side / min(rows, cols)
        if rows <= cols:
            return side, max(1, round(cols * scale))
        return max(1, round(rows * scale)), side
    out = _size_pair(size)
    if fit == "stretch":
        return out
    scale = min(out[0] / rows, out[1] / cols)
    return min(out[0], max(1, round(rows * scale))), min(out[1], max(1, round(cols * scale)))


def _largest_divisor(n: int, kmax: int) -> int:
    for k in range(max(kmax, 1), 1, -1):
        if n % k == 0:
            return k
    return 1


def _nearest(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    # Centre of output pixel i falls in input pixel floor((i + 0.5) * n / out).
    in_rows, in_cols = image.shape[:2]
    ri = ((np.arange(rows) + 0.5) * (in_rows / rows)).astype(np.intp)
    ci = ((np.arange(cols) + 0.5) * (in_cols / cols)).astype(np.intp)
    # Rows first, then columns: two gathers of whole rows and of single values, 5-10x faster
    # than one 2D fancy index (its broadcast index arrays cost more than the copy).
    return image[np.minimum(ri, in_rows - 1)][:, np.minimum(ci, in_cols - 1)]


def _cv2_resize(image: np.ndarray, rows: int, cols: int, flag: int) -> np.ndarray:
    out = cv2.resize(image, (cols, rows), interpolation=flag)
    return out.reshape(rows, cols, *image.shape[2:])


def _area_factors(in_rows: int, in_cols: int, rows: int, cols: int) -> tuple[int, int]:
    """The exact integer factors of the first area pass (the whole reduction when they divide)."""
    if in_rows % rows == 0 and in_cols % cols == 0:
        return in_rows // rows, in_cols // cols  # one exact integer pass
    return (
        _largest_divisor(in_rows, in_rows // (2 * rows)),
        _largest_divisor(in_cols, in_cols // (2 * cols)),
    )


def _area(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    in_rows, in_cols = image.shape[:2]
    ky, kx = _area_factors(in_rows, in_cols, rows, cols)
    if ky > 1 or kx > 1:
        image = _cv2_resize(image, in_rows // ky, in_cols // kx, cv2.INTER_AREA)
    if image.shape[:2] == (rows, cols):
        return image
    return _cv2_resize(image, rows, cols, cv2.INTER_AREA)


def resize_area_box(
    image: np.ndarray, /, size: tuple[int, int], box: tuple[int, int, int, int]
) -> np.ndarray:
    """:func:`resize` by area of an image that is zero outside `box`, reading only the box.

    The integer first pass (each output value the mean of its own block) is local: it runs on
    the blocks the box touches, into zeros; the fractional pass, when one is left, runs on the
    small intermediate as :func:`resize` does. The result is the same, value for value.

    Parameters
    ----------
    image : ndarray
        ``(rows, cols)`` or ``(rows, cols, channels)``, zero outside `box`; a dtype OpenCV
        interpolates.
    size : (int, int)
        Output ``(rows, cols)``, no larger than the image on either axis.
    box : (int, int, int, int)
        ``(row0, row1, col0, col1)``, half-open: every non-zero pixel lies inside it.

    Returns
    -------
    ndarray
        ``resize(image, size, interpolation="area")``.
    """
    rows, cols = _size_pair(size)
    in_rows, in_cols = image.shape[:2]
    if rows > in_rows or cols > in_cols:
        raise SpecError(f"resize_area_box shrinks only: {image.shape[:2]} to {(rows, cols)}")
    ky, kx = _area_factors(in_rows, in_cols, rows, cols)
    if (ky, kx) == (1, 1):
        return resize(image, (rows, cols), interpolation="area")
    mid = np.zeros((in_rows // ky, in_cols // kx, *image.shape[2:]), image.dtype)
    r0, c0 = max(0, box[0]) // ky, max(0, box[2]) // kx
    r1, c1 = -(-min(in_rows, box[1]) // ky), -(-min(in_cols, box[3]) // kx)
    if r1 > r0 and c1 > c0:
        part = image[r0 * ky : r1 * ky, c0 * kx : c1 * kx]
        mid[r0:r1, c0:c1] = _cv2_resize(part, r1 - r0, c1 - c0, cv2.INTER_AREA)
    if mid.shape[:2] == (rows, cols):
        return mid
    return _cv2_resize(mid, rows, cols, cv2.INTER_AREA)


def resize(
    image: np.ndarray,
    /,
    size: int | tuple[int, int],
    *,
    interpolation: Interpolation = "auto",
) -> np.ndarray:
    """Resize `image` to exactly `size`, anti-aliased when shrinking.

    Parameters
    ----------
    image : ndarray
        ``(rows, cols)`` or ``(rows, cols, channels)``; uint8, uint16, int16, float32 or float64
        for interpolating modes, any dtype (bool too) for ``"nearest"``.
    size : int or (int, int)
        Output ``(rows, cols)``; one int for a square.
    interpolation : {"auto", "area", "nearest", "linear", "cubic", "lanczos"}
        ``"auto"``: ``"area"`` when no axis grows, ``"linear"`` otherwise. ``"nearest"`` keeps the
        values (use it for masks and label maps).

    Returns
    -------
    ndarray
        The resized image, same dtype.

    Raises
    ------
    SpecError
        If `size` or `interpolation` is invalid, or the dtype cannot be interpolated.
    """
    check_array(image)
    check_choice(interpolation, INTERPOLATIONS, name="interpolation")
    rows, cols = _size_pair(size)
    in_rows, in_cols = image.shape[:2]
    if interpolation == "auto":
        interpolation = "area" if rows <= in_rows and cols <= in_cols else "linear"
    if interpolation == "nearest":
        return _nearest(image, rows, cols)
    if image.dtype not in _CV2_DTYPES:
        raise SpecError(
            f"interpolation={interpolation!r} needs uint8, uint16, int16, float32 or float64 "
            f"pixels, got {image.dtype}; convert first or use interpolation='nearest'"
        )
    if (rows, cols) == (in_rows, in_cols):
        return image.copy()
    if interpolation == "area" and rows <= in_rows and cols <= in_cols:
        return _area(image, rows, cols)
    return _cv2_resize(image, rows, cols, _CV2_FLAGS[interpolation])


def resize_mask(mask: np.ndarray, /, size: int | tuple[int, int]) -> np.ndarray:
    """Resize a mask or label map by nearest neighbour: values and dtype kept (binary stays so)."""
    return resize(mask, size, interpolation="nearest")


def resize_shortest_side(
    image: np.ndarray,
    /,
    side: int,
    *,
    interpolation: Interpolation = "auto",
) -> np.ndarray:
    """Resize `image` so that its short side is `side` pixels, keeping the aspect ratio."""
    check_array(image)
    return resize(image, fit_shape(image.shape, side, "shortest_side"), interpolation=interpolation)


def resize_letterbox(
    image: np.ndarray,
    /,
    size: int | tuple[int, int],
    *,
    interpolation: Interpolation = "auto",
    fill: float = 0,
    align: Align = "centre",
) -> tuple[np.ndarray, Letterbox]:
    """Resize `image` into `size` keeping its aspect ratio, and pad the rest with `fill`.

    Parameters
    ----------
    image : ndarray
        ``(rows, cols)`` or ``(rows, cols, channels)``.
    size : int or (int, int)
        Output ``(rows, cols)``.
    interpolation : {"auto", "area", "nearest", "linear", "cubic", "lanczos"}
        As in :func:`resize`.
    fill : float
        Value of the letterbox bars.
    align : {"centre", "start", "end"}
        Where the scaled image sits inside the output.

    Returns
    -------
    ndarray
        The output of exactly `size`.
    Letterbox
        The scaled shape and the padding box, for the geometry.
    """
    check_array(image)
    scaled_shape = fit_shape(image.shape, size, "letterbox")
    scaled = resize(image, scaled_shape, interpolation=interpolation)
    out, box = pad_to_shape(scaled, _size_pair(size), fill=fill, align=align)
    return out, Letterbox(scaled_shape, box)
