"""Per-item QA material written during a run: small PNG thumbnails and intensity histograms.

The job calls :func:`item_report` for each item, so the report never has to decode an input
again: the original (downscaled), its ROI masks, and every output get a thumbnail of at most
``THUMB_PX`` pixels on the long side under ``report/thumbs/<kind>/<sample id>.png``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from radprep._dtype import convert_dtype
from radprep.export.png import encode
from radprep.io.write import atomic_link_or_write, atomic_write_bytes
from radprep.roi.mask import merge_masks
from radprep.sample import Sample
from radprep.spatial.resize import resize

__all__ = [
    "HIST_BINS",
    "REUSE_PX",
    "THUMB_PX",
    "display_u8",
    "histogram",
    "item_report",
    "mask_outline",
    "thumbnail",
]

THUMB_PX = 256
REUSE_PX = 2 * THUMB_PX
"""An output written as an 8-bit PNG of at most this many pixels a side is its own thumbnail."""
HIST_BINS = 64
_STRIDE_PX = 512  # histograms read a regular subsample about this many pixels across


def display_u8(array: np.ndarray, *, mask: bool = False) -> np.ndarray:
    """Return an 8-bit view of any written array for a thumbnail.

    Masks become 0/255; uint8 stays; uint16 and floats in [0, 1] scale by their range; other
    values (z-scores, Hounsfield units) are scaled from their own min-max.
    """
    if mask or array.dtype == bool:
        return np.where(array > 0, np.uint8(255), np.uint8(0))
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return convert_dtype(array, "uint8")
    a = array.astype(np.float32, copy=False)
    finite = a[np.isfinite(a)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if lo >= 0.0 and hi <= 1.0:
        lo, hi = 0.0, 1.0
    return convert_dtype(np.nan_to_num(a), "uint8", in_range=(lo, hi if hi > lo else lo + 1))


def plane(array: np.ndarray) -> np.ndarray:
    """The 2D picture of an array: itself, or the middle slice of a volume or a stack."""
    if array.ndim == 4 or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        return array[array.shape[0] // 2]
    return array


def thumbnail(array: np.ndarray, *, mask: bool = False) -> np.ndarray:
    """Return an 8-bit thumbnail, long side at most :data:`THUMB_PX` (2D, RGB, or the middle
    slice of a volume)."""
    img = plane(array)
    rows, cols = img.shape[:2]
    scale = min(1.0, THUMB_PX / max(rows, cols))
    size = (max(1, round(rows * scale)), max(1, round(cols * scale)))
    if mask:
        # Nearest neighbour picks values: pick them first, then map only those to 0/255.
        small = resize(img, size, interpolation="nearest") if scale < 1.0 else img
        return display_u8(small, mask=True)
    u8 = display_u8(img)
    return resize(u8, size, interpolation="area") if scale < 1.0 else u8


def histogram(array: np.ndarray) -> list[int]:
    """Counts of display values in :data:`HIST_BINS` bins over a regular subsample."""
    img = plane(array)
    step = max(1, max(img.shape[:2]) // _STRIDE_PX)
    u8 = display_u8(img[::step, ::step])
    # Bins of 256 / HIST_BINS display values (what np.histogram(u8, HIST_BINS, range=(0, 256))
    # counts), counted by OpenCV in one pass: a 256-entry table from value to bin, float32
    # counts exact below 2**24 (the subsample has under 1024 x 1024 pixels a channel).
    values = u8 if u8.ndim == 2 else u8.reshape(-1, 1)  # every channel's values
    counts = cv2.calcHist([values], [0], None, [HIST_BINS], [0, 256])
    return [int(c) for c in counts.ravel()]


def mask_outline(mask_u8: np.ndarray, shape: Sequence[int] | None = None) -> list[list[list[int]]]:
    """Return the outer contours of a 0/255 mask as polygons of [x, y] points.

    Parameters
    ----------
    mask_u8 : ndarray
        A 2D mask (for instance a thumbnail); pixels above 127 are inside.
    shape : (rows, cols), optional
        The grid the points are given on (the original image): points are scaled from the
        mask's grid to it, at pixel centres. Default: the mask's own grid.

    Returns
    -------
    list of list of [int, int]
        One polygon per outer contour (simplified to within a pixel), sorted top to bottom.
    """
    found, _ = cv2.findContours(
        (mask_u8 > 127).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    rows, cols = mask_u8.shape[:2]
    sy, sx = (1.0, 1.0) if shape is None else (shape[0] / rows, shape[1] / cols)
    polygons = []
    for c in sorted(found, key=lambda c: (int(c[:, 0, 1].min()), int(c[:, 0, 0].min()))):
        pts = cv2.approxPolyDP(c, 0.75, True)[:, 0, :]
        if shape is None:
            polygons.append([[int(x), int(y)] for x, y in pts])
        else:
            polygons.append(
                [[round((x + 0.5) * sx - 0.5), round((y + 0.5) * sy - 0.5)] for x, y in pts]
            )
    return polygons


def _write(
    out_dir: Path,
    kind: str,
    sample_id: str,
    array: np.ndarray | bytes,
    *,
    same_as: str | Path | None = None,
) -> str:
    """Write a thumbnail (an array, or PNG bytes as they are); return its relative path.

    `same_as` is the file the bytes were written to already (an output that is its own
    thumbnail): the thumbnail is a hard link to it (the bytes written again only where the
    file system has no links).
    """
    rel = f"report/thumbs/{kind}/{sample_id}.png"
    data = encode(array, "png8") if isinstance(array, np.ndarray) else array
    if same_as is None:
        atomic_write_bytes(out_dir / rel, data)
    else:
        atomic_link_or_write(out_dir / rel, same_as, data)
    return rel


def _own_thumbnail(array: np.ndarray, png: bytes | None) -> bool:
    """True when an output's PNG bytes can be its thumbnail: a 2D or RGB picture of at most
    :data:`REUSE_PX` a side (the gallery shows outputs at 128 px)."""
    return png is not None and plane(array) is array and max(array.shape[:2]) <= REUSE_PX


def _output_thumbs(
    out: Path,
    sample_id: str,
    written: Mapping[str, tuple[np.ndarray, bool]],
    thumbs: dict[str, str],
    encoded: Mapping[str, bytes],
    files: Mapping[str, str | Path],
) -> dict[str, list[int]]:
    """Add each output's thumbnail to `thumbs`; return the histograms of the images."""
    hist_after = {}
    for name, (array, is_mask) in written.items():
        png = encoded.get(name)
        if png is not None and _own_thumbnail(array, png):
            thumbs[name] = _write(out, name, sample_id, png, same_as=files.get(name))
        else:
            thumbs[name] = _write(out, name, sample_id, thumbnail(array, mask=is_mask))
        if not is_mask:
            hist_after[name] = histogram(array)
    return hist_after


