"""The pectoral muscle of an MLO mammogram: the wedge at the chest-wall edge, found on the
breast mask's working grid (:mod:`radprep.clean.breast`)."""

from __future__ import annotations

import cv2
import numpy as np

from radprep._validate import check_array
from radprep.clean.breast import _to_image_grid, _work_grid, breast_mask, chest_wall_side
from radprep.errors import SpecError

__all__ = ["pectoral_mask"]


def _pectoral_small(small: np.ndarray, breast: np.ndarray) -> np.ndarray:
    """Return the pectoral muscle (uint8 0/1) of a chest-wall-left working grid."""
    rows, cols = small.shape
    empty = np.zeros((rows, cols), np.uint8)
    k = max(3, (round(0.02 * max(rows, cols)) // 2) * 2 + 1)
    smooth = cv2.GaussianBlur(small, (k, k), 0)
    # The muscle lies in the upper part of the chest wall side: Otsu's threshold of the breast
    # there splits it from the fatty tissue in front of it.
    region = np.zeros((rows, cols), bool)
    region[: int(0.6 * rows), : int(0.6 * cols)] = True
    inside = breast.view(bool) & region
    values = smooth[inside]
    if values.size < 100:
        return empty
    level, _ = cv2.threshold(values.reshape(1, -1), 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    bright = np.asarray(
        cv2.morphologyEx(
            ((smooth > level) & inside).view(np.uint8), cv2.MORPH_OPEN, np.ones((k, k), np.uint8)
        )
    )
    # The muscle is the bright run from the chest wall edge in the top rows; where it ends at
    # the edge, the muscle ends.
    runs = np.where(bright.all(axis=1), cols, np.argmin(bright, axis=1))
    starts = np.flatnonzero(runs[: max(1, rows // 10)] > 0)  # below a band cut from the top
    if starts.size == 0:
        return empty
    first = int(starts[0])
    # The wedge narrows downwards: it ends where the run reaches 0, or where it widens again
    # (glandular tissue in front of the muscle, as bright, joins it there).
    tail = runs[first:]
    ends = np.flatnonzero((tail == 0) | (tail > np.minimum.accumulate(tail) + 0.05 * cols))
    length = int(ends[0]) if ends.size else rows - first
    if length < 5:
        return empty
    # Its front edge is close to a straight line: a Theil-Sen fit of x = a + b * y on the runs
    # (glandular tissue touching the muscle lengthens a few runs, not the median slope).
    ys = np.linspace(first, first + length - 1, min(length, 40)).astype(np.intp)
    xs = runs[ys].astype(np.float64)
    i, j = np.triu_indices(ys.size, 1)
    b = float(np.median((xs[j] - xs[i]) / (ys[j] - ys[i])))
    a = float(np.median(xs - b * ys))
    if b >= 0 or a <= 0:  # not a wedge narrowing downwards: not a pectoral muscle
        return empty
    yy, xx = np.mgrid[0:rows, 0:cols]
    wedge = (xx <= a + b * yy).astype(np.uint8)
    return wedge & breast


def pectoral_mask(image: np.ndarray, /, *, breast: np.ndarray | None = None) -> np.ndarray:
    """Return the pectoral muscle of an MLO view as a bool mask (empty when none is found).

    The muscle is the bright wedge at the top of the chest wall side: Otsu's threshold of the
    breast's upper chest-wall part, the component at the top of the chest wall edge, and a
    straight front edge fitted to it (the wedge left of the line, inside the breast).

    Parameters
    ----------
    image : ndarray
        A 2D MLO mammogram in display orientation, either laterality.
    breast : ndarray, optional
        Its breast mask; by default :func:`breast_mask` of `image`.

    Returns
    -------
    ndarray of bool
        Same rows and columns as `image`.
    """
    check_array(image, ndim=(2,))
    whole = breast_mask(image) if breast is None else breast.astype(bool, copy=False)
    if whole.shape != image.shape:
        raise SpecError(
            f"breast mask has shape {whole.shape} but the image is {image.shape}; "
            "masks must share the image's grid"
        )
    small, factor = _work_grid(image)
    grid = small.shape
    mask_small = (
        whole[: grid[0] * factor : factor, : grid[1] * factor : factor].view(np.uint8)
        if factor > 1
        else whole.view(np.uint8)
    )
    mask_small = np.ascontiguousarray(mask_small[: grid[0], : grid[1]])
    flip = chest_wall_side(mask_small) == "right"
    if flip:
        small, mask_small = small[:, ::-1].copy(), mask_small[:, ::-1].copy()
    muscle = _pectoral_small(small, mask_small)
    if flip:
        muscle = np.ascontiguousarray(muscle[:, ::-1])
    return _to_image_grid(muscle, factor, image.shape) & whole
