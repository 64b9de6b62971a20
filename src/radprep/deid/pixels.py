"""Burned-in text: found by looking (OCR), cleaned in the stored pixels, or held with a reason.

PS3.15 E.3.1 (Clean Pixel Data Option): header de-identification does nothing for text burned
into the pixels. Each image is read as a person would see it (:mod:`radprep.deid.ocr`):

- text that spells the file's own identifying values (names in any order, IDs, accession
  number, dates in the common written forms) is PHI, and an image with PHI text has all its
  text cleaned;
- other text follows ``DeidConfig.pixel_text``: by default all text is cleaned in the
  modalities that carry overlays (US, SC, OT, XA, RF) and in images whose header says they
  carry burned-in text; CR, DX, MG, CT, MR labels (``L CC``, ``R``) stay unless they match;
- ultrasound with a SequenceOfUltrasoundRegions is blanked outside its regions, and the
  recipe's manufacturer/model regions (``pixel_cleaning``) are blanked as given.

Cleaning fills the dilated text boxes in the stored pixels of every frame with the value that
surrounds them, checks by reading the cleaned places again, and stores the pixels in the
source transfer syntax (lossless stays lossless; see :func:`store_pixels`). Only then is the
image marked BurnedInAnnotation NO (and 113101 Clean Pixel Data is added). An image is held
back only when doubt remains: text still read after cleaning, OCR unavailable under a policy
that needs it, a header saying YES where nothing is found, pixels that cannot be stored again.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import pack_bits, pixel_array
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from radprep.deid.config import DeidConfig, PixelRegion
from radprep.deid.ocr import (
    Display,
    Word,
    display_mapper,
    identifying_values,
    match_phi,
    ocr_available,
    read_words,
    swap_other_words,
)
from radprep.deid.writer import load_deferred
from radprep.errors import PixelDecodeError, RadprepError

__all__ = [
    "OVERLAY_MODALITIES",
    "SUSPECT_MODALITIES",
    "SUSPECT_SOP_CLASSES",
    "PixelOutcome",
    "apply_pixel_policy",
    "burned_in_reason",
    "find_region",
    "store_pixels",
]

SUSPECT_MODALITIES = frozenset({"US", "SC", "OT"})
"""Modalities whose images often carry burned-in text (ultrasound, secondary capture, other)."""

OVERLAY_MODALITIES = frozenset({"US", "SC", "OT", "XA", "RF"})
"""Modalities whose every text is cleaned by default (overlays of the acquisition device)."""

SUSPECT_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image Storage
        "1.2.840.10008.5.1.4.1.1.7.1",  # Multi-frame Single Bit SC
        "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte SC
        "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word SC
        "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color SC
    }
)

# Long multi-frame objects (cine ultrasound, XA runs) are read on this many frames, spread
# from the first to the last; the boxes found are cleaned in every frame (overlays are static).
MAX_OCR_FRAMES = 3
# Text boxes grow by this share of their height (and at least DILATE_MIN_PX) before filling.
DILATE_FRACTION = 0.3
DILATE_MIN_PX = 2
# Clean, read again, clean what is still read: at most this many rounds, then hold.
CLEAN_ROUNDS = 3

_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)

# Source transfer syntax -> the one the cleaned pixels are stored in (lossless stays lossless;
# a lossy source is not compressed lossily again). Native syntaxes keep theirs (big endian,
# retired, becomes explicit little endian). Anything else (JPEG baseline and lossless process
# 14, HTJ2K: no encoder) falls back to Explicit VR Little Endian, said in the audit.
_REENCODE: dict[str, UID] = {
    RLELossless: RLELossless,
    JPEGLSLossless: JPEGLSLossless,
    JPEGLSNearLossless: JPEGLSLossless,
    JPEG2000Lossless: JPEG2000Lossless,
    JPEG2000: JPEG2000Lossless,
}
_NATIVE_KEPT = (ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian)


def burned_in_reason(ds: Dataset) -> str | None:
    """Return why the header suggests burned-in text, or None when it does not.

    The reason names attributes and their public, non-identifying values only (it goes into the
    audit).
    """
    if not any(t in ds for t in _PIXEL_TAGS):
        return None
    flag = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if flag == "YES":
        return "BurnedInAnnotation (0028,0301) is YES"
    if flag == "NO":
        return None
    modality = str(ds.get("Modality", "") or "").strip().upper()
    if modality in SUSPECT_MODALITIES:
        return f"Modality (0008,0060) {modality} without BurnedInAnnotation (0028,0301) NO"
    sop_class = str(ds.get("SOPClassUID", "") or "").strip()
    if sop_class in SUSPECT_SOP_CLASSES:
        return "a Secondary Capture without BurnedInAnnotation (0028,0301) NO"
    raw_type = ds.get("ImageType") or []
    image_type = [str(v).upper() for v in ([raw_type] if isinstance(raw_type, str) else raw_type)]
    if "SCREEN SAVE" in image_type or str(ds.get("ConversionType", "")).upper() == "WSD":
        return "a screen save without BurnedInAnnotation (0028,0301) NO"
    return None


def find_region(ds: Dataset, regions: tuple[PixelRegion, ...]) -> PixelRegion | None:
    """Return the first region that applies to this image's device and size, if any."""
    if not regions:
        return None
    manufacturer = str(ds.get("Manufacturer", "") or "")
    model = str(ds.get("ManufacturerModelName", "") or "")
    rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    for region in regions:
        if region.matches(manufacturer, model, rows, columns):
            return region
    return None


