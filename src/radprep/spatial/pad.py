"""Padding: to a square, or to any larger shape, with the image placed at a chosen side."""

from __future__ import annotations

from typing import Literal

import numpy as np

from radprep._validate import check_array, check_choice
from radprep.errors import SpecError
from radprep.spatial._box import take_box
from radprep.types import BBox

__all__ = ["ALIGNS", "Align", "pad_to_shape", "pad_to_square"]

Align = Literal["centre", "start", "end"]
ALIGNS: tuple[Align, ...] = ("centre", "start", "end")


def _before(extra: int, align: Align) -> int:
    if align == "start":
        return 0
    if align == "end":
        return extra
    return extra // 2


def pad_to_shape(
    image: np.ndarray,
    /,
    shape: tuple[int, int],
    *,
    fill: float = 0,
    align: Align | tuple[Align, Align] = "centre",
) -> tuple[np.ndarray, BBox]:
    """Pad `image` with `fill` to ``(rows, cols)`` `shape`.

    Parameters
    ----------
    image : ndarray
        ``(rows, cols)`` or ``(rows, cols, channels)``.
    shape : (int, int)
        The output rows and columns, each at least the input's.
    fill : float
        Value of the added pixels.
    align : {"centre", "start", "end"} or a pair of them
        Where the image sits along rows and columns: ``"start"`` keeps it at the top or left
        (padding after it), ``"end"`` at the bottom or right, ``"centre"`` in the middle
        (an odd extra pixel goes after).

    Returns
    -------
    ndarray
        The padded image (the input itself when nothing is added).
    BBox
        The output's extent in input indices, ``(-top, -left, rows - 1 + bottom, ...)``; the
        geometry follows with ``Geometry.crop(box[:2])``.

    Raises
    ------
    SpecError
        If `shape` is smaller than the image or `align` is unknown.
    """
    check_array(image)
    ay, ax = (align, align) if isinstance(align, str) else align
    check_choice(ay, ALIGNS, name="align")
    check_choice(ax, ALIGNS, name="align")
    rows, cols = image.shape[:2]
    out_rows, out_cols = int(shape[0]), int(shape[1])
    if out_rows < rows or out_cols < cols:
        raise SpecError(
            f"cannot pad a {rows}x{cols} image to {out_rows}x{out_cols}; "
            "the target must be at least as large (crop or resize first)"
        )
    top = _before(out_rows - rows, ay)
    left = _before(out_cols - cols, ax)
    box = (-top, -left, out_rows - top - 1, out_cols - left - 1)
    return take_box(image, box, fill=fill), box


def pad_to_square(
    image: np.ndarray,
    /,
    *,
    fill: float = 0,
    align: Align = "centre",
) -> tuple[np.ndarray, BBox]:
    """Pad the short side of `image` with `fill` so that it becomes square.

    Parameters
    ----------
    image : ndarray
        ``(rows, cols)`` or ``(rows, cols, channels)``.
    fill : float
        Value of the added pixels.
    align : {"centre", "start", "end"}
        Where the image sits along the padded axis; ``"start"`` keeps a mammogram's chest wall
        at the left or top when it is there.

    Returns
    -------
    ndarray
        The square image.
    BBox
        The output's extent in input indices (see :func:`pad_to_shape`).
    """
    check_array(image)
    side = max(image.shape[:2])
    return pad_to_shape(image, (side, side), fill=fill, align=align)
