"""Read the text burned into an image: the display image, Tesseract OCR, and PHI matching.

The display image is what a person would see (PS3.3 C.11: Modality LUT, VOI, MONOCHROME1
inverted), in 8 bits, scaled so that Tesseract sees characters at a size it reads well, and read
in both polarities (dark text on light and light on dark). Word boxes are returned in stored
pixel coordinates.

Tesseract is reached through the ``tesserocr`` binding (``pip install 'radprep[ocr]'``) and needs
its English model (Debian: ``apt install tesseract-ocr tesseract-ocr-eng``). One engine is made
per process and kept; it runs on one thread (a process pool gives the parallelism).
"""

from __future__ import annotations

import contextlib
import copy
import glob
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import cv2
import numpy as np
from pydicom.dataset import Dataset

from radprep.deid.redact import date_forms, name_parts
from radprep.errors import RadprepError
from radprep.intensity.modality import apply_modality
from radprep.intensity.window import VOI, apply_voi, resolve_voi
from radprep.io.dicom import _palette_to_rgb, meta_from_dataset

__all__ = [
    "OCR_EXTRA_HINT",
    "OcrUnavailableError",
    "PhiMatch",
    "Word",
    "display_frames",
    "display_mapper",
    "identifying_values",
    "match_phi",
    "ocr_available",
    "read_words",
    "swap_other_words",
]

OCR_EXTRA_HINT = (
    "pip install 'radprep[ocr]' and install Tesseract's English model (Debian: apt install "
    "tesseract-ocr tesseract-ocr-eng), or set TESSDATA_PREFIX to the folder holding "
    "eng.traineddata"
)

# Tesseract reads characters best at 20-30 px; images are scaled so the long side falls in
# this range (small CT and MR images up, mammograms down).
MIN_LONG_SIDE_PX = 1024
MAX_LONG_SIDE_PX = 2048
MAX_UPSCALE = 4.0
# A word is text (not texture read as letters) at this confidence with three letters or digits;
# next to text already found, FAINT_CONFIDENCE with two.
TEXT_CONFIDENCE = 75.0
FAINT_CONFIDENCE = 50.0

_TESSDATA_GLOBS = (
    "/usr/share/tesseract-ocr/*/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/usr/local/share/tesseract-ocr/*/tessdata",
    "/opt/homebrew/share/tessdata",
)


class OcrUnavailableError(RadprepError, RuntimeError):
    """Tesseract or its English model cannot be loaded."""


@dataclass(frozen=True)
class Word:
    """One word Tesseract read.

    Attributes
    ----------
    text : str
        What was read.
    confidence : float
        Tesseract's confidence, 0..100.
    box : (y0, x0, y1, x1)
        Inclusive box in stored pixel coordinates.
    line : int
        Words of the same text line (of the same frame and polarity) share this number.
    """

    text: str
    confidence: float
    box: tuple[int, int, int, int]
    line: int

    @property
    def is_text(self) -> bool:
        """True when this is confidently text, not texture read as letters.

        Three letters or digits at TEXT_CONFIDENCE, or two at 90 in a box at least as wide as
        half its height (texture gives short, narrow "words").
        """
        alnum = sum(c.isalnum() for c in self.text)
        if alnum >= 3:
            return self.confidence >= TEXT_CONFIDENCE
        y0, x0, y1, x1 = self.box
        return alnum == 2 and self.confidence >= 90 and (x1 - x0 + 1) * 2 >= (y1 - y0 + 1)

    @property
    def is_faint_text(self) -> bool:
        """True for two letters or digits at FAINT_CONFIDENCE (trusted next to found text)."""
        return sum(c.isalnum() for c in self.text) >= 2 and self.confidence >= FAINT_CONFIDENCE


# Engine ----------------------------------------------------------------------------------------


def _tessdata_dir() -> str | None:
    env = os.environ.get("TESSDATA_PREFIX")
    candidates = [env] if env else []
    for pattern in _TESSDATA_GLOBS:
        candidates += sorted(glob.glob(pattern), reverse=True)
    for c in candidates:
        if c and os.path.isfile(os.path.join(c, "eng.traineddata")):
            return c.rstrip("/") + "/"
    return None


_local = threading.local()


@cache
def _load() -> tuple[Any, str]:
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    try:
        import tesserocr
    except ImportError as e:
        raise OcrUnavailableError(
            f"the tesserocr package is not installed ({e}); {OCR_EXTRA_HINT}"
        ) from e
    path = _tessdata_dir()
    if path is None:
        raise OcrUnavailableError(f"Tesseract's eng.traineddata was not found; {OCR_EXTRA_HINT}")
    return tesserocr, path