@dataclass(frozen=True)
class PixelOutcome:
    """What the pixel policy did to one image (for the audit: no value, no text read).

    Attributes
    ----------
    cleaned : bool
        Pixels were changed (text boxes, ultrasound regions or recipe regions blanked) and the
        image is marked BurnedInAnnotation NO.
    reason : str
        Why the image is held back; empty when it may be written.
    ocr : bool
        OCR ran on the image.
    boxes : int
        Text boxes filled (0 when none, or when nothing was cleaned).
    phi : tuple of str
        Keywords of the attributes whose values were read in the pixels (never the values).
    action : str
        ``none`` (no pixel data or not looked at), ``unchanged`` (looked at, nothing to clean),
        ``cleaned``, ``held``.
    transfer_syntax : str
        The transfer syntax the cleaned pixels were stored in, when it is not the source's.
    ocr_ms : float
        Time spent reading text.
    notes : tuple of str
        What else was blanked: ``recipe region``, ``outside ultrasound regions``.
    """

    cleaned: bool = False
    reason: str = ""
    ocr: bool = False
    boxes: int = 0
    phi: tuple[str, ...] = ()
    action: str = "none"
    transfer_syntax: str = ""
    ocr_ms: float = 0.0
    notes: tuple[str, ...] = field(default=())


def _has_pixel_data(ds: Dataset) -> bool:
    return "PixelData" in ds


def _modality(ds: Dataset) -> str:
    return str(ds.get("Modality", "") or "").strip().upper()


def _frames_to_read(n: int) -> list[int]:
    if n <= MAX_OCR_FRAMES:
        return list(range(n))
    return sorted({round(i * (n - 1) / (MAX_OCR_FRAMES - 1)) for i in range(MAX_OCR_FRAMES)})


def _decode(ds: Dataset, where: str) -> np.ndarray:
    try:
        arr = pixel_array(ds)
        if not arr.dtype.isnative:  # big endian data decoded as is
            return arr.astype(arr.dtype.newbyteorder("="))
        return arr if arr.flags.writeable and arr.flags.owndata else arr.copy()
    except RadprepError:
        raise
    except Exception as e:
        raise PixelDecodeError(
            f"{where}: PixelData (7FE0,0010) cannot be decoded to look for burned-in text "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); check the "
            "transfer syntax decoders"
        ) from e


def _photometric_of_decoded(ds: Dataset, arr: np.ndarray) -> str:
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if int(ds.get("SamplesPerPixel", 1) or 1) == 3 and photometric != "RGB":
        return "RGB"  # pydicom gives YBR_FULL(_422), YBR_ICT and YBR_RCT as RGB
    return photometric


