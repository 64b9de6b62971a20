"""Crops: a square that keeps the ROI, a box with a margin, the foreground's box (2D or 3D)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from radprep._validate import check_array, check_choice, check_positive
from radprep.clean.foreground import foreground_mask
from radprep.errors import InputError, SpecError
from radprep.roi.bbox import as_bbox, expand_bbox
from radprep.spatial._box import take_box
from radprep.spatial.volume import body_mask_3d
from radprep.types import BBox

__all__ = [
    "OVERSIZE_POLICIES",
    "OversizePolicy",
    "SquareCrop",
    "crop_square_keep_roi",
    "crop_to_bbox",
    "crop_to_foreground",
    "foreground_box",
    "margin_px_from_mm",
    "square_box_keep_roi",
]

OversizePolicy = Literal["centre", "pad"]
OVERSIZE_POLICIES: tuple[OversizePolicy, ...] = ("centre", "pad")


@dataclass(frozen=True)
class SquareCrop:
    """Where :func:`crop_square_keep_roi` cut, and how much of the ROI it left out.

    Attributes
    ----------
    box : BBox
        The inclusive square ``(y0, x0, y1, x1)`` in input pixel indices. It lies inside the
        image except with ``oversize="pad"``, where it reaches past the short side and the
        outside is filled.
    roi_cut_px : tuple of int
        ROI rows or columns outside the square: ``(above, left, below, right)``; all zero when
        the whole ROI is kept.
    """

    box: BBox
    roi_cut_px: tuple[int, int, int, int] = (0, 0, 0, 0)

    @property
    def side(self) -> int:
        """The square's side in pixels."""
        return self.box[2] - self.box[0] + 1

    @property
    def cut(self) -> bool:
        """True when part of the ROI lies outside the square."""
        return any(self.roi_cut_px)


