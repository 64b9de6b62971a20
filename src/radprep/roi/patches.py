"""Patches: centred on each ROI (with jitter), and from background that overlaps no ROI."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from radprep._validate import check_array, check_positive
from radprep.errors import InputError, RadprepWarning, SpecError
from radprep.roi.bbox import bbox_slices, bboxes_from_mask, clip_bbox
from radprep.types import BBox

__all__ = ["Patch", "PatchKind", "boxes_overlap", "extract_patches"]

PatchKind = Literal["roi", "background"]


@dataclass(frozen=True, eq=False)
class Patch:
    """One square patch: its pixels (a copy), its inclusive box in the image, and its kind.

    ``roi_index`` is the index of the ROI it is centred on, ``None`` for background patches.
    """

    pixels: np.ndarray
    box: BBox
    kind: PatchKind
    roi_index: int | None = None


def boxes_overlap(a: BBox, b: BBox, /) -> bool:
    """Return True when two inclusive boxes share at least one pixel."""
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _as_rng(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def extract_patches(
    image: np.ndarray,
    /,
    rois: Sequence[BBox] | np.ndarray,
    *,
    sizes: Sequence[int] = (224,),
    jitter_px: int = 0,
    per_roi: int = 1,
    background: int = 0,
    background_mask: np.ndarray | None = None,
    seed: int | np.random.Generator = 0,
    max_tries: int = 1000,
) -> list[Patch]:
    """Cut square patches centred on each ROI and from background away from every ROI.

    Parameters
    ----------
    image : ndarray
        ``(rows, cols)`` or ``(rows, cols, channels)``.
    rois : sequence of BBox or ndarray
        Inclusive ROI boxes, or a mask whose connected components are the ROIs.
    sizes : sequence of int
        Patch sides; every ROI gets `per_roi` patches of each size.
    jitter_px : int
        The patch centre moves by a uniform whole number of pixels in ``-jitter..jitter`` along
        each axis; the patch is then moved inside the image.
    per_roi : int
        Patches per ROI and size.
    background : int
        Background patches per size; none of them shares a pixel with any ROI box.
    background_mask : ndarray, optional
        When given, a background patch's centre must lie on it (e.g. the breast, not the air).
    seed : int or numpy.random.Generator
        The source of randomness; the same seed gives the same patches.
    max_tries : int
        Random draws per background patch before giving up on it (with a warning).

    Returns
    -------
    list of Patch
        ROI patches first (by ROI, size, repeat), then background patches (by size).

    Raises
    ------
    SpecError
        If a size exceeds the image or a count is negative.
    InputError
        If `background_mask` does not share the image's grid.
    """
    sides = _checked(image, sizes, (jitter_px, per_roi, background, max_tries), background_mask)
    boxes = _roi_boxes(rois, image.shape)
    rng = _as_rng(seed)
    # ROI patches draw first, then background ones: the same seed, the same patches.
    patches = _roi_patches(image, boxes, sides, per_roi, jitter_px, rng)
    for side in sides:
        patches += _background_patches(
            image, boxes, side, background, background_mask, rng, max_tries
        )
    return patches


def _roi_boxes(rois: Sequence[BBox] | np.ndarray, shape: tuple[int, ...]) -> list[BBox]:
    """The ROI boxes: a mask's connected components, or the boxes given, clipped to the image."""
    if isinstance(rois, np.ndarray) and rois.ndim == 2 and rois.shape == shape[:2]:
        return bboxes_from_mask(rois)
    return [clip_bbox(tuple(int(v) for v in b), shape) for b in rois]  # type: ignore[arg-type]


def _checked(
    image: np.ndarray,
    sizes: Sequence[int],
    counts: tuple[int, int, int, int],
    background_mask: np.ndarray | None,
) -> list[int]:
    """Check the arguments of :func:`extract_patches`; return the patch sides, each positive
    and at most the image's short side. `counts` are jitter_px, per_roi, background, max_tries."""
    check_array(image)
    rows, cols = image.shape[:2]
    for value, name in zip(counts[:3], ("jitter_px", "per_roi", "background"), strict=True):
        check_positive(value, name=name, allow_zero=True)
    check_positive(counts[3], name="max_tries")
    sides = [int(check_positive(s, name="sizes")) for s in sizes]
    for side in sides:
        if side > min(rows, cols):
            raise SpecError(
                f"patch size {side} exceeds the {rows}x{cols} image; choose sizes <= "
                f"{min(rows, cols)}"
            )
    if background_mask is not None and background_mask.shape != (rows, cols):
        raise InputError(
            f"background_mask has shape {background_mask.shape} but the image is {rows}x{cols}"
        )
    return sides


def _roi_patches(
    image: np.ndarray,
    boxes: Sequence[BBox],
    sides: list[int],
    per_roi: int,
    jitter_px: int,
    rng: np.random.Generator,
) -> list[Patch]:
    """`per_roi` patches of each side centred on each ROI (jittered), moved inside the image."""
    rows, cols = image.shape[:2]
    patches: list[Patch] = []
    for index, (y0, x0, y1, x1) in enumerate(boxes):
        for side in sides:
            for _ in range(per_roi):
                dy, dx = rng.integers(-jitter_px, jitter_px, size=2, endpoint=True)
                top = min(max((y0 + y1) // 2 + int(dy) - side // 2, 0), rows - side)
                left = min(max((x0 + x1) // 2 + int(dx) - side // 2, 0), cols - side)
                box = (top, left, top + side - 1, left + side - 1)
                patches.append(Patch(image[bbox_slices(box)].copy(), box, "roi", index))
    return patches


def _background_patches(
    image: np.ndarray,
    boxes: Sequence[BBox],
    side: int,
    background: int,
    background_mask: np.ndarray | None,
    rng: np.random.Generator,
    max_tries: int,
) -> list[Patch]:
    """`background` patches of one side that share no pixel with an ROI box (centred on
    `background_mask` when given); fewer, with a warning, when draws run out."""
    rows, cols = image.shape[:2]
    patches: list[Patch] = []
    for n in range(background):
        for _ in range(max_tries):
            top = int(rng.integers(0, rows - side, endpoint=True))
            left = int(rng.integers(0, cols - side, endpoint=True))
            box = (top, left, top + side - 1, left + side - 1)
            if any(boxes_overlap(box, roi) for roi in boxes):
                continue
            centre = (top + side // 2, left + side // 2)
            if background_mask is not None and not background_mask[centre]:
                continue
            patches.append(Patch(image[bbox_slices(box)].copy(), box, "background"))
            break
        else:
            warnings.warn(
                f"found {n} of {background} background patches of size {side} after "
                f"{max_tries} draws each; returning those",
                RadprepWarning,
                stacklevel=4,  # the caller of extract_patches
            )
            break
    return patches