def _darkest(ds: Dataset, arr: np.ndarray) -> int:
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        return int(arr.max())
    return int(arr.min()) if arr.ndim == 2 or arr.shape[-1] != 3 else 0


def _frame_view(arr: np.ndarray, multi: bool) -> np.ndarray:
    return arr if multi else arr[np.newaxis]


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


def store_pixels(new: Dataset, arr: np.ndarray, photometric: str, source_ts: UID) -> str:
    """Store cleaned pixels in `new`, in the source transfer syntax when an encoder allows.

    Native syntaxes are kept (big endian becomes explicit little endian); RLE, JPEG-LS and
    JPEG 2000 are encoded again losslessly (a lossy JPEG-LS or JPEG 2000 source becomes its
    lossless form); other encapsulated syntaxes (JPEG baseline and process 14, HTJ2K) fall
    back to Explicit VR Little Endian.

    Returns
    -------
    str
        The transfer syntax UID used when it differs from `source_ts`, else "".
    """
    bits = int(new.get("BitsStored", 8 * arr.dtype.itemsize) or 8 * arr.dtype.itemsize)
    bits = min(bits, 8 * arr.dtype.itemsize)
    target = source_ts if source_ts in _NATIVE_KEPT else ExplicitVRLittleEndian
    if not source_ts.is_little_endian:
        swap_other_words(new)
    if int(new.get("BitsAllocated", 8) or 8) == 1:  # single bit: packed again, never compressed
        new.file_meta.TransferSyntaxUID = target
        new.PixelData = pack_bits(arr)
        new["PixelData"].VR = "OB"
        return "" if target == source_ts else str(target)
    new.file_meta.TransferSyntaxUID = target
    new.set_pixel_data(arr, photometric, bits, generate_instance_uid=False)
    encoded = _REENCODE.get(str(source_ts))
    if encoded is not None:
        try:
            if encoded == JPEG2000Lossless and photometric == "RGB":
                new.compress(encoded, generate_instance_uid=False, use_mct=False)
            else:
                new.compress(encoded, generate_instance_uid=False)
            target = encoded
        except Exception:
            # No encoder for this bit depth or colour layout: keep the native pixels.
            new.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            new.set_pixel_data(arr, photometric, bits, generate_instance_uid=False)
            target = ExplicitVRLittleEndian
    return "" if target == source_ts else str(target)


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


