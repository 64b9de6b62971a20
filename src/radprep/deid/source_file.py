"""Read one file to de-identify, and refuse one whose data set or pixel data is cut short."""

from __future__ import annotations

import os
import struct
import warnings
from functools import lru_cache
from pathlib import Path

import pydicom
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.tag import BaseTag
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from radprep.deid.naming import joined, single_uid
from radprep.deid.writer import scan_encapsulated
from radprep.errors import PixelDecodeError, RadprepError, TruncatedFileError
from radprep.io.dicom import read_header

__all__ = ["check_complete", "read_source", "transfer_syntax"]

_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # PixelData, Float and Double Float
# Values larger than this are left in the source file and copied when written.
_DEFER_BYTES = 256 * 1024


def transfer_syntax(ds: Dataset) -> UID:
    """The transfer syntax of the file meta when it is one valid UID that matches the data set's
    encoding as read; else the native syntax of that encoding. Nothing else of the input's file
    meta is used."""
    implicit, little = getattr(ds, "original_encoding", (False, True))
    if implicit:
        native = ImplicitVRLittleEndian
    else:
        native = ExplicitVRLittleEndian if little in (True, None) else ExplicitVRBigEndian
    fm = getattr(ds, "file_meta", None)
    ts = single_uid(joined(fm, "TransferSyntaxUID")) if fm is not None else None
    if ts is None:
        return native
    return _checked_syntax(ts, bool(implicit), little in (True, None), native)


@lru_cache(maxsize=256)
def _checked_syntax(ts: str, implicit: bool, little: bool, native: UID) -> UID:
    uid = UID(ts)
    if uid.is_transfer_syntax and (uid.is_implicit_VR, uid.is_little_endian) != (implicit, little):
        return native  # the meta says one encoding, the data set was read in another
    return uid


