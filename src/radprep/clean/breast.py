"""The breast mask of a mammogram: the whole breast out to the skin line, and nothing else.

Otsu's threshold splits a mammogram's dense tissue from its fatty tissue, not the breast from the
air: the fatty periphery out to the skin line lies far below it. Here the threshold sits just
above the air, and what is brighter than air but is not breast is taken out by its shape:

1. Work on a grid of at most :data:`WORK_PX` pixels a side (an integer box reduction; an image
   read at 1/8 scale is used as it is), smoothed by a 5x5 median (film grain, noise, dust).
2. The air level is the 2nd percentile, the tissue level the median above Otsu's threshold.
3. Bands along the borders (scanner strips, saturated residue, the graded edge of the film) run
   along a whole edge: their profile across the edge is a low percentile of each line parallel
   to it, and it falls to the air within :data:`BAND_MAX` of the image. That profile is
   subtracted. A chest wall covering the whole edge stays bright deeper and is left alone.
4. Pixels above ``air + fraction * (tissue - air)``, opened to break the thin bridges to labels
   and markers: the largest component is the breast's core.
5. The skin line fades into the air: the core is followed out, within the opening's reach, down
   to a tenth of that level (the nipple, the fatty periphery), and holes are filled.

The mask is brought back to the image's grid by linear interpolation (a smooth skin line).
:func:`pectoral_mask` finds the pectoral muscle of an MLO view inside it.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from radprep._validate import check_array, check_positive
from radprep.clean.foreground import fill_holes
from radprep.errors import SpecError

__all__ = [
    "BAND_MAX",
    "WORK_PX",
    "breast_mask",
    "chest_wall_side",
    "keep_breast",
]

WORK_PX = 640
"""Largest side of the working grid (a 4600-row mammogram is reduced 8 times)."""
BAND_MAX = 0.2
"""Border bands thinner than this fraction of the image (across the edge) are removed."""
_BAND_QUANTILE = 0.1  # a band covers more than this fraction of its edge
MEMO_MAX_BYTES = 8 * 2**20
"""Images of up to this many bytes are kept with their breast mask, for the next call on the
same pixels (a mammogram read at 1/8 is 0.4 MB; a full-size one, 25 MB, is not kept)."""


class _Memo(threading.local):
    """The last image :func:`breast_mask` saw (a copy), its fraction and its mask, per thread.

    The cleaning steps of a recipe (``remove_border_residue`` and ``remove_labels`` with
    ``breast``, ``remove_pectoral``) each ask for the breast of the image they get; when a step
    changed no pixel, the next one gets the same mask without computing it again. The key is
    the pixels themselves (compared in full), so any change of a pixel, in place or in a new
    array, computes it anew, unless the step that made it kept the breast
    (:func:`keep_breast`): then the image as read and the cleaned one share one breast.
    """

    image: np.ndarray | None = None
    fraction: float = 0.0
    mask: np.ndarray | None = None


_MEMO = _Memo()


def _work_grid(image: np.ndarray) -> tuple[np.ndarray, int]:
    """Return the image box-reduced to at most WORK_PX a side as uint16, and the factor.

    uint16 keeps the median filter and the histograms fast; other types are mapped onto it
    over their min..max (only the order of values matters from here on).
    """
    factor = max(1, -(-max(image.shape) // WORK_PX))
    small = image
    if factor > 1:
        rows, cols = image.shape[0] // factor, image.shape[1] // factor
        cut = image[: rows * factor, : cols * factor]  # a view: OpenCV takes row strides
        if cut.dtype not in (np.uint8, np.uint16, np.float32):
            cut = cut.astype(np.float32)
        small = cv2.resize(cut, (cols, rows), interpolation=cv2.INTER_AREA)
    if small.dtype == np.uint16:
        return np.ascontiguousarray(small), factor
    if small.dtype == np.uint8:
        return small.astype(np.uint16) << 8, factor
    lo, hi = float(np.min(small)), float(np.max(small))
    scale = 65535.0 / (hi - lo) if hi > lo else 0.0
    as16 = np.rint((small.astype(np.float32) - lo) * scale).astype(np.uint16)
    return as16, factor


def _air_and_tissue(smooth: np.ndarray) -> tuple[float, float]:
    """Return the air level (2nd percentile) and the tissue level (median above Otsu's
    threshold), from a 4096-bin histogram of the uint16 working image."""
    counts = np.bincount((smooth >> 4).ravel(), minlength=4096).astype(np.float64)
    cum = np.cumsum(counts)
    total = cum[-1]
    air = float(np.searchsorted(cum, 0.02 * total)) * 16
    # Otsu's threshold: the split that maximises the between-class variance.
    bins = np.arange(4096, dtype=np.float64)
    w0 = cum / total
    mu = np.cumsum(counts * bins) / total
    between = (mu[-1] * w0 - mu) ** 2 / np.maximum(w0 * (1.0 - w0), 1e-12)
    split = int(np.argmax(between[:-1]))
    above = total - cum[split]
    if above <= 0:
        return air, float(smooth.max())
    tissue = float(np.searchsorted(cum, cum[split] + 0.5 * above)) * 16
    return air, tissue


def _remove_bands(smooth: np.ndarray, floor: float) -> dict[str, int]:
    """Subtract, in place, the bands that run along an edge from each edge's first lines, and
    return their depths by edge (``top``, ``bottom``, ``left``, ``right``).

    A band runs along the whole edge, so its profile across the edge is a low percentile of
    each line parallel to it (the breast, covering part of the edge, is above it). It is a band
    only when that profile falls to `floor` (the air) within :data:`BAND_MAX` of the image: a
    chest wall covering the whole edge stays bright much deeper and is left alone.
    """
    rows, cols = smooth.shape
    depths = {}
    for edge, lines, limit in (
        ("top", smooth, rows),  # the top edge: its lines are the rows from the top
        ("bottom", smooth[::-1], rows),
        ("left", smooth.T, cols),
        ("right", smooth[:, ::-1].T, cols),
    ):
        depth = max(1, int(BAND_MAX * limit))
        head = lines[:depth]
        sample = np.array(head[:, ::4])  # every 4th pixel along the edge is plenty
        q = max(0, int(_BAND_QUANTILE * (sample.shape[1] - 1)))
        profile = np.partition(sample, q, axis=1)[:, q]
        if profile[0] <= floor:
            continue
        below = np.flatnonzero(profile <= floor)
        if below.size == 0:
            continue  # bright all the way in: tissue, not a band
        n = int(below[0])
        # Only where the air follows the band: where the breast lies over it and goes on
        # beyond, the band cannot be told from the breast and is left in.
        beyond = lines[min(n + 2, lines.shape[0] - 1)] <= floor
        part = head[:n, beyond]
        part -= np.minimum(part, profile[:n, None])
        head[:n, beyond] = part
        depths[edge] = n
    return depths


def _largest(mask: np.ndarray) -> np.ndarray | None:
    """Return the largest 8-connected component of a 0/1 uint8 mask (uint8), None if empty."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=cv2.CV_16U)
    if n <= 1:
        return None
    areas = stats[:, cv2.CC_STAT_AREA].copy()  # the areas as counted: no pass over the labels
    areas[0] = 0
    return (labels == int(np.argmax(areas))).view(np.uint8)