def apply_pixel_policy(
    ds: Dataset, new: Dataset, config: DeidConfig, *, where: str = ""
) -> PixelOutcome:
    """Look for burned-in text in `ds` and clean it in `new` (changed in place), or say why not.

    Parameters
    ----------
    ds : Dataset
        The original data set (its identifying values are what the text is compared with).
    new : Dataset
        The de-identified copy, with a file meta; its pixels are replaced when cleaned.
    config : DeidConfig
        ``pixel_ocr``, ``pixel_text`` and ``pixel_cleaning`` decide what is done.
    where : str
        The input's name, for error messages.

    Raises
    ------
    PixelDecodeError
        If the pixel data must be looked at and cannot be decoded.
    """
    header_reason = burned_in_reason(ds)
    if not _has_pixel_data(ds):
        if header_reason is not None:  # float pixel data flagged YES: nothing can be read
            return PixelOutcome(reason=header_reason, action="held")
        return PixelOutcome()
    region = find_region(ds, config.pixel_cleaning)
    modality = _modality(ds)
    mode = config.pixel_ocr
    look = mode == "all" or (
        mode == "suspect" and (header_reason is not None or modality in OVERLAY_MODALITIES)
    )
    if not look:
        if mode == "off" and header_reason is not None and region is None:
            return PixelOutcome(reason=header_reason, action="held")
        if region is None:
            return PixelOutcome()
    elif (why := ocr_available()) is not None:
        return PixelOutcome(reason=f"burned-in text cannot be looked for: {why}", action="held")

    if "TransferSyntaxUID" not in (getattr(ds, "file_meta", None) or {}):
        ds = copy.copy(ds)  # decode with the transfer syntax inferred for the output
        ds.file_meta = new.file_meta
    try:
        arr = _decode(ds, where)
    except PixelDecodeError as e:
        missing = [k for k in ("Rows", "Columns", "BitsAllocated") if k not in ds]
        cause = (
            f"the Image Pixel module lacks {', '.join(missing)}"
            if missing
            else (type(e.__cause__).__name__ if e.__cause__ is not None else "no decoder")
        )
        return PixelOutcome(
            reason=f"PixelData (7FE0,0010) cannot be decoded to look for burned-in text ({cause})",
            action="held",
        )
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    multi = n_frames > 1
    rows, cols = arr.shape[1:3] if multi else arr.shape[:2]
    photometric = _photometric_of_decoded(ds, arr)
    notes: list[str] = []
    boxes_done: list[tuple[int, int, int, int]] = []
    phi: tuple[str, ...] = ()
    ms = 0.0
    if not look:
        changed = _blank_regions(ds, arr, multi, region, notes)
    else:
        frames = _frames_to_read(n_frames)
        words, mappers, ms = _read(ds, arr, frames, multi)
        needles = identifying_values(ds)
        found = match_phi(words, needles)
        phi = found.keywords
        clean_all = config.pixel_text == "all" or (
            config.pixel_text == "overlay_modalities"
            and (modality in OVERLAY_MODALITIES or header_reason is not None)
        )
        boxes = _text_boxes(words, found.words) if (phi or clean_all) else []
        changed = _blank_regions(ds, arr, multi, region, notes)
        doubt = False
        for _ in range(CLEAN_ROUNDS):
            if not boxes:
                break
            dilated = [_dilate(b, rows, cols) for b in boxes]
            _fill_boxes(arr, multi, dilated)
            boxes_done += dilated
            changed = True
            again, spent = _read_places(arr, frames, multi, mappers, dilated)
            ms += spent
            left = match_phi(again, needles)
            phi = tuple(sorted(set(phi) | set(left.keywords)))
            boxes = sorted({w.box for w in left.words})
            doubt = bool(boxes)
            if clean_all:
                # Next to cleaned text, fainter words are text too (the rest of a label).
                boxes = sorted(set(boxes) | {w.box for w in again if w.is_faint_text})
                doubt = doubt or any(w.is_text for w in again)
        if doubt:
            return PixelOutcome(
                reason="text is still read where burned-in text was cleaned; review it",
                ocr=True,
                boxes=len(boxes_done),
                phi=phi,
                action="held",
                ocr_ms=ms,
            )
        if boxes:  # only faint words were left after the last round: clean them too
            dilated = [_dilate(b, rows, cols) for b in boxes]
            _fill_boxes(arr, multi, dilated)
            boxes_done += dilated
        flagged = str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES"
        if flagged and not changed:
            return PixelOutcome(
                reason="BurnedInAnnotation (0028,0301) is YES and no text was found to clean",
                ocr=True,
                action="held",
                ocr_ms=ms,
            )
    if not changed:
        return PixelOutcome(ocr=look, action="unchanged" if look else "none", ocr_ms=ms)
    try:
        ts = UID(str(new.file_meta.get("TransferSyntaxUID") or ExplicitVRLittleEndian))
        load_deferred(new, ds)  # large values the reader left in the source file
        new_ts = store_pixels(new, arr, photometric, ts)
    except (ValueError, TypeError, NotImplementedError, AttributeError) as e:
        return PixelOutcome(
            reason=f"the cleaned pixels cannot be stored ({type(e).__name__}); review the image",
            ocr=look,
            boxes=len(boxes_done),
            phi=phi,
            action="held",
            ocr_ms=ms,
        )
    new.BurnedInAnnotation = "NO"
    return PixelOutcome(
        cleaned=True,
        ocr=look,
        boxes=len(boxes_done),
        phi=phi,
        action="cleaned",
        transfer_syntax=new_ts,
        ocr_ms=ms,
        notes=tuple(notes),
    )
