"""Boxes and regions in stored pixels: read text boxes, grow them, fill them with what surrounds
them and read the filled places again; blank the recipe's regions and the outside of ultrasound
regions (see :mod:`radprep.deid.pixels`)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from pydicom.dataset import Dataset

from radprep.deid.config import PixelRegion
from radprep.deid.display import Display, display_mapper
from radprep.deid.ocr import read_words
from radprep.deid.words import Word

# Text boxes grow by this share of their height (and at least DILATE_MIN_PX) before filling.
DILATE_FRACTION = 0.3
DILATE_MIN_PX = 2

Box = tuple[int, int, int, int]


def _modality(ds: Dataset) -> str:
    return str(ds.get("Modality", "") or "").strip().upper()


def _frame_view(arr: np.ndarray, multi: bool) -> np.ndarray:
    return arr if multi else arr[np.newaxis]


def _dilate(box: tuple[int, int, int, int], rows: int, cols: int) -> tuple[int, int, int, int]:
    y0, x0, y1, x1 = box
    d = max(DILATE_MIN_PX, int(np.ceil(DILATE_FRACTION * (y1 - y0 + 1))))
    return max(0, y0 - d), max(0, x0 - d), min(rows - 1, y1 + d), min(cols - 1, x1 + d)


def _surround_value(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The most common stored value in a 2-pixel ring around `box` (the text's background)."""
    rows, cols = frame.shape[:2]
    y0, x0, y1, x1 = box
    ry0, rx0, ry1, rx1 = (
        max(0, y0 - 2),
        max(0, x0 - 2),
        min(rows - 1, y1 + 2),
        min(cols - 1, x1 + 2),
    )
    outer = frame[ry0 : ry1 + 1, rx0 : rx1 + 1]
    mask = np.ones(outer.shape[:2], bool)
    mask[y0 - ry0 : y1 - ry0 + 1, x0 - rx0 : x1 - rx0 + 1] = False
    ring = outer[mask]
    if ring.size == 0:
        return np.zeros(frame.shape[2:], frame.dtype)
    flat = ring.reshape(len(ring), -1)
    # One integer per pixel (up to 3 samples of 16 bits) for a fast 1-D mode.
    keys = flat[:, 0].astype(np.int64)
    for c in range(1, flat.shape[1]):
        keys = keys + (flat[:, c].astype(np.int64) << (16 * c))
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    return flat[first[int(np.argmax(counts))]].reshape(frame.shape[2:])


def _fill_boxes(arr: np.ndarray, multi: bool, boxes: Sequence[tuple[int, int, int, int]]) -> None:
    for frame in _frame_view(arr, multi):
        values = [_surround_value(frame, b) for b in boxes]  # before any box is filled
        for (y0, x0, y1, x1), v in zip(boxes, values, strict=True):
            frame[y0 : y1 + 1, x0 : x1 + 1, ...] = v


def _text_boxes(
    words: Sequence[Word], phi_words: Sequence[Word]
) -> list[tuple[int, int, int, int]]:
    """Boxes of every word on a line that holds confident text, and of the PHI words."""
    text_lines = {w.line for w in words if w.is_text}
    chosen = {w.box for w in words if w.line in text_lines} | {w.box for w in phi_words}
    return sorted(chosen)


def _read(
    ds: Dataset, arr: np.ndarray, frames: list[int], multi: bool
) -> tuple[list[Word], list[Display], float]:
    """Read the sampled frames; return the words and each frame's display map."""
    t = time.perf_counter()
    words: list[Word] = []
    mappers: list[Display] = []
    for frame in _frame_view(arr, multi)[frames]:
        show = display_mapper(ds, frame)
        mappers.append(show)
        words += read_words(show(frame), first_line=words[-1].line + 1 if words else 0)
    return words, mappers, (time.perf_counter() - t) * 1000


def _read_places(
    arr: np.ndarray,
    frames: list[int],
    multi: bool,
    mappers: Sequence[Display],
    boxes: Sequence[tuple[int, int, int, int]],
) -> tuple[list[Word], float]:
    """Read again around each cleaned box (its line, with a margin), in the sampled frames."""
    t = time.perf_counter()
    words: list[Word] = []
    rows, cols = arr.shape[1:3] if multi else arr.shape[:2]
    places = _merge([_margin(b, rows, cols) for b in boxes])
    for frame, show in zip(_frame_view(arr, multi)[frames], mappers, strict=True):
        for y0, x0, y1, x1 in places:
            crop = show(frame[y0 : y1 + 1, x0 : x1 + 1])
            first = words[-1].line + 1 if words else 0
            for w in read_words(crop, first_line=first):
                b = w.box
                box = (b[0] + y0, b[1] + x0, b[2] + y0, b[3] + x0)
                words.append(Word(w.text, w.confidence, box, w.line))
    return words, (time.perf_counter() - t) * 1000


def _margin(box: tuple[int, int, int, int], rows: int, cols: int) -> tuple[int, int, int, int]:
    y0, x0, y1, x1 = box
    m = max(8, (y1 - y0 + 1))
    return max(0, y0 - m), max(0, x0 - 3 * m), min(rows - 1, y1 + m), min(cols - 1, x1 + 3 * m)


def _merge(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Merge overlapping boxes until none overlap."""
    merged = list(boxes)
    changed = True
    while changed:
        changed = False
        out: list[tuple[int, int, int, int]] = []
        for b in merged:
            for i, o in enumerate(out):
                if b[0] <= o[2] and o[0] <= b[2] and b[1] <= o[3] and o[1] <= b[3]:
                    out[i] = (min(b[0], o[0]), min(b[1], o[1]), max(b[2], o[2]), max(b[3], o[3]))
                    changed = True
                    break
            else:
                out.append(b)
        merged = out
    return merged


def _darkest(ds: Dataset, arr: np.ndarray) -> int:
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        return int(arr.max())
    return int(arr.min()) if arr.ndim == 2 or arr.shape[-1] != 3 else 0


def _ultrasound_outside(ds: Dataset, rows: int, cols: int) -> np.ndarray | None:
    """True outside the union of SequenceOfUltrasoundRegions (PS3.3 C.8.5.5), or None."""
    items = ds.get("SequenceOfUltrasoundRegions") or []
    inside = np.zeros((rows, cols), bool)
    found = False
    for item in items:
        try:
            x0, y0 = int(item.RegionLocationMinX0), int(item.RegionLocationMinY0)
            x1, y1 = int(item.RegionLocationMaxX1), int(item.RegionLocationMaxY1)
        except (AttributeError, TypeError, ValueError):
            continue
        if 0 <= x0 <= x1 and 0 <= y0 <= y1:
            inside[y0 : y1 + 1, x0 : x1 + 1] = True
            found = True
    if not found or inside.all():
        return None
    return ~inside


def _blank_regions(
    ds: Dataset, arr: np.ndarray, multi: bool, region: PixelRegion | None, notes: list[str]
) -> bool:
    """Blank the recipe's region and the outside of ultrasound regions; True if any."""
    rows, cols = arr.shape[1:3] if multi else arr.shape[:2]
    changed = False
    if region is not None:
        fill = _darkest(ds, arr)
        for frame in _frame_view(arr, multi):
            for y0, x0, y1, x1 in region.rectangles:
                frame[y0 : y1 + 1, x0 : x1 + 1, ...] = fill
        changed = True
        notes.append("recipe region")
    if _modality(ds) == "US" and (outside := _ultrasound_outside(ds, rows, cols)) is not None:
        _frame_view(arr, multi)[:, outside] = _darkest(ds, arr)
        changed = True
        notes.append("outside ultrasound regions")
    return changed
