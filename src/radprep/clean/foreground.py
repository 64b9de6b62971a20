"""Foreground (breast or body) masks: Otsu's threshold, the largest component, holes filled."""

from __future__ import annotations

import cv2
import numpy as np

from radprep._validate import check_array, check_choice

__all__ = ["fill_holes", "foreground_mask", "largest_component", "otsu_threshold"]


def otsu_threshold(image: np.ndarray, /) -> float:
    """Return Otsu's threshold of a grey image; pixels above it are foreground.

    uint8 and uint16 go to OpenCV directly (``THRESH_OTSU`` on the full histogram); other types
    are mapped onto uint16 over their min..max first and the threshold mapped back.
    """
    check_array(image, ndim=(2,))
    if image.dtype in (np.uint8, np.uint16):
        level, _ = cv2.threshold(image, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        return float(level)
    lo, hi = float(np.min(image)), float(np.max(image))
    if hi <= lo:
        return lo
    scaled = np.rint((image.astype(np.float64) - lo) * (65535.0 / (hi - lo))).astype(np.uint16)
    level, _ = cv2.threshold(scaled, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return lo + float(level) * (hi - lo) / 65535.0


def largest_component(mask: np.ndarray, /, *, connectivity: int = 8) -> np.ndarray:
    """Return the largest connected component of `mask` as a bool array (all False if empty)."""
    check_array(mask, name="mask", ndim=(2,))
    check_choice(connectivity, (4, 8), name="connectivity")
    binary = (mask != 0).view(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=connectivity)
    if n <= 1:
        return np.zeros(mask.shape, dtype=bool)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest


def fill_holes(mask: np.ndarray, /) -> np.ndarray:
    """Return `mask` (bool) with every background region not connected to the border filled."""
    check_array(mask, name="mask", ndim=(2,))
    rows, cols = mask.shape
    background = np.ones((rows + 2, cols + 2), dtype=np.uint8)
    np.equal(mask, 0, out=background[1:-1, 1:-1].view(bool))
    # Background joins through 4-neighbours, the dual of 8-connected foreground. The flood
    # marks, in its own mask, the background reached from outside: everything else is kept.
    reached = np.zeros((rows + 4, cols + 4), dtype=np.uint8)
    cv2.floodFill(background, reached, (0, 0), 0, flags=4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
    return reached[2:-2, 2:-2] == 0


def foreground_mask(
    image: np.ndarray,
    /,
    *,
    threshold: float | None = None,
    largest_only: bool = True,
    holes: bool = True,
    connectivity: int = 8,
) -> np.ndarray:
    """Return the foreground (breast or body) of a grey image as a bool mask.

    Parameters
    ----------
    image : ndarray
        A 2D grey image in display orientation (tissue brighter than air), 8- or 16-bit or float.
    threshold : float, optional
        Pixels above it are foreground; by default Otsu's threshold (:func:`otsu_threshold`).
    largest_only : bool
        Keep only the largest connected component (drops labels, markers, noise).
    holes : bool
        Fill holes inside the foreground.
    connectivity : {4, 8}
        Neighbourhood for the components.

    Returns
    -------
    ndarray of bool
        Same rows and columns as `image`.
    """
    check_array(image, ndim=(2,))
    level = otsu_threshold(image) if threshold is None else float(threshold)
    mask = image > level
    if largest_only:
        mask = largest_component(mask, connectivity=connectivity)
    if holes:
        mask = fill_holes(mask)
    return mask