def _engine() -> Any:
    api = getattr(_local, "api", None)
    if api is None:
        tesserocr, path = _load()
        try:
            api = tesserocr.PyTessBaseAPI(
                path=path,
                lang="eng",
                psm=tesserocr.PSM.SPARSE_TEXT,  # overlays: scattered words, not a page
                oem=tesserocr.OEM.LSTM_ONLY,
            )
        except RuntimeError as e:
            raise OcrUnavailableError(f"Tesseract could not start ({e}); {OCR_EXTRA_HINT}") from e
        _local.api = api
    return api


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence Leptonica's C-level messages ("Error in boxClipToRectangle") on stderr."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def ocr_available() -> str | None:
    """Return None when OCR can run here, or the reason it cannot."""
    try:
        _engine()
    except OcrUnavailableError as e:
        return str(e)
    return None


# Display image ---------------------------------------------------------------------------------


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
    lut.set_original_encoding(*ds.original_encoding, ds.original_character_set)
    return lut


def _grey8(rgb: np.ndarray, *, bits: int) -> np.ndarray:
    if rgb.dtype != np.uint8:
        scale = 255.0 / float((1 << min(bits, 16)) - 1)
        rgb = np.clip(rgb.astype(np.float32) * scale, 0, 255).astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


# OCR -------------------------------------------------------------------------------------------


def _scale_for(shape: tuple[int, int]) -> float:
    long_side = max(shape)
    if long_side < MIN_LONG_SIDE_PX:
        return min(MAX_UPSCALE, MIN_LONG_SIDE_PX / long_side)
    if long_side > MAX_LONG_SIDE_PX:
        return MAX_LONG_SIDE_PX / long_side
    return 1.0


def read_words(
    grey: np.ndarray, *, both_polarities: bool = True, first_line: int = 0
) -> list[Word]:
    """OCR one 8-bit grey image; return the words with boxes in its own pixel coordinates.

    The image is contrast-stretched to its full range, scaled (see MIN_LONG_SIDE_PX and
    MAX_LONG_SIDE_PX) and read as it is and inverted.

    Raises
    ------
    OcrUnavailableError
        If Tesseract cannot be loaded.
    """
    api = _engine()
    lo, hi = (int(v) for v in (grey.min(), grey.max())) if grey.size else (0, 0)
    if hi <= lo:
        return []  # one flat value: nothing to read
    if (lo, hi) != (0, 255):  # stretch to the full range (contrast normalisation)
        lut = np.clip((np.arange(256) - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
        img = lut[grey]
    else:
        img = grey
    s = _scale_for(img.shape)
    if s != 1.0:
        interp = cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA
        img = cv2.resize(img, None, fx=s, fy=s, interpolation=interp)
    rows, cols = grey.shape
    words: list[Word] = []
    line = first_line
    for inverted in (False, True) if both_polarities else (False,):
        view = np.ascontiguousarray(255 - img if inverted else img)
        api.SetImageBytes(view.tobytes(), view.shape[1], view.shape[0], 1, view.shape[1])
        with _quiet_stderr():
            api.Recognize()
        words_of, line = _collect(api, s, rows, cols, line)
        words += words_of
    return words


def _collect(api: Any, s: float, rows: int, cols: int, line: int) -> tuple[list[Word], int]:
    import tesserocr

    it = api.GetIterator()
    if it is None:
        return [], line
    out: list[Word] = []
    level, line_level = tesserocr.RIL.WORD, tesserocr.RIL.TEXTLINE
    while True:
        if it.IsAtBeginningOf(line_level):
            line += 1
        try:
            text = it.GetUTF8Text(level)
        except RuntimeError:  # an empty page: the iterator stands on nothing
            break
        bbox = it.BoundingBox(level)
        if text and text.strip() and bbox is not None:
            x0, y0, x1, y1 = bbox
            box = (
                max(0, int(y0 / s)),
                max(0, int(x0 / s)),
                min(rows - 1, int(np.ceil(y1 / s))),
                min(cols - 1, int(np.ceil(x1 / s))),
            )
            out.append(Word(text.strip(), float(it.Confidence(level)), box, line))
        if not it.Next(level):
            break
    return out, line + 1


# PHI matching ----------------------------------------------------------------------------------

NAME_KEYWORDS = (
    "PatientName",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientMotherBirthName",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
)
ID_KEYWORDS = ("PatientID", "OtherPatientIDs", "AccessionNumber", "StudyID")
DATE_KEYWORDS = ("PatientBirthDate", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")

# OCR mixes these up; both sides are folded the same way before comparing.
_CONFUSABLE = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "|": "1",
                             "S": "5", "B": "8", "Z": "2", "G": "6"})  # fmt: skip


def _fold(text: str) -> str:
    """Upper case, letters and digits only, confusable characters folded."""
    return re.sub(r"[^0-9A-Z]", "", text.upper().translate(_CONFUSABLE))


@dataclass(frozen=True)
class _Needle:
    keyword: str
    folded: str
    max_errors: int


def _values(ds: Dataset, keyword: str) -> list[str]:
    value = ds.get(keyword)
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v) for v in value if str(v).strip()]
    return [str(value)]