def read_source(src: Path) -> Dataset:
    """Read a whole file; values over 256 KiB stay in the file (read or copied when needed)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            try:
                ds = pydicom.dcmread(src, defer_size=_DEFER_BYTES)
                force = False
            except InvalidDicomError:
                read_header(src)  # NotDicomError for what is not DICOM at all
                ds = pydicom.dcmread(src, defer_size=_DEFER_BYTES, force=True)
                force = True
            if transfer_syntax(ds).is_deflated:
                # A deflated data set's offsets are those of the inflated stream, not of the
                # file: nothing can be left in the file to copy later.
                ds = pydicom.dcmread(src, force=force)
            return ds
    except RadprepError:
        raise
    except OSError:
        read_header(src)  # the one-line error for a missing or unreadable file
        raise
    except Exception as e:
        read_header(src)  # a bad header gets its own message
        raise TruncatedFileError(
            f"{src}: the file ends inside its pixel data or cannot be parsed to its end "
            f"({type(e).__name__}); it was probably cut off in transfer"
        ) from e


_IMAGE_KEYWORDS = ("Rows", "Columns", "BitsAllocated")
_JPEG_FAMILY = frozenset(
    {
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.57",
        "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.80",
        "1.2.840.10008.1.2.4.81",
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.4.201",
        "1.2.840.10008.1.2.4.202",
        "1.2.840.10008.1.2.4.203",
    }
)
_RLE = "1.2.840.10008.1.2.5"
_SOI = (b"\xff\xd8", b"\xff\x4f", b"\x00\x00\x00\x0cjP  ")  # JPEG, J2K codestream, JP2 file


def _keyword_of(tag: int) -> str:
    try:
        keyword = keyword_for_tag(tag)
    except Exception:  # pragma: no cover - odd repeater tags
        keyword = ""
    return f"{keyword} " if keyword else ""


def _truncated(src: Path, what: str) -> TruncatedFileError:
    return TruncatedFileError(f"{src}: {what}; the file was probably cut off in transfer")


def check_complete(ds: Dataset, src: Path, size: int) -> None:
    """Refuse a file whose data set or pixel data ends early, or whose pixel data is broken.

    pydicom reads a cut-off file without an error (the elements before the cut, or nothing);
    this looks at what it read against the file and the image attributes: nothing may be
    written from such a file.
    """
    deflated = transfer_syntax(ds).is_deflated
    if len(ds) == 0:
        raise _truncated(
            src,
            "no data set follows the file meta (a wrong length in the file meta can swallow it)",
        )
    for elem in ds._dict.values():
        if isinstance(elem, RawDataElement) and elem.length != 0xFFFFFFFF:
            short = elem.value is not None and len(elem.value) < elem.length
            if short or (not deflated and elem.value_tell + elem.length > size):
                name = _keyword_of(elem.tag)
                raise _truncated(
                    src,
                    f"{name}({elem.tag >> 16:04X},{elem.tag & 0xFFFF:04X}) holds "
                    f"{elem.length} bytes by its length field but the file ends before them",
                )
    pixel = next((ds._dict.get(BaseTag(t)) for t in _PIXEL_TAGS if t in ds._dict), None)
    if pixel is None:
        if all(k in ds for k in _IMAGE_KEYWORDS):
            raise _truncated(
                src, "it has Rows, Columns and BitsAllocated but no PixelData (7FE0,0010)"
            )
        return
    ts = transfer_syntax(ds)
    if ts.is_encapsulated and isinstance(pixel, RawDataElement) and not deflated:
        _check_encapsulated(ds, pixel, ts, src, size)
    elif not ts.is_encapsulated:
        _check_pixel_length(ds, src, pixel)


def _check_pixel_length(ds: Dataset, src: Path, pixel: object) -> None:
    """Refuse native pixel data shorter than the image it describes (a truncated file)."""
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.BitsAllocated)
        if isinstance(pixel, RawDataElement):
            actual = pixel.length
        else:
            actual = len(ds.get_item(0x7FE00010).value or b"")
    except (AttributeError, KeyError, TypeError, ValueError):
        return  # the header cannot say; nothing to compare with
    if str(ds.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
        samples = 2  # PS3.3 C.7.6.3.1.2: two chroma samples per pair of pixels
    expected = (rows * cols * frames * samples * bits + 7) // 8
    if 0 < actual < expected:
        raise TruncatedFileError(
            f"{src}: PixelData (7FE0,0010) holds {actual} bytes where Rows, Columns, "
            f"NumberOfFrames, SamplesPerPixel and BitsAllocated need {expected}; the file was "
            "probably cut off in transfer"
        )


def _check_encapsulated(ds: Dataset, pixel: RawDataElement, ts: UID, src: Path, size: int) -> None:
    """Check encapsulated pixel data (PS3.5 A.4): whole items, the delimiter, codec markers."""
    found = scan_encapsulated(src, pixel.value_tell, bool(pixel.is_little_endian))
    if not found.complete:
        raise _truncated(
            src,
            "its encapsulated PixelData (7FE0,0010) ends inside an item or without its "
            "sequence delimiter",
        )
    frames = found.items[1:]  # the first item is the Basic Offset Table
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if len(frames) < n_frames:
        raise _truncated(
            src,
            f"its encapsulated PixelData (7FE0,0010) holds {len(frames)} fragment(s) for "
            f"{n_frames} frame(s)",
        )
    with open(src, "rb") as fh:
        fd = fh.fileno()
        if str(ts) in _JPEG_FAMILY:
            first = os.pread(fd, 12, frames[0][0])
            start, length = frames[-1]
            # The end marker, then at most a byte or two of padding (00 or FF).
            last = os.pread(fd, min(length, 8), start + length - min(length, 8))
            if not first.startswith(_SOI) or not last.rstrip(b"\x00\xff").endswith(b"\xff\xd9"):
                raise PixelDecodeError(
                    f"{src}: the {ts.name} codestream in PixelData (7FE0,0010) does not start "
                    "with its start marker or does not end with its end marker (FFD9): it is "
                    "cut short or damaged and cannot be decoded"
                )
        elif str(ts) == _RLE:
            for start, length in frames:
                header = os.pread(fd, 64, start) if length >= 64 else b""
                count = struct.unpack_from("<L", header)[0] if header else 0
                used = struct.unpack_from("<15L", header, 4)[:count] if header else ()
                if not 1 <= count <= 15 or any(o >= length or o < 64 for o in used):
                    raise PixelDecodeError(
                        f"{src}: an RLE frame in PixelData (7FE0,0010) has a bad header (PS3.5 "
                        "G.5): it is cut short or damaged and cannot be decoded"
                    )
