"""The display image of a DICOM frame: what a person would see, in 8-bit grey, for OCR.

PS3.3 C.11: the Modality LUT, the VOI (the header's window or VOI LUT, else a percentile
window), MONOCHROME1 inverted; palette images expanded as the reader expands them
(:func:`radprep.io.dicom._palette_to_rgb`), colour images made grey.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import cv2
import numpy as np
from pydicom.dataset import Dataset

from radprep.errors import RadprepError
from radprep.intensity.modality import apply_modality
from radprep.intensity.window import VOI, apply_voi, resolve_voi
from radprep.io.dicom import _palette_to_rgb, meta_from_dataset

__all__ = ["Display", "display_frames", "display_mapper", "swap_other_words"]

Display = Callable[[np.ndarray], np.ndarray]


def display_mapper(ds: Dataset, frame: np.ndarray) -> Display:
    """Return the map from stored values (a frame or any part of one) to 8-bit grey display.

    Mono images go through the Modality LUT and the VOI (the header's window or VOI LUT, else
    a window over the 0.1-99.9 percentiles of `frame`, resolved once here), "higher is
    brighter" (MONOCHROME1 inverted); palette and colour images become grey.
    """
    meta = meta_from_dataset(ds)
    if meta.photometric_interpretation == "PALETTE COLOR":
        where = str(getattr(ds, "filename", None) or "the image")

        def from_palette(part: np.ndarray) -> np.ndarray:
            # The palette as the reader expands it (big-endian LUT words swapped), on a copy:
            # the expansion swaps the words of the data set it is given.
            rgb = _palette_to_rgb(part, _palette_copy(ds), where)
            return _grey8(rgb, bits=8 * rgb.dtype.itemsize)

        return from_palette
    if frame.ndim == 3:
        return lambda part: _grey8(part, bits=meta.bits_stored)
    header_voi = bool(meta.voi_luts or (meta.window_centers and meta.window_widths))
    voi = VOI("header") if header_voi else VOI("auto", percentiles=(0.1, 99.9))
    values = apply_modality(frame, meta)
    try:
        resolved = resolve_voi(values, meta, voi)
    except RadprepError:  # a header window the values cannot use: show their range
        resolved = resolve_voi(values, meta, VOI("minmax"))

    def mono(part: np.ndarray) -> np.ndarray:
        shown, _ = apply_voi(apply_modality(part, meta), meta, resolved, out_dtype="uint8")
        return np.ascontiguousarray(shown)

    return mono


def display_frames(
    ds: Dataset, stored: np.ndarray, frames: Sequence[int] | None = None
) -> list[np.ndarray]:
    """Return 8-bit grey display images of `stored` (decoded pixels of `ds`), one per frame.

    Parameters
    ----------
    ds : Dataset
        Gives the Modality LUT, the VOI and the photometric interpretation.
    stored : ndarray
        Stored values as pydicom decodes them (YBR already as RGB): ``(rows, cols[, 3])`` or
        ``(frames, rows, cols[, 3])``.
    frames : sequence of int, optional
        Which frames of a multi-frame `stored` (all when None).

    Returns
    -------
    list of ndarray
        uint8 ``(rows, cols)`` arrays, "higher is brighter" (see :func:`display_mapper`).
    """
    stack = stored if int(ds.get("NumberOfFrames", 1) or 1) > 1 else stored[np.newaxis]
    picked = stack if frames is None else stack[list(frames)]
    return [display_mapper(ds, frame)(frame) for frame in picked]


_OTHER_WIDTH = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}
_PALETTE_KEYWORDS = tuple(
    f"{kind}{colour}PaletteColorLookupTable{part}"
    for colour in ("Red", "Green", "Blue", "Alpha")
    for kind, part in (("", "Descriptor"), ("", "Data"), ("Segmented", "Data"))
)


def swap_other_words(ds: Dataset) -> None:
    """Swap the bytes of OW/OF/OL/OD/OV values read from big endian (e.g. palette LUT data).

    pydicom keeps such values as the raw bytes read; read or written as little endian they
    must be swapped (PS3.5 7.3). Pixel Data is left alone.
    """
    for elem in ds.iterall():
        width = _OTHER_WIDTH.get(str(elem.VR))
        if width and isinstance(elem.value, bytes) and elem.tag != 0x7FE00010:
            data = np.frombuffer(elem.value, dtype=f">u{width}")
            elem.value = data.astype(f"<u{width}").tobytes()


def _palette_copy(ds: Dataset) -> Dataset:
    """The palette elements of `ds` (new elements sharing their values) with its encoding."""
    lut = Dataset()
    for kw in _PALETTE_KEYWORDS:
        if kw in ds:
            lut.add(copy.copy(ds[kw]))
    fm = getattr(ds, "file_meta", None)
    if fm is not None:
        lut.file_meta = fm
    implicit, little = ds.original_encoding
    lut.set_original_encoding(implicit, little, ds.original_character_set)
    return lut


def _grey8(rgb: np.ndarray, *, bits: int) -> np.ndarray:
    if rgb.dtype != np.uint8:
        scale = 255.0 / float((1 << min(bits, 16)) - 1)
        rgb = np.clip(rgb.astype(np.float32) * scale, 0, 255).astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