def _place(n: int, side: int, lo: int | None, hi: int | None) -> int:
    """Return the first index of a span of `side` on an axis of `n` around ``lo..hi``."""
    if lo is None or hi is None:
        return (n - side) // 2
    # The CBIS-DDSM notebook's centring: centre row (lo + hi) // 2, start centre - side // 2.
    start = (lo + hi) // 2 - side // 2
    if hi - lo + 1 <= side:
        # Nudge (by at most one pixel) so an ROI that fits is never cut.
        start = min(max(start, hi - side + 1), lo)
    if side <= n:
        return min(max(start, 0), n - side)
    return -((side - n) // 2)


def square_box_keep_roi(
    shape: tuple[int, ...],
    roi: BBox | None,
    *,
    side: int | None = None,
    oversize: OversizePolicy = "centre",
) -> SquareCrop:
    """Return the square crop of an image of `shape` that keeps the ROI box `roi`.

    The square is centred on the ROI along each axis (the notebook's rounding), moved by at most
    one pixel so that an ROI that fits is kept whole, then moved inside the image.

    Parameters
    ----------
    shape : tuple of int
        ``(rows, cols, ...)`` of the image; portrait or landscape.
    roi : BBox or None
        The inclusive ROI box; ``None`` gives the centred square.
    side : int, optional
        The square's side; by default the image's short side (the notebook's width x width).
    oversize : {"centre", "pad"}
        When the ROI is longer than `side`: ``"centre"`` centres the square on the ROI and
        reports the rows or columns left out in ``roi_cut_px``; ``"pad"`` grows the square to the
        ROI's extent so nothing is cut, reaching past the short side, where the crop is filled.

    Returns
    -------
    SquareCrop
        The box and the ROI cut.

    Raises
    ------
    SpecError
        If `side` is not positive or exceeds the image's short side, or `oversize` is unknown.
    """
    check_choice(oversize, OVERSIZE_POLICIES, name="oversize")
    rows, cols = int(shape[0]), int(shape[1])
    short = min(rows, cols)
    side = short if side is None else int(check_positive(side, name="side"))
    if side > short:
        raise SpecError(
            f"side={side} exceeds the image's short side ({rows}x{cols}); "
            "pad first or choose side <= " + str(short)
        )
    if roi is None:
        y0 = _place(rows, side, None, None)
        x0 = _place(cols, side, None, None)
        return SquareCrop((y0, x0, y0 + side - 1, x0 + side - 1))
    ry0, rx0, ry1, rx1 = roi
    if oversize == "pad":
        side = max(side, ry1 - ry0 + 1, rx1 - rx0 + 1)
    y0 = _place(rows, side, ry0, ry1)
    x0 = _place(cols, side, rx0, rx1)
    y1, x1 = y0 + side - 1, x0 + side - 1
    cut = (max(0, y0 - ry0), max(0, x0 - rx0), max(0, ry1 - y1), max(0, rx1 - x1))
    return SquareCrop((y0, x0, y1, x1), cut)


def crop_square_keep_roi(
    image: np.ndarray,
    /,
    roi: BBox | np.ndarray | None,
    *,
    side: int | None = None,
    oversize: OversizePolicy = "centre",
    fill: float = 0,
) -> tuple[np.ndarray, SquareCrop]:
    """Crop a square that keeps the region of interest, never leaving the image.

    Parameters
    ----------
    image : ndarray
        ``(rows, cols)`` or ``(rows, cols, channels)``.
    roi : BBox or ndarray or None
        The ROI as an inclusive box or as a mask on the image's grid (all its components
        together); ``None`` for the centred square.
    side : int, optional
        The square's side; by default the short side.
    oversize : {"centre", "pad"}
        Policy when the ROI is longer than `side`; see :func:`square_box_keep_roi`.
    fill : float
        Value of pixels outside the image (only with ``oversize="pad"``).

    Returns
    -------
    ndarray
        The square crop: a view of `image` unless it had to be padded.
    SquareCrop
        The box (for the geometry: ``Geometry.crop(box[:2])``) and the ROI cut.

    Raises
    ------
    SpecError
        On a bad `side`, `oversize` or box.
    InputError
        If a mask does not share the image's grid or is empty.
    """
    check_array(image)
    box = None if roi is None else as_bbox(roi, image.shape)
    crop = square_box_keep_roi(image.shape, box, side=side, oversize=oversize)
    return take_box(image, crop.box, fill=fill), crop


def margin_px_from_mm(
    margin_mm: float | tuple[float, float], spacing_mm: tuple[float, ...]
) -> tuple[int, int]:
    """Return the whole pixels (rounded up) that cover `margin_mm` along rows and columns."""
    my, mx = (margin_mm, margin_mm) if isinstance(margin_mm, (int, float)) else margin_mm
    check_positive(my, name="margin_mm", allow_zero=True)
    check_positive(mx, name="margin_mm", allow_zero=True)
    if len(spacing_mm) < 2:
        raise SpecError(f"spacing_mm needs (row, col) spacing, got {spacing_mm!r}")
    sy = check_positive(float(spacing_mm[0]), name="spacing_mm[0]")
    sx = check_positive(float(spacing_mm[1]), name="spacing_mm[1]")
    # The small tolerance keeps 2.0 mm at 0.1 mm/px at 20 px despite float rounding.
    return math.ceil(my / sy - 1e-9), math.ceil(mx / sx - 1e-9)


def crop_to_bbox(
    image: np.ndarray,
    /,
    bbox: BBox | np.ndarray,
    *,
    margin_px: int | tuple[int, int] = 0,
    margin_mm: float | tuple[float, float] | None = None,
    spacing_mm: tuple[float, ...] | None = None,
) -> tuple[np.ndarray, BBox]:
    """Crop the inclusive box `bbox` grown by a margin, clipped to the image.

    Parameters
    ----------
    image : ndarray
        ``(rows, cols)`` or ``(rows, cols, channels)``.
    bbox : BBox or ndarray
        An inclusive box, or a mask on the image's grid (boxed with all its components).
    margin_px : int or (int, int)
        Margin in pixels (rows, cols).
    margin_mm : float or (float, float), optional
        Margin in millimetres instead, turned into whole pixels (rounded up) with `spacing_mm`.
    spacing_mm : tuple of float, optional
        Row and column spacing; required with `margin_mm`.

    Returns
    -------
    ndarray
        The crop, a view of `image`.
    BBox
        The inclusive box cut, in input indices.

    Raises
    ------
    SpecError
        If both margins are given, `margin_mm` comes without `spacing_mm`, or a value is negative.
    """
    check_array(image)
    if margin_mm is not None:
        if margin_px != 0:
            raise SpecError("give margin_px or margin_mm, not both")
        if spacing_mm is None:
            raise SpecError("margin_mm needs spacing_mm (row, col) to convert to pixels")
        margin_px = margin_px_from_mm(margin_mm, spacing_mm)
    box = expand_bbox(as_bbox(bbox, image.shape, name="bbox"), margin_px, shape=image.shape)
    return take_box(image, box), box


def crop_to_foreground(
    image: np.ndarray,
    /,
    *,
    mask: np.ndarray | None = None,
    threshold: float | None = None,
    margin_px: int | tuple[int, ...] = 0,
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Crop the box of the foreground (breast, body) plus a margin, in 2D or 3D.

    Parameters
    ----------
    image : ndarray
        ``(rows, cols)`` or ``(slices, rows, cols)`` grey values, higher brighter; or with a
        trailing channel axis when `mask` is given.
    mask : ndarray, optional
        The foreground, on the image's spatial grid. By default what lies above `threshold`,
        largest connected component: :func:`radprep.clean.foreground_mask` for an image
        (8-connected, holes filled), :func:`radprep.spatial.volume.body_mask_3d` for a volume
        (face-connected; ``-500`` HU suits CT).
    threshold : float, optional
        In the image's values; None: Otsu's threshold.
    margin_px : int or tuple of int
        Margin in pixels, one for every axis or one per axis, clipped to the image.

    Returns
    -------
    ndarray
        The crop, a view of `image`.
    tuple of int
        The inclusive box cut, first corner then last: ``(y0, x0, y1, x1)`` or
        ``(z0, y0, x0, z1, y1, x1)``.

    Raises
    ------
    InputError
        If the foreground is empty, or `mask` is not on the image's grid.
    SpecError
        If a margin is negative or its count does not match the axes.
    """
    check_array(image, ndim=(2, 3, 4))
    fg = _foreground(image, threshold) if mask is None else _given_mask(mask, image.shape)
    box = foreground_box(fg, margin_px)
    n = fg.ndim
    return image[tuple(slice(box[k], box[n + k] + 1) for k in range(n))], box


def _foreground(image: np.ndarray, threshold: float | None) -> np.ndarray:
    """The default foreground: above `threshold` (Otsu's when None), largest component."""
    check_array(image, ndim=(2, 3))
    if image.ndim == 2:
        fg = foreground_mask(image, threshold=threshold)
    else:
        fg = body_mask_3d(image, threshold=threshold)
    if not fg.any():
        level = "(Otsu)" if threshold is None else threshold
        raise InputError(
            f"nothing above the foreground threshold {level} in the image of shape "
            f"{image.shape}; lower the threshold, or use threshold=None (Otsu)"
        )
    return fg


def _given_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A given foreground as booleans, checked to lie on the image's spatial grid."""
    fg = np.asarray(mask) != 0
    if fg.ndim not in (2, 3) or fg.shape != shape[: fg.ndim]:
        raise InputError(
            f"mask has shape {fg.shape} but the image is {shape}; masks must share the image's grid"
        )
    return fg


def foreground_box(mask: np.ndarray, /, margin_px: int | tuple[int, ...] = 0) -> tuple[int, ...]:
    """Return the inclusive box of a 2D or 3D mask's nonzero pixels plus a margin, clipped.

    Raises
    ------
    InputError
        If the mask is empty.
    SpecError
        If a margin is negative or its count does not match the axes.
    """
    n = mask.ndim
    margins = (margin_px,) * n if isinstance(margin_px, (int, np.integer)) else tuple(margin_px)
    if len(margins) != n:
        raise SpecError(f"margin_px needs one value or {n}, got {margin_px!r}")
    for m in margins:
        check_positive(m, name="margin_px", allow_zero=True)
    lo, hi = [], []
    for axis in range(n):
        idx = np.flatnonzero(mask.any(axis=tuple(a for a in range(n) if a != axis)))
        if idx.size == 0:
            raise InputError(f"mask of shape {mask.shape} is empty: no foreground pixel to box")
        lo.append(max(0, int(idx[0]) - int(margins[axis])))
        hi.append(min(mask.shape[axis] - 1, int(idx[-1]) + int(margins[axis])))
    return (*lo, *hi)
