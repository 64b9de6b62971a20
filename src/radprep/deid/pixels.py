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
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from radprep.deid.config import DeidConfig, PixelRegion
from radprep.deid.ocr import identifying_values, match_phi, ocr_available
from radprep.deid.pixel_store import _decode, _photometric_of_decoded, store_pixels
from radprep.deid.text_boxes import (
    Box,
    _blank_regions,
    _dilate,
    _fill_boxes,
    _modality,
    _read,
    _read_places,
    _text_boxes,
)
from radprep.deid.writer import load_deferred
from radprep.errors import PixelDecodeError

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
# Clean, read again, clean what is still read: at most this many rounds, then hold.
CLEAN_ROUNDS = 3

_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)


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


def _frames_to_read(n: int) -> list[int]:
    if n <= MAX_OCR_FRAMES:
        return list(range(n))
    return sorted({round(i * (n - 1) / (MAX_OCR_FRAMES - 1)) for i in range(MAX_OCR_FRAMES)})


@dataclass
class _Work:
    """The decoded pixels of one image and what cleaning them has done so far."""

    arr: np.ndarray
    multi: bool
    notes: list[str] = field(default_factory=list)
    boxes_done: list[Box] = field(default_factory=list)
    phi: tuple[str, ...] = ()
    ms: float = 0.0
    changed: bool = False

    def fill(self, boxes: list[Box]) -> list[Box]:
        """Grow `boxes`, fill them in every frame; return the grown boxes."""
        rows, cols = self.arr.shape[1:3] if self.multi else self.arr.shape[:2]
        dilated = [_dilate(b, rows, cols) for b in boxes]
        _fill_boxes(self.arr, self.multi, dilated)
        self.boxes_done += dilated
        return dilated


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
    look = _looks(ds, config, header_reason)
    if not look:
        if config.pixel_ocr == "off" and header_reason is not None and region is None:
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
        return _undecodable(ds, e)
    work = _Work(arr, int(ds.get("NumberOfFrames", 1) or 1) > 1)
    photometric = _photometric_of_decoded(ds, arr)
    if not look:
        work.changed = _blank_regions(ds, arr, work.multi, region, work.notes)
    elif (held := _look_and_clean(ds, work, config, header_reason, region)) is not None:
        return held
    if not work.changed:
        return PixelOutcome(ocr=look, action="unchanged" if look else "none", ocr_ms=work.ms)
    return _store(ds, new, work, photometric, look)


def _looks(ds: Dataset, config: DeidConfig, header_reason: str | None) -> bool:
    """Whether OCR reads this image under ``pixel_ocr``."""
    mode = config.pixel_ocr
    return mode == "all" or (
        mode == "suspect" and (header_reason is not None or _modality(ds) in OVERLAY_MODALITIES)
    )


def _undecodable(ds: Dataset, e: PixelDecodeError) -> PixelOutcome:
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


def _look_and_clean(
    ds: Dataset,
    work: _Work,
    config: DeidConfig,
    header_reason: str | None,
    region: PixelRegion | None,
) -> PixelOutcome | None:
    """Read the text, clean what the policy says and read again; the outcome when held."""
    frames = _frames_to_read(int(ds.get("NumberOfFrames", 1) or 1))
    words, mappers, work.ms = _read(ds, work.arr, frames, work.multi)
    needles = identifying_values(ds)
    found = match_phi(words, needles)
    work.phi = found.keywords
    clean_all = config.pixel_text == "all" or (
        config.pixel_text == "overlay_modalities"
        and (_modality(ds) in OVERLAY_MODALITIES or header_reason is not None)
    )
    boxes = _text_boxes(words, found.words) if (work.phi or clean_all) else []
    work.changed = _blank_regions(ds, work.arr, work.multi, region, work.notes)
    doubt = False
    for _ in range(CLEAN_ROUNDS):
        if not boxes:
            break
        dilated = work.fill(boxes)
        work.changed = True
        again, spent = _read_places(work.arr, frames, work.multi, mappers, dilated)
        work.ms += spent
        left = match_phi(again, needles)
        work.phi = tuple(sorted(set(work.phi) | set(left.keywords)))
        boxes = sorted({w.box for w in left.words})
        doubt = bool(boxes)
        if clean_all:
            # Next to cleaned text, fainter words are text too (the rest of a label).
            boxes = sorted(set(boxes) | {w.box for w in again if w.is_faint_text})
            doubt = doubt or any(w.is_text for w in again)
    return _after_rounds(ds, work, boxes, doubt)


def _after_rounds(ds: Dataset, work: _Work, boxes: list[Box], doubt: bool) -> PixelOutcome | None:
    if doubt:
        return PixelOutcome(
            reason="text is still read where burned-in text was cleaned; review it",
            ocr=True,
            boxes=len(work.boxes_done),
            phi=work.phi,
            action="held",
            ocr_ms=work.ms,
        )
    if boxes:  # only faint words were left after the last round: clean them too
        work.fill(boxes)
    flagged = str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES"
    if flagged and not work.changed:
        return PixelOutcome(
            reason="BurnedInAnnotation (0028,0301) is YES and no text was found to clean",
            ocr=True,
            action="held",
            ocr_ms=work.ms,
        )
    return None


def _store(ds: Dataset, new: Dataset, work: _Work, photometric: str, look: bool) -> PixelOutcome:
    """Store the cleaned pixels in `new` and mark it BurnedInAnnotation NO; held if they
    cannot be stored."""
    try:
        ts = UID(str(new.file_meta.get("TransferSyntaxUID") or ExplicitVRLittleEndian))
        load_deferred(new, ds)  # large values the reader left in the source file
        new_ts = store_pixels(new, work.arr, photometric, ts)
    except (ValueError, TypeError, NotImplementedError, AttributeError) as e:
        return PixelOutcome(
            reason=f"the cleaned pixels cannot be stored ({type(e).__name__}); review the image",
            ocr=look,
            boxes=len(work.boxes_done),
            phi=work.phi,
            action="held",
            ocr_ms=work.ms,
        )
    new.BurnedInAnnotation = "NO"
    return PixelOutcome(
        cleaned=True,
        ocr=look,
        boxes=len(work.boxes_done),
        phi=work.phi,
        action="cleaned",
        transfer_syntax=new_ts,
        ocr_ms=work.ms,
        notes=tuple(work.notes),
    )
