"""Map what a DICOM parser or pixel decoder raised to the documented :mod:`radprep.errors` type.

By type first: pydicom's ``BytesLengthException``, ``EOFError``, ``struct.error``,
``RecursionError``, ``MemoryError``, imagecodecs' ``*Error`` classes; then by what the file
itself shows (a native file shorter than its pixels need, an encapsulated stream cut inside a
fragment or without its Sequence Delimitation Item). Message text is read only where a library
raises a bare builtin that says nothing by its type, and each such place says which:

- pydicom raises a bare ``NotImplementedError`` for an unknown VR and a bare ``AttributeError``
  for a data set without pixel data or with an incomplete Image Pixel module;
- pydicom's native decoder raises a bare ``ValueError`` when the pixel data is shorter than the
  header says, numpy a bare ``ValueError`` when a buffer cannot be reshaped, and pylibjpeg's
  decoders (openjpeg, libjpeg, rle) a bare ``RuntimeError`` or ``ValueError`` for any failure;
- the header parser raises bare ``OSError`` / ``ValueError`` for a file that ends early.
"""

from __future__ import annotations

import os
from struct import error as struct_error
from typing import TYPE_CHECKING

from radprep.errors import (
    CorruptFileError,
    DecoderMissingError,
    InputError,
    InvalidAttributeError,
    NoPixelDataError,
    PixelDecodeError,
    SizeLimitError,
    TruncatedFileError,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset
    from pydicom.uid import UID

__all__ = [
    "boundary_error",
    "check_decoder",
    "encapsulated_end",
    "header_error",
    "no_pixels",
    "one_line",
    "pixel_error",
]

# Which pip package decodes each compressed family (named in DecoderMissingError).
_DECODER_PACKAGES = {
    "High-Throughput JPEG 2000": "imagecodecs",
    "JPEG 2000": "pylibjpeg-openjpeg",
    "JPEG-LS": "pylibjpeg-libjpeg",
    "JPEG": "pylibjpeg-libjpeg",
    "RLE": "pylibjpeg-rle",
    "Deflated": "(built in)",
}

# What bare builtins say when a stream ends early (read only for bare builtins, see above).
_CUT_SHORT = ("eof", "end of file", "truncat", "shorter than", "insufficient", "less than expected")
_CUT_PIXELS = (*_CUT_SHORT, "expected length", "cannot reshape", "multiple of element size")
_BARE = (ValueError, RuntimeError, OSError, AttributeError, NotImplementedError, IndexError)


def one_line(e: BaseException) -> str:
    """Return an exception's text on one line (its type name when it has none), at most 300."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _bare(e: BaseException) -> bool:
    """True for an exception of exactly a builtin type (one that says nothing by its type)."""
    return type(e) in _BARE


def header_error(e: BaseException, where: str) -> InputError:
    """The documented error for an exception the DICOM parser raised on a file's header.

    pydicom parses lazily, so these surface when a value is first touched as well as in
    ``dcmread``: an unknown VR (``NotImplementedError``), a value whose length does not fit its
    VR (``BytesLengthException``), sequences nested past the recursion limit; a file that ends
    early is the only case called truncated.
    """
    from pydicom.errors import BytesLengthException

    msg = one_line(e)
    if isinstance(e, RecursionError):
        return CorruptFileError(
            f"{where}: sequences are nested too deeply to parse ({msg}); the header is corrupt"
        )
    if isinstance(e, BytesLengthException):
        return CorruptFileError(
            f"{where}: a header value does not fit its VR ({msg}); the header is corrupt"
        )
    if _unknown_vr(e):
        return CorruptFileError(f"{where}: {msg}; the header is corrupt")
    if isinstance(e, (EOFError, struct_error)) or (
        _bare(e) and any(k in msg.lower() for k in _CUT_SHORT)
    ):
        return TruncatedFileError(
            f"{where}: the file ends inside its header ({msg}); it was probably cut off in transfer"
        )
    return CorruptFileError(f"{where}: the header cannot be parsed ({type(e).__name__}: {msg})")


def _unknown_vr(e: BaseException) -> bool:
    # pydicom: a bare NotImplementedError("Unknown Value Representation ...").
    return type(e) is NotImplementedError and "value representation" in str(e).lower()


def boundary_error(e: BaseException, where: str, stage: str) -> InputError:
    """The documented error for anything else that escaped reading one file, by stage."""
    from pydicom.errors import BytesLengthException

    msg = one_line(e)
    if isinstance(e, MemoryError):
        return SizeLimitError(
            f"{where}: out of memory while reading ({stage}); the file asks for more than this "
            "machine has"
        )
    if isinstance(e, (RecursionError, BytesLengthException)) or _unknown_vr(e):
        return header_error(e, where)
    if stage == "pixels":
        return PixelDecodeError(
            f"{where}: the pixel data could not be decoded ({type(e).__name__}: {msg})"
        )
    if stage == "header":
        return header_error(e, where)
    return InvalidAttributeError(
        f"{where}: the header's image attributes cannot be used ({type(e).__name__}: {msg}); "
        "fix the header"
    )


def no_pixels(ds: Dataset, where: str) -> InputError:
    """No pixel data: a cut-off image file, or an object that has none (a report, a plan)."""
    from pydicom.uid import UID

    kind = UID(str(ds.get("SOPClassUID", "") or "")).name or "unknown SOP class"
    # pydicom stops quietly when a file ends between two elements; a header that describes
    # pixels (the Image Pixel module: Rows, Columns) without having them was cut off. Instances
    # stripped on purpose (DICOMDIR test trees) drop the module too.
    if "Rows" in ds and "Columns" in ds:
        return TruncatedFileError(
            f"{where}: the file ends before its PixelData (7FE0,0010) although its header "
            f"describes an image ({kind}); it was probably cut off in transfer"
        )
    return NoPixelDataError(
        f"{where}: no PixelData (7FE0,0010) in this {ds.get('Modality', '') or 'DICOM'} "
        f"object ({kind}); nothing to convert"
    )


def check_decoder(ts: UID, where: str) -> None:
    """Raise :class:`DecoderMissingError` when no installed plugin decodes `ts`."""
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(ts)
    except NotImplementedError:  # pydicom's documented "no decoder for this syntax"
        raise DecoderMissingError(
            f"{where}: no decoder exists in pydicom for TransferSyntaxUID (0002,0010) "
            f"{ts.name} ({ts}); convert the file with another tool first"
        ) from None
    if not decoder.is_available:
        family = next((k for k in _DECODER_PACKAGES if k in ts.name), "")
        package = _DECODER_PACKAGES.get(family, "pylibjpeg")
        raise DecoderMissingError(
            f"{where}: no installed decoder for TransferSyntaxUID (0002,0010) {ts.name} ({ts}); "
            f"pip install {package} (or 'radprep[gdcm]')"
        )


def pixel_error(
    e: BaseException, path: str | os.PathLike[str], ds: Dataset, ts: UID, where: str
) -> InputError:
    """The documented error for an exception a pixel decoder raised on one file."""
    msg = one_line(e)
    if isinstance(e, AttributeError) and type(e) is AttributeError:
        # pydicom: a bare AttributeError for "no pixel data" and "missing required element".
        if "no pixel data" in msg.lower():
            return no_pixels(ds, where)
        if "missing required element" in msg.lower():
            return InvalidAttributeError(
                f"{where}: the Image Pixel module is incomplete ({msg}); "
                "the pixel data cannot be interpreted"
            )
    check_decoder(ts, where)
    cut = isinstance(e, (EOFError, struct_error)) or _native_too_short(path, ds, ts)
    if cut or (_bare(e) and any(s in msg.lower() for s in _CUT_PIXELS)):
        return TruncatedFileError(
            f"{where}: the pixel data is shorter than Rows x Columns x frames x BitsAllocated "
            f"requires ({msg}); the file was probably cut off in transfer"
        )
    if encapsulated_end(path, ts) != "closed":
        return TruncatedFileError(
            f"{where}: the file ends inside its encapsulated Pixel Data (7FE0,0010), with no "
            f"Sequence Delimitation Item, and the {ts.name} data cannot be decoded ({msg}); "
            "it was probably cut off in transfer"
        )
    return PixelDecodeError(f"{where}: {ts.name} pixel data could not be decoded ({msg})")


def _native_too_short(path: str | os.PathLike[str], ds: Dataset, ts: UID) -> bool:
    """True when an uncompressed file's pixel data is shorter than its header says it needs."""
    if ts.is_compressed:
        return False
    try:
        needed = (
            int(ds.Rows)
            * int(ds.Columns)
            * int(ds.get("NumberOfFrames") or 1)
            * int(ds.get("SamplesPerPixel", 1))
            * int(ds.BitsAllocated)
            // 8
        )
        data = ds.get("PixelData") if "PixelData" in ds else None
        if isinstance(data, bytes):
            return len(data) < needed
        return os.path.getsize(path) < needed
    except (AttributeError, TypeError, ValueError, OSError):
        return False


_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"  # (FFFE,E0DD), length 0, LE


def encapsulated_end(path: str | os.PathLike[str], ts: UID) -> str:
    """How a compressed file's encapsulated Pixel Data ends (PS3.5 A.4).

    ``"closed"``: with its Sequence Delimitation Item (or the file is not encapsulated);
    ``"unclosed"``: without it, but the last fragment ends with a JPEG / JPEG-LS EOI or a
    JPEG 2000 EOC marker (FFD9), so every frame is whole; ``"cut"``: the file stops inside a
    fragment.
    """
    from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

    if not ts.is_compressed or ts == DeflatedExplicitVRLittleEndian:
        return "closed"
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            # The last MiB (elements may follow the pixel data: trailing padding, private
            # groups), searched after the Pixel Data tag when it is in there: the header's own
            # sequences end with the same delimiter.
            fh.seek(max(0, size - (1 << 20)))
            tail = fh.read()
    except OSError:
        return "closed"
    start = tail.rfind(b"\xe0\x7f\x10\x00")
    if _SEQUENCE_DELIMITER in tail[max(start, 0) :]:
        return "closed"
    is_rle = ts == UID("1.2.840.10008.1.2.5")  # RLE has no end marker
    return "unclosed" if not is_rle and tail.rstrip(b"\x00").endswith(b"\xff\xd9") else "cut"
