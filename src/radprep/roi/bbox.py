"""Inclusive bounding boxes ``(y0, x0, y1, x1)``: from masks, grown, clipped, joined."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from radprep._validate import check_array, check_bbox, check_choice, check_positive
from radprep.errors import InputError, SpecError
from radprep.types import BBox

__all__ = [
    "as_bbox",
    "bbox_from_mask",
    "bbox_shape",
    "bbox_slices",
    "bboxes_from_mask",
    "clip_bbox",
    "expand_bbox",
    "union_bbox",
]


def bbox_from_mask(mask: np.ndarray, /) -> BBox:
    """Return the inclusive box around every nonzero pixel of `mask`.

    Parameters
    ----------
    mask : ndarray
        A 2D mask; any nonzero value counts as inside.

    Returns
    -------
    BBox
        ``(y0, x0, y1, x1)`` with rows y0..y1 and columns x0..x1 included: the union of the boxes
        of all components.

    Raises
    ------
    InputError
        If the mask has no nonzero pixel.
    """
    check_array(mask, name="mask", ndim=(2,))
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        raise InputError(f"mask of shape {mask.shape} is empty: no ROI pixel to box")
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]), int(cols[-1])


def bboxes_from_mask(mask: np.ndarray, /, *, connectivity: int = 8) -> list[BBox]:
    """Return one inclusive box per connected component of `mask`, largest area first.

    Parameters
    ----------
    mask : ndarray
        A 2D mask; any nonzero value counts as inside.
    connectivity : {4, 8}
        Pixel neighbourhood that joins pixels into one component.

    Returns
    -------
    list of BBox
        Empty when the mask is empty. :func:`union_bbox` joins them into one.
    """
    check_array(mask, name="mask", ndim=(2,))
    check_choice(connectivity, (4, 8), name="connectivity")
    binary = (mask != 0).view(np.uint8)
    rows = np.flatnonzero(binary.any(axis=1))
    if rows.size == 0:
        return []
    cols = np.flatnonzero(binary[rows[0] : rows[-1] + 1].any(axis=0))
    # Only the window holding the pixels is labelled (an ROI is a small part of its image).
    # From even offsets: OpenCV labels 2x2 blocks from (0, 0), so the window's pixels are met
    # in the same order as in the whole mask and equal areas keep their order.
    r0, c0 = int(rows[0]) & ~1, int(cols[0]) & ~1
    window = binary[r0 : rows[-1] + 1, c0 : cols[-1] + 1]
    try:  # 16-bit labels: the same components and stats, about 3x faster
        _, _, stats, _ = cv2.connectedComponentsWithStats(
            window, connectivity=connectivity, ltype=cv2.CV_16U
        )
    except cv2.error:  # more components than 16 bits count (a noise-like mask)
        _, _, stats, _ = cv2.connectedComponentsWithStats(window, connectivity=connectivity)
    order = np.argsort(-stats[1:, cv2.CC_STAT_AREA], kind="stable") + 1
    boxes = []
    for i in order:
        x, y, w, h = (int(v) for v in stats[i, :4])
        boxes.append((r0 + y, c0 + x, r0 + y + h - 1, c0 + x + w - 1))
    return boxes


def union_bbox(boxes: Sequence[BBox], /) -> BBox:
    """Return the smallest inclusive box that holds every box of `boxes`.

    Raises
    ------
    SpecError
        If `boxes` is empty.
    """
    if len(boxes) == 0:
        raise SpecError("union_bbox needs at least one box, got none")
    arr = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    return (
        int(arr[:, 0].min()),
        int(arr[:, 1].min()),
        int(arr[:, 2].max()),
        int(arr[:, 3].max()),
    )


def clip_bbox(bbox: BBox, /, shape: tuple[int, ...]) -> BBox:
    """Return `bbox` clipped to an image of ``(rows, cols, ...)`` `shape`."""
    y0, x0, y1, x1 = check_bbox(bbox, shape)
    rows, cols = shape[0], shape[1]
    return max(y0, 0), max(x0, 0), min(y1, rows - 1), min(x1, cols - 1)


def expand_bbox(
    bbox: BBox, /, margin: int | tuple[int, int], *, shape: tuple[int, ...] | None = None
) -> BBox:
    """Return `bbox` grown by `margin` pixels on every side, clipped to `shape` when given.

    Parameters
    ----------
    bbox : BBox
        Inclusive ``(y0, x0, y1, x1)``.
    margin : int or (int, int)
        Pixels added above and below (first) and left and right (second); one int for both.
    shape : tuple of int, optional
        ``(rows, cols, ...)`` of the image to clip to.
    """
    my, mx = (margin, margin) if isinstance(margin, (int, np.integer)) else margin
    check_positive(my, name="margin", allow_zero=True)
    check_positive(mx, name="margin", allow_zero=True)
    y0, x0, y1, x1 = (int(v) for v in bbox)
    grown = (y0 - int(my), x0 - int(mx), y1 + int(my), x1 + int(mx))
    return grown if shape is None else clip_bbox(grown, shape)


def bbox_shape(bbox: BBox, /) -> tuple[int, int]:
    """Return the ``(rows, cols)`` an inclusive box covers."""
    y0, x0, y1, x1 = bbox
    return y1 - y0 + 1, x1 - x0 + 1


def bbox_slices(bbox: BBox, /) -> tuple[slice, slice]:
    """Return the slices that select an inclusive box inside the image (no clipping)."""
    y0, x0, y1, x1 = bbox
    return slice(y0, y1 + 1), slice(x0, x1 + 1)


def as_bbox(roi: BBox | np.ndarray, /, shape: tuple[int, ...], *, name: str = "roi") -> BBox:
    """Return the inclusive box of `roi`, given as a box or as a mask of the image's grid.

    Raises
    ------
    InputError
        If a mask does not have the image's ``(rows, cols)`` or is empty.
    SpecError
        If a box is malformed or lies outside the image.
    """
    if isinstance(roi, np.ndarray) and roi.ndim == 2:
        if roi.shape != tuple(shape[:2]):
            raise InputError(
                f"{name} mask has shape {roi.shape} but the image is {tuple(shape[:2])}; "
                "masks must share the image's grid"
            )
        return bbox_from_mask(roi)
    return clip_bbox(check_bbox(roi, shape, name=name), shape)
