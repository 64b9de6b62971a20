"""The pure parts of the occlusion experiment: the sliding occluder's positions and sensitivity
map (Zeiler & Fergus 2013), the ROI's share of it, the occluded and control boxes, the overlay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from radprep.clean.breast import breast_mask
from radprep.errors import SpecError
from radprep.roi.bbox import bbox_from_mask
from radprep.types import BBox

__all__ = [
    "control_box",
    "draw_overlay",
    "occluded_box",
    "occlusion_positions",
    "roi_share",
    "sensitivity_map",
]


def occlusion_positions(n: int, patch_px: int, stride_px: int) -> list[int]:
    """Return the patch starts along an axis of `n` pixels: every `stride_px`, and the last
    start flush with the far edge, so every pixel is covered."""
    if patch_px > n:
        raise SpecError(f"patch_px {patch_px} is larger than the image side {n}")
    starts = list(range(0, n - patch_px + 1, stride_px))
    if starts[-1] != n - patch_px:
        starts.append(n - patch_px)
    return starts


def sensitivity_map(
    score: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    /,
    *,
    patch_px: int = 32,
    stride_px: int = 16,
    fill: float = 0.0,
    batch_size: int = 64,
    base_score: float | None = None,
) -> np.ndarray:
    """Return the sliding-occluder sensitivity map of one image.

    Parameters
    ----------
    score : callable
        Maps a float32 ``(N, C, H, W)`` batch to ``(N,)`` scores.
    image : ndarray
        ``(C, H, W)`` float32, the model's input before normalisation.
    patch_px, stride_px : int
        The occluder's side and step.
    fill : float
        The occluder's value.
    batch_size : int
        Occluded copies per call of `score`.
    base_score : float, optional
        The score of the unoccluded image (computed when not given).

    Returns
    -------
    ndarray of float32, ``(H, W)``
        Per pixel, the mean of ``base_score - score(occluded)`` over the patches covering it.
    """
    if image.ndim != 3:
        raise SpecError(f"image must be (C, H, W), got shape {image.shape}")
    _, h, w = image.shape
    ys = occlusion_positions(h, patch_px, stride_px)
    xs = occlusion_positions(w, patch_px, stride_px)
    if base_score is None:
        base_score = float(score(image[None])[0])
    total = np.zeros((h, w), np.float64)
    count = np.zeros((h, w), np.float64)
    positions = [(y, x) for y in ys for x in xs]
    for i in range(0, len(positions), batch_size):
        chunk = positions[i : i + batch_size]
        batch = np.repeat(image[None], len(chunk), axis=0)
        for k, (y, x) in enumerate(chunk):
            batch[k, :, y : y + patch_px, x : x + patch_px] = fill
        drops = base_score - np.asarray(score(batch), dtype=np.float64)
        for (y, x), d in zip(chunk, drops, strict=True):
            total[y : y + patch_px, x : x + patch_px] += d
            count[y : y + patch_px, x : x + patch_px] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)


def roi_share(heatmap: np.ndarray, mask: np.ndarray, /) -> float:
    """Return the share of the map's positive mass inside `mask` (NaN when it has none)."""
    pos = np.clip(heatmap.astype(np.float64), 0, None)
    total = float(pos.sum())
    if total <= 0:
        return float("nan")
    return float(pos[mask.astype(bool)].sum() / total)


def occluded_box(full: np.ndarray, occluded: np.ndarray, /) -> BBox | None:
    """Return the box where the occluded copy differs from the image (None if nowhere)."""
    diff = np.abs(full.astype(np.float32) - occluded.astype(np.float32))
    if diff.ndim == 3:
        diff = diff.max(axis=0)
    changed = diff > 0
    return bbox_from_mask(changed) if changed.any() else None


def control_box(
    image: np.ndarray,
    /,
    box_shape: tuple[int, int],
    avoid: Sequence[BBox],
    *,
    rng: np.random.Generator,
    min_breast: float = 0.9,
) -> BBox | None:
    """Return a box of `box_shape` at a random place in the breast, overlapping no `avoid` box.

    The breast is :func:`radprep.clean.breast.breast_mask` of `image` (``(H, W)``: out to the
    skin line, not Otsu's dense-tissue split). Places where at least `min_breast` of the box is
    breast are drawn from uniformly; when there are none, the places with the most breast (at
    least half) are.

    Returns
    -------
    BBox or None
        Inclusive ``(y0, x0, y1, x1)``; None when no place away from the ROI is in the breast.
    """
    h, w = image.shape
    bh, bw = int(box_shape[0]), int(box_shape[1])
    if bh > h or bw > w or bh < 1 or bw < 1:
        return None
    breast = breast_mask(image).astype(np.float64)
    integral = np.zeros((h + 1, w + 1))
    integral[1:, 1:] = breast.cumsum(0).cumsum(1)
    frac = (
        integral[bh:, bw:] - integral[:-bh, bw:] - integral[bh:, :-bw] + integral[:-bh, :-bw]
    ) / (bh * bw)  # (h - bh + 1, w - bw + 1): breast share of the box at each top-left corner
    ok = np.ones_like(frac, dtype=bool)
    ys = np.arange(frac.shape[0])[:, None]
    xs = np.arange(frac.shape[1])[None, :]
    for ay0, ax0, ay1, ax1 in avoid:
        ok &= ~((ys <= ay1) & (ys + bh - 1 >= ay0) & (xs <= ax1) & (xs + bw - 1 >= ax0))
    good = ok & (frac >= min_breast - 1e-9)
    if not good.any():
        best = float(frac[ok].max()) if ok.any() else 0.0
        if best < 0.5:
            return None
        good = ok & (frac >= best - 1e-9)
    cy, cx = np.nonzero(good)
    k = int(rng.integers(len(cy)))
    y0, x0 = int(cy[k]), int(cx[k])
    return (y0, x0, y0 + bh - 1, x0 + bw - 1)


def draw_overlay(
    image: np.ndarray,
    heat: np.ndarray,
    mask: np.ndarray,
    occ_box: BBox | None,
    ctrl: BBox | None,
) -> np.ndarray:
    """Return a BGR uint8 picture: the image in grey, the map's positive part in colour (its
    own maximum at full colour), the ROI outline in green, the occluded box in cyan and the
    control box in yellow."""
    grey = np.clip(image.mean(axis=0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    base = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR).astype(np.float32)
    pos = np.clip(heat, 0, None)
    peak = float(pos.max())
    if peak > 0:
        level = pos / peak
        colour = cv2.applyColorMap(np.rint(level * 255).astype(np.uint8), cv2.COLORMAP_JET)
        alpha = (0.65 * level)[..., None]
        base = base * (1 - alpha) + colour.astype(np.float32) * alpha
    out = np.clip(base + 0.5, 0, 255).astype(np.uint8)
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    cv2.drawContours(out, contours, -1, (0, 255, 0), 1)
    for box, colour_bgr in ((occ_box, (255, 255, 0)), (ctrl, (0, 255, 255))):
        if box is not None:
            cv2.rectangle(out, (box[1], box[0]), (box[3], box[2]), colour_bgr, 1)
    return out
