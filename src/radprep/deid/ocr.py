"""Read the text burned into an image: Tesseract OCR over the display image.

The display image (:mod:`radprep.deid.display`) is scaled so that Tesseract sees characters at
a size it reads well, and read in both polarities (dark text on light and light on dark). Word
boxes are returned in stored pixel coordinates. What the words are matched against is in
:mod:`radprep.deid.phi_match`.

Tesseract is reached through the ``tesserocr`` binding (``pip install 'radprep[ocr]'``) and needs
its English model (Debian: ``apt install tesseract-ocr tesseract-ocr-eng``). One engine is made
per process and kept; it runs on one thread (a process pool gives the parallelism).
"""

from __future__ import annotations

import contextlib
import glob
import os
import threading
from collections.abc import Iterator
from functools import cache
from typing import Any

import cv2
import numpy as np

from radprep.deid.display import display_frames, display_mapper, swap_other_words
from radprep.deid.phi_match import PhiMatch, identifying_values, match_phi
from radprep.deid.words import FAINT_CONFIDENCE, TEXT_CONFIDENCE, Word
from radprep.errors import RadprepError

__all__ = [
    "FAINT_CONFIDENCE",
    "OCR_EXTRA_HINT",
    "TEXT_CONFIDENCE",
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

_TESSDATA_GLOBS = (
    "/usr/share/tesseract-ocr/*/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/usr/local/share/tesseract-ocr/*/tessdata",
    "/opt/homebrew/share/tessdata",
)


class OcrUnavailableError(RadprepError, RuntimeError):
    """Tesseract or its English model cannot be loaded."""


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