def _breast_small(small: np.ndarray, fraction: float) -> np.ndarray:
    """Return the breast mask (uint8 0/1) on the working grid (uint16)."""
    smooth = cv2.medianBlur(small, 5) if min(small.shape) >= 5 else small.copy()
    air, tissue = _air_and_tissue(smooth)
    empty = np.zeros(small.shape, np.uint8)
    if tissue <= air:
        return empty
    rows, cols = small.shape
    # Two levels: the breast is found above `fraction` of the way from air to tissue, and then
    # followed out to the skin line, where it fades into the air, down to a tenth of that.
    low_level = air + 0.1 * fraction * (tissue - air)
    depths = _remove_bands(smooth, low_level)
    high = (smooth > air + fraction * (tissue - air)).view(np.uint8)
    low = (smooth > low_level).view(np.uint8)
    # Along a band the breast is not followed below the high level (the band's graded edge is
    # no skin line), nor beyond the core (a band's remains are thinner than the opening)
    # except along the chest wall, where the breast covers the band.
    bands = np.zeros((rows, cols), np.uint8)
    for edge, n in depths.items():
        {"top": bands, "bottom": bands[::-1], "left": bands.T, "right": bands[:, ::-1].T}[edge][
            :n
        ] = 1
    np.copyto(low, high, where=bands.view(bool))
    chest = chest_wall_side(high)
    if chest in depths:
        n = depths[chest]
        (bands[:, :n] if chest == "left" else bands[:, cols - n :])[...] = 0
    candidates = high
    k = max(3, (round(0.015 * max(rows, cols)) // 2) * 2 + 1)
    square = np.ones((k, k), np.uint8)
    core = _largest(cv2.morphologyEx(candidates, cv2.MORPH_OPEN, square))
    if core is None:
        return empty
    # Give back what the opening took at the skin line: candidates within its reach that join
    # the breast (labels and bands further away stay out).
    reach = np.asarray(cv2.dilate(core, np.ones((4 * k + 1, 4 * k + 1), np.uint8)), np.uint8) & low
    # 1 px spurs go; along a band only the core counts (a band's remains are thinner than the
    # opening).
    reach = np.asarray(cv2.morphologyEx(reach, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)))
    reach &= core | (1 - bands)
    # The part of it joined to the core: a flood from a core pixel (the core is one component).
    grown = reach | core
    seed = int(np.argmax(core))
    flood = np.zeros((rows + 2, cols + 2), np.uint8)
    cv2.floodFill(grown, flood, (seed % cols, seed // cols), 2, flags=8)
    return fill_holes(grown == 2).view(np.uint8)


def breast_mask(
    image: np.ndarray,
    /,
    *,
    fraction: float = 0.03,
) -> np.ndarray:
    """Return the breast of a mammogram, out to the skin line, as a bool mask.

    Parameters
    ----------
    image : ndarray
        A 2D mammogram in display orientation (tissue brighter than air: MONOCHROME1 inverted,
        as :func:`radprep.read_dicom` returns it), 8- or 16-bit or float, either laterality,
        CC or MLO, full size or read at reduced resolution.
    fraction : float
        Where the threshold sits between the air level and the tissue level; the skin line
        falls from tissue to air over a few pixels, so the mask hardly depends on it between
        0.02 and 0.1.

    Returns
    -------
    ndarray of bool
        Same rows and columns as `image`; True inside the breast (the pectoral muscle of an MLO
        view included: see :func:`pectoral_mask`).

    Raises
    ------
    SpecError
        If the image is not 2D or `fraction` is not in (0, 1).

    Notes
    -----
    A second call on the same pixels (compared in full) and fraction returns the mask of the
    first without computing it again (the last image of up to :data:`MEMO_MAX_BYTES` is kept,
    per thread): a recipe's cleaning steps share one mask while no pixel changes.
    """
    check_array(image, ndim=(2,))
    check_positive(fraction, name="fraction")
    if fraction >= 1:
        raise SpecError(f"fraction must be < 1, got {fraction!r}")
    memo = _MEMO
    seen = memo.image
    if (
        seen is not None
        and memo.mask is not None
        and memo.fraction == fraction
        and seen.shape == image.shape
        and seen.dtype == image.dtype
        and np.array_equal(seen, image)
    ):
        return memo.mask.copy()
    small, factor = _work_grid(image)
    mask = _to_image_grid(_breast_small(small, fraction), factor, image.shape)
    if image.nbytes <= MEMO_MAX_BYTES:
        memo.image, memo.fraction, memo.mask = image.copy(), fraction, mask.copy()
    else:  # a full-size image is not kept: forget the last one instead
        memo.image = memo.mask = None
    return mask


def keep_breast(image: np.ndarray, mask: np.ndarray, /, *, fraction: float = 0.03) -> None:
    """Record `mask` as the breast of `image`, for the next :func:`breast_mask` call on it.

    For a cleaning step that changed pixels outside the breast only (border residue, labels):
    the breast is the one it kept, so the sample's breast is computed once, on the image as
    read, and every later step keeps the same one. Computed again on the cleaned image it would
    move by a few pixels at the skin line (the cleared residue changes the air level and the
    bands), and a step would clear pixels the previous one kept. Not kept for images over
    :data:`MEMO_MAX_BYTES`.
    """
    if image.nbytes <= MEMO_MAX_BYTES and mask.shape == image.shape[:2]:
        memo = _MEMO
        memo.image, memo.fraction, memo.mask = image.copy(), fraction, mask.astype(bool)


def _to_image_grid(mask: np.ndarray, factor: int, shape: tuple[int, ...]) -> np.ndarray:
    """Return a working-grid mask (uint8 0/1) on the image's grid as bool.

    One linear resize onto the image's size (the few rows and columns the box reduction left
    out stretch the grid by under 1/500) and one threshold in place: a smooth skin line.
    """
    if factor == 1:
        return mask.view(bool)
    up = cv2.resize(mask * np.uint8(255), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    cv2.threshold(up, 127, 1, cv2.THRESH_BINARY, dst=up)
    return up.view(bool)


def chest_wall_side(mask: np.ndarray, /) -> str:
    """Return ``"left"`` or ``"right"``: the image edge a breast mask rests against.

    The side whose edge column the breast covers more; on a tie, the side holding more of it.
    """
    check_array(mask, name="mask", ndim=(2,))
    left, right = int(np.count_nonzero(mask[:, 0])), int(np.count_nonzero(mask[:, -1]))
    if left == right:
        half = mask.shape[1] // 2
        left, right = int(np.count_nonzero(mask[:, :half])), int(np.count_nonzero(mask[:, half:]))
    return "left" if left >= right else "right"