def item_report(
    before: Sample,
    written: Mapping[str, tuple[np.ndarray, bool]],
    out_dir: str | Path,
    *,
    encoded: Mapping[str, bytes] | None = None,
    files: Mapping[str, str | Path] | None = None,
) -> dict[str, Any]:
    """Write one item's thumbnails; return what the report needs to know of it.

    Parameters
    ----------
    before : Sample
        The sample as loaded (before any step).
    written : mapping of str to (ndarray, bool)
        Each output's written array, and whether it is a mask.
    out_dir : path
        The run's output folder.
    encoded : mapping of str to bytes, optional
        The 8-bit PNG files some outputs were written as: one of at most :data:`REUSE_PX` a
        side is written as its own thumbnail (no second resize and encode; the pixels are the
        output's, a 299 px output is not brought down to 256).
    files : mapping of str to path, optional
        The files those PNGs were written to: such a thumbnail is a hard link to its output
        file rather than a second copy of the bytes.

    Returns
    -------
    dict
        ``thumbs`` (kind -> relative path), ``source_shape``, ``hist_before`` and
        ``hist_after`` (output -> counts, images only); for a sample with masks also
        ``roi_outline``: the outline of their union as polygons of [x, y] in original pixels.
    """
    out = Path(out_dir)
    extra: dict[str, Any] = {}
    source = plane(before.image.pixels)
    # Integer pixels map to display values one by one: mapped once, for the thumbnail and the
    # histogram (the same values either would compute).
    if source.dtype in (np.uint8, np.uint16):
        source = display_u8(source)
    thumbs = {"source": _write(out, "source", before.id, thumbnail(source))}
    shape = source.shape[:2]
    if before.masks:
        union = merge_masks([plane(m) for m in before.masks.values()])
        roi_thumb = thumbnail(union, mask=True)
        thumbs["source-roi"] = _write(out, "source-roi", before.id, roi_thumb)
        extra["roi_outline"] = mask_outline(roi_thumb, shape)
    hist_after = _output_thumbs(out, before.id, written, thumbs, encoded or {}, files or {})
    return {
        "thumbs": thumbs,
        "source_shape": [int(v) for v in shape],
        "hist_before": histogram(source),
        "hist_after": hist_after,
        **extra,
    }