def identifying_values(ds: Dataset) -> list[_Needle]:
    """Return what to look for in the image: the data set's own names, IDs and dates.

    Names are split into their parts (any order matches); IDs are matched whole; dates in
    the common written forms. Values are folded (:func:`_fold`); the keyword is kept so a match
    can be reported without its value.
    """
    needles: list[_Needle] = []
    sources: list[Dataset] = [ds, *(ds.get("OtherPatientIDsSequence") or [])]
    for src in sources:
        for kw in NAME_KEYWORDS:
            for v in _values(src, kw):
                for part in name_parts(v):
                    # A double-barrelled name is looked for whole and by each of its parts.
                    for piece in {part, *part.split("-")}:
                        f = _fold(piece)
                        if len(f) >= 3:
                            needles.append(_Needle(kw, f, 1 if len(f) >= 6 else 0))
        for kw in ID_KEYWORDS:
            for v in _values(src, kw):
                f = _fold(v)
                if len(f) >= 4:
                    needles.append(_Needle(kw, f, 0 if len(f) < 7 else (1 if len(f) < 12 else 2)))
        for kw in DATE_KEYWORDS:
            for v in _values(src, kw):
                for f in {_fold(form) for form in date_forms(v)}:
                    needles.append(_Needle(kw, f, 0 if len(f) < 8 else 1))
    unique = {(n.keyword, n.folded): n for n in needles}
    return list(unique.values())


def _within(needle: str, hay: str, max_errors: int) -> bool:
    """True when `needle` occurs in `hay` with at most `max_errors` edits (Sellers' algorithm)."""
    if needle in hay:
        return True
    if max_errors == 0 or len(hay) < len(needle) - max_errors:
        return False
    prev = list(range(len(needle) + 1))
    for ch in hay:
        cur = [0]
        for j, nc in enumerate(needle, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (nc != ch)))
        if cur[-1] <= max_errors:
            return True
        prev = cur
    return False


@dataclass(frozen=True)
class PhiMatch:
    """Words that hold a data set's own identifying value, and which attributes matched."""

    keywords: tuple[str, ...]
    words: tuple[Word, ...]


def match_phi(words: Iterable[Word], needles: Sequence[_Needle]) -> PhiMatch:
    """Find the words (or runs of words of one line) that spell an identifying value.

    Words are split at punctuation into tokens. A short value (under 5 characters) must equal a
    token; a longer one may sit inside a run of up to six tokens of one line (a name or a date
    split over words: ``DOE, JOHN``, ``08 / 29 / 1951``), with the value's allowed OCR errors.
    Any confidence counts: a match against the file's own values is evidence enough.
    """
    by_line: dict[int, list[tuple[str, Word]]] = {}
    for w in words:
        for tok in re.split(r"[^0-9A-Za-z|]+", w.text):
            f = _fold(tok)
            if f:
                by_line.setdefault(w.line, []).append((f, w))
    keywords: set[str] = set()
    hits: dict[tuple[int, int, int, int, int], Word] = {}
    short = [n for n in needles if len(n.folded) < 5]
    long = [n for n in needles if len(n.folded) >= 5]
    for toks in by_line.values():
        for i, (tok, w) in enumerate(toks):
            for n in short:
                if tok == n.folded:
                    keywords.add(n.keyword)
                    hits[(w.line, *w.box)] = w
            joined = ""
            for j in range(i, min(i + 6, len(toks))):
                joined += toks[j][0]
                for n in long:
                    if len(joined) + n.max_errors < len(n.folded):
                        continue
                    if j > i and len(joined) - len(toks[j][0]) >= len(n.folded) + n.max_errors:
                        continue  # the run already held the whole value without this token
                    if _within(n.folded, joined, n.max_errors):
                        keywords.add(n.keyword)
                        for _, hw in toks[i : j + 1]:
                            hits[(hw.line, *hw.box)] = hw
    return PhiMatch(tuple(sorted(keywords)), tuple(hits.values()))
