"""Read one DICOM file into an :class:`~radprep.image.Image`, or fail with a one-line reason.

Pixels are decoded by pydicom and its plugins (pylibjpeg for JPEG, JPEG-LS, JPEG 2000 and RLE;
python-gdcm when installed as a fallback). The header is parsed once without pixel data, and the
pixels are decoded straight from the file (pydicom's memory-efficient path), only the frames
asked for.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Sequence
from struct import error as struct_error
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_decoder
from pydicom.pixels import pixel_array as _pixel_array
from pydicom.pixels.processing import apply_color_lut
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from radprep._dicom import functional_group_value
from radprep._limits import format_bytes, max_decoded_bytes, set_max_decoded_bytes
from radprep.errors import (
    CorruptFileError,
    DecoderMissingError,
    InputError,
    InvalidAttributeError,
    NoPixelDataError,
    NotDicomError,
    PixelDecodeError,
    RadprepError,
    RadprepWarning,
    SizeLimitError,
    SpecError,
    TruncatedFileError,
)
from radprep.geometry import Geometry
from radprep.image import LUT, AppliedStep, Image, ImageMeta
from radprep.intensity._lut import apply_pointwise, tabulable
from radprep.intensity.modality import apply_modality, is_identity_modality
from radprep.intensity.window import VOI, OutDtype, apply_voi, display_function, resolve_voi

__all__ = [
    "boundary_error",
    "decode_stored",
    "geometry_from_dataset",
    "header_error",
    "meta_from_dataset",
    "read_dicom",
    "read_header",
    "set_max_decoded_bytes",
]

PathLike = str | os.PathLike[str]
Frames = int | Sequence[int] | None

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

# Which pip package decodes each compressed family (named in DecoderMissingError).
_DECODER_PACKAGES = {
    "JPEG 2000": "pylibjpeg-openjpeg",
    "JPEG-LS": "pylibjpeg-libjpeg",
    "JPEG": "pylibjpeg-libjpeg",
    "RLE": "pylibjpeg-rle",
    "Deflated": "(built in)",
}


def _where(path: PathLike) -> str:
    return os.fspath(path)


def read_header(path: PathLike, *, specific_tags: Sequence[int] | None = None) -> Dataset:
    """Parse a DICOM file's data set without its pixel data.

    Files with no 128-byte preamble are accepted when what follows is plainly a DICOM data set.

    Parameters
    ----------
    path : str or PathLike
        The file.
    specific_tags : sequence of int, optional
        Parse only these elements (much faster for indexing); the pixel data element, when it is
        among them, is noted but its value is not read.

    Raises
    ------
    NotDicomError
        If the file is not DICOM.
    TruncatedFileError
        If the file ends inside its header.
    InputError
        If the file cannot be opened.
    """
    kwargs: dict[str, Any] = (
        {"stop_before_pixels": True}
        if specific_tags is None
        else {"specific_tags": list(specific_tags), "defer_size": 256}
    )
    if specific_tags is None:
        return _read(path, kwargs)
    ds = _read(path, kwargs, check_empty=False)
    if len(ds) == 0:
        # pydicom drops the whole data set when a file ends inside an encapsulated pixel
        # sequence; a header-only parse still reads such a file's header.
        ds = _read(path, {"stop_before_pixels": True})
    return ds


_DEFLATED_UID = str(DeflatedExplicitVRLittleEndian).encode()


def _check_deflated_size(path: PathLike, where: str) -> None:
    """Refuse a deflated data set that inflates past the decoded-size limit.

    pydicom inflates a deflated body in one piece before parsing it, and holds it two or three
    times over while parsing, so a 1 MB stream of zeros would cost gigabytes. The stream is
    inflated here first in bounded chunks, counting bytes and keeping none; it may inflate to
    1/16 of the decoded-size limit (256 MiB by default), which keeps the peak memory of reading
    it under 1 GB.
    """
    import zlib

    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
            if _DEFLATED_UID not in head:
                return
            from pydicom.filereader import _read_file_meta_info as read_meta
            from pydicom.filereader import read_preamble

            fh.seek(0)
            read_preamble(fh, False)
            meta = read_meta(fh)
            if str(meta.get("TransferSyntaxUID", "")) != str(DeflatedExplicitVRLittleEndian):
                return
            limit = max_decoded_bytes() // 16
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            total = 0
            while chunk := fh.read(1 << 16):
                while chunk:
                    total += len(inflater.decompress(chunk, 1 << 20))
                    chunk = inflater.unconsumed_tail
                    if total > limit:
                        raise SizeLimitError(
                            f"{where}: the deflated data set inflates past "
                            f"{format_bytes(limit)}, 1/16 of the decoded-size limit (a deflate "
                            "bomb, or a huge image); raise RADPREP_MAX_DECODED_BYTES if the file "
                            "is genuine"
                        )
    except RadprepError:
        raise
    except Exception:
        return  # unreadable or not a well-formed deflated file: the parser says what is wrong


def _check_decoded_size(meta: ImageMeta, n_frames: int, where: str) -> None:
    """Refuse, before decoding, an image whose header asks for more than the limit."""
    bytes_per_sample = max(1, (meta.bits_allocated + 7) // 8)
    samples = 3 if meta.photometric_interpretation == "PALETTE COLOR" else meta.samples_per_pixel
    needed = meta.rows * meta.columns * max(n_frames, 1) * max(samples, 1) * bytes_per_sample
    # Modality and display values are float32: a narrower stored type grows on the way.
    needed = needed * max(1, 4 // bytes_per_sample)
    limit = max_decoded_bytes()
    if needed > limit:
        raise SizeLimitError(
            f"{where}: Rows (0028,0010) {meta.rows} x Columns (0028,0011) {meta.columns} x "
            f"{n_frames} frame(s) x {samples} sample(s) need {format_bytes(needed)} decoded, "
            f"past the decoded-size limit of {format_bytes(limit)}; raise "
            "RADPREP_MAX_DECODED_BYTES if the file is genuine"
        )


def _read(path: PathLike, kwargs: dict[str, Any], *, check_empty: bool = True) -> Dataset:
    where = _where(path)
    _check_deflated_size(path, where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ds = pydicom.dcmread(path, **kwargs)
        if check_empty and len(ds) == 0:
            if _has_body(path, ds):
                raise CorruptFileError(
                    f"{where}: the data set after the File Meta Information cannot be parsed "
                    "(its transfer syntax or first element is corrupt)"
                )
            raise TruncatedFileError(
                f"{where}: the file ends after its File Meta Information, before any data "
                "element; it was probably cut off in transfer"
            )
        return ds
    except RadprepError:
        raise
    except InvalidDicomError:
        bare = _read_without_preamble(path, kwargs)
        if bare is None:
            raise NotDicomError(
                f"{where}: not a DICOM file (no 'DICM' marker and no readable data set); "
                "skip it or check the export"
            ) from None
        return bare
    except (EOFError, OSError) as e:
        if isinstance(e, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise InputError(f"{where}: cannot open ({e.strerror or e})") from e
        raise TruncatedFileError(
            f"{where}: the file ends inside its header ({_one_line(e)}); "
            "it was probably cut off in transfer"
        ) from e
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # pydicom raises many types on corrupt headers
        raise header_error(e, where) from e


def _has_body(path: PathLike, ds: Dataset) -> bool:
    """True when bytes follow the File Meta Information (so the file was not cut after it)."""
    try:
        group_length = int(ds.file_meta.get("FileMetaInformationGroupLength") or 0)
        return os.path.getsize(path) > 128 + 4 + 12 + group_length + 8
    except (AttributeError, TypeError, ValueError, OSError):
        return False


def _read_without_preamble(path: PathLike, kwargs: dict[str, Any]) -> Dataset | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True, **kwargs)
            # Touch the elements: force=True parses lazily and garbage surfaces here.
            plausible = any(
                k in ds for k in ("SOPClassUID", "Modality", "Rows", "StudyInstanceUID")
            )
            rows = ds.get("Rows") if plausible else None
    except Exception:
        return None
    if not plausible or (rows is not None and not isinstance(rows, int)):
        return None
    return ds


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 300 else text[:297] + "..."


_CUT_SHORT = ("eof", "end of file", "truncat", "shorter than", "insufficient", "less than expected")


def header_error(e: BaseException, where: str) -> InputError:
    """The documented error for an exception the DICOM parser raised on a file's header.

    pydicom parses lazily, so these surface when a value is first touched as well as in
    ``dcmread``: an unknown VR (``NotImplementedError``), a value whose length does not fit its
    VR (``BytesLengthException``), sequences nested past the recursion limit; a file that ends
    early is the only case called truncated.
    """
    from pydicom.errors import BytesLengthException

    msg = _one_line(e)
    if isinstance(e, RecursionError):
        return CorruptFileError(
            f"{where}: sequences are nested too deeply to parse ({msg}); the header is corrupt"
        )
    if isinstance(e, BytesLengthException):
        return CorruptFileError(
            f"{where}: a header value does not fit its VR ({msg}); the header is corrupt"
        )
    if isinstance(e, NotImplementedError) and "value representation" in msg.lower():
        return CorruptFileError(f"{where}: {msg}; the header is corrupt")
    if isinstance(e, (EOFError, struct_error)) or any(k in msg.lower() for k in _CUT_SHORT):
        return TruncatedFileError(
            f"{where}: the file ends inside its header ({msg}); it was probably cut off in transfer"
        )
    return CorruptFileError(f"{where}: the header cannot be parsed ({type(e).__name__}: {msg})")


def _tsyntax(ds: Dataset) -> UID:
    fm = getattr(ds, "file_meta", None)
    ts = fm.get("TransferSyntaxUID") if fm is not None else None
    if ts is None:
        # No file meta: pydicom worked out the encoding while parsing.
        implicit, little = ds.original_encoding
        if implicit:
            return UID("1.2.840.10008.1.2")
        return UID("1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2")
    if not isinstance(ts, str):
        raise CorruptFileError(
            f"TransferSyntaxUID (0002,0010) is {ts!r}, not a UID string; the File Meta "
            "Information is corrupt"
        )
    return UID(ts)


_fg_value = functional_group_value


def _floats(value: Any) -> tuple[float, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return tuple(float(v) for v in value if v != "" and v is not None)
    return (float(value),)


def _strings(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return tuple(str(v) for v in value)
    return (str(value),)


def _lut_from_item(item: Dataset, ds: Dataset, what: str = "LUT") -> LUT:
    raw_desc = item.LUTDescriptor
    desc = [int(v) for v in (raw_desc if isinstance(raw_desc, Sequence) else [raw_desc])]
    elem = item["LUTData"]
    n_data = (
        0
        if elem.value is None
        else (len(elem.value) if isinstance(elem.value, (bytes, Sequence)) else 1)
    )
    if len(desc) != 3 or not 1 <= desc[2] <= 16 or n_data == 0:
        # PS3.3 C.11.1.1.1, C.11.2.1.1: three descriptor values, up to 16 bits per entry, data.
        raise InvalidAttributeError(
            f"{what} has LUTDescriptor (0028,3002) {desc} and {n_data} LUTData "
            "(0028,3006) value(s); a LUT needs three descriptor values, 1 to 16 bits per entry "
            "and its data"
        )
    if elem.VR == "OW" or isinstance(elem.value, bytes):
        little = _tsyntax(ds) != UID("1.2.840.10008.1.2.2")
        data = np.frombuffer(elem.value, dtype="<u2" if little else ">u2").astype(np.uint16)
    else:
        vals = (
            elem.value
            if isinstance(elem.value, (list, pydicom.multival.MultiValue))
            else [elem.value]
        )
        data = np.asarray([int(v) for v in vals], dtype=np.int64)
        data = (data & 0xFFFF).astype(np.uint16)
    # PS3.3 C.11.1.1: the first descriptor value is the entry count (0 means 65536); the
    # second is US or SS depending on the pixel representation (pydicom gives it unsigned).
    first = desc[1]
    if ds.get("PixelRepresentation", 0) == 1 and first > 32767:
        first -= 65536
    if desc[2] == 8 and data.size and int(data.max()) > 255:
        raise InvalidAttributeError(
            f"{what} has values up to {int(data.max())} but its LUTDescriptor (0028,3002) says "
            "8 bits per entry; the LUT does not fit"
        )
    return LUT((desc[0], first, desc[2]), data, str(item.get("LUTExplanation", "") or ""))


def meta_from_dataset(ds: Dataset, *, frame: int = 0) -> ImageMeta:
    """Return the :class:`ImageMeta` of a data set (header only; no pixel data needed)."""
    ts = _tsyntax(ds)
    voi_seq = _fg_value(ds, "FrameVOILUTSequence", "VOILUTSequence", frame) or ds.get(
        "VOILUTSequence"
    )
    voi_luts = tuple(
        _lut_from_item(item, ds, f"VOILUTSequence (0028,3010) item {i}")
        for i, item in enumerate(voi_seq or [])
        if "LUTDescriptor" in item and "LUTData" in item
    )
    mlut_seq = ds.get("ModalityLUTSequence")
    mlut = (
        _lut_from_item(mlut_seq[0], ds, "ModalityLUTSequence (0028,3000)")
        if mlut_seq and "LUTData" in mlut_seq[0]
        else None
    )
    slope = _fg_value(ds, "PixelValueTransformationSequence", "RescaleSlope", frame)
    intercept = _fg_value(ds, "PixelValueTransformationSequence", "RescaleIntercept", frame)
    rtype = _fg_value(ds, "PixelValueTransformationSequence", "RescaleType", frame)
    centers = _floats(_fg_value(ds, "FrameVOILUTSequence", "WindowCenter", frame))
    widths = _floats(_fg_value(ds, "FrameVOILUTSequence", "WindowWidth", frame))
    expl = _strings(_fg_value(ds, "FrameVOILUTSequence", "WindowCenterWidthExplanation", frame))
    vfunc = _fg_value(ds, "FrameVOILUTSequence", "VOILUTFunction", frame)
    laterality = (
        ds.get("ImageLaterality")
        or _fg_value(ds, "FrameAnatomySequence", "FrameLaterality", frame)
        or ds.get("Laterality")
        or None
    )
    frames = ds.get("NumberOfFrames") or 1
    return ImageMeta(
        modality=ds.get("Modality") or None,
        photometric_interpretation=str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip(),
        samples_per_pixel=int(ds.get("SamplesPerPixel", 1) or 1),
        bits_allocated=int(ds.get("BitsAllocated", 16) or 16),
        bits_stored=int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16),
        pixel_representation=int(ds.get("PixelRepresentation", 0) or 0),
        rows=int(ds.get("Rows", 0) or 0),
        columns=int(ds.get("Columns", 0) or 0),
        number_of_frames=int(frames),
        transfer_syntax_uid=str(ts),
        laterality=str(laterality).strip().upper() or None if laterality else None,
        view_position=(str(ds.get("ViewPosition", "")).strip().upper() or None),
        window_centers=centers,
        window_widths=widths,
        window_explanations=expl,
        voi_lut_function=str(vfunc).strip().upper() if vfunc else None,
        voi_luts=voi_luts,
        rescale_slope=None if slope in (None, "") else float(slope),
        rescale_intercept=None if intercept in (None, "") else float(intercept),
        rescale_type=str(rtype) if rtype else None,
        modality_lut=mlut,
        presentation_lut_shape=(str(ds.get("PresentationLUTShape", "")).strip().upper() or None),
        presentation_intent_type=(str(ds.get("PresentationIntentType", "")).strip() or None),
        sop_class_uid=str(ds.get("SOPClassUID", "")) or None,
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")) or None,
        series_instance_uid=str(ds.get("SeriesInstanceUID", "")) or None,
        study_instance_uid=str(ds.get("StudyInstanceUID", "")) or None,
    )


def geometry_from_dataset(
    ds: Dataset, *, ndim: int = 2, frame: int = 0, path: PathLike | None = None
) -> Geometry:
    """Return the in-plane geometry of a data set (and a frame axis for multi-frame arrays).

    PixelSpacing (0028,0030) is preferred; ImagerPixelSpacing (0018,1164) (projection
    radiography, at the detector) is used when it is absent. A zero or negative spacing is
    reported with a warning and the geometry falls back to pixel units.
    """
    where = f"{_where(path)}: " if path is not None else ""
    spacing: tuple[float, ...] | None = None
    source = "none"
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        tag = "(0028,0030)" if keyword == "PixelSpacing" else "(0018,1164)"
        try:
            value = (
                _fg_value(ds, "PixelMeasuresSequence", keyword, frame)
                if keyword == "PixelSpacing"
                else ds.get(keyword)
            )
            vals = _floats(value)
        except (ValueError, TypeError, OverflowError) as e:
            warnings.warn(
                f"{where}{keyword} {tag} is not numeric ({_one_line(e)}); "
                "geometry kept in pixel units",
                RadprepWarning,
                stacklevel=2,
            )
            continue
        if not vals:
            continue
        if len(vals) == 2 and all(np.isfinite(v) and v > 0 for v in vals):
            spacing, source = vals, keyword
            break
        warnings.warn(
            f"{where}{keyword} {tag} is {list(vals)}, not two positive numbers; "
            "geometry kept in pixel units",
            RadprepWarning,
            stacklevel=2,
        )
    unit = "mm" if spacing is not None else "px"
    in_plane = spacing if spacing is not None else (1.0, 1.0)
    if ndim == 3:
        between = _floats(_fg_value(ds, "PixelMeasuresSequence", "SpacingBetweenSlices", frame))
        thick = _floats(_fg_value(ds, "PixelMeasuresSequence", "SliceThickness", frame))
        dz = next((v for v in (*between, *thick) if v > 0), 1.0)
        return Geometry(spacing=(dz, *in_plane), unit=unit, spacing_source=source)  # type: ignore[arg-type]
    return Geometry(spacing=in_plane, unit=unit, spacing_source=source)  # type: ignore[arg-type]


def _no_pixels(ds: Dataset, where: str) -> InputError:
    """No pixel data: a cut-off image file, or an object that has none (a report, a plan)."""
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


def _check_decoder(ts: UID, where: str) -> None:
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
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


def _native_too_short(path: PathLike, ds: Dataset, ts: UID) -> bool:
    """True when an uncompressed file is smaller than its header says its pixels alone need."""
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
        return os.path.getsize(path) < needed
    except (AttributeError, TypeError, ValueError, OSError):
        return False


_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"  # (FFFE,E0DD), length 0, LE


def _encapsulated_end(path: PathLike, ts: UID) -> str:
    """How a compressed file's encapsulated Pixel Data ends (PS3.5 A.4).

    ``"closed"``: with its Sequence Delimitation Item (or the file is not encapsulated);
    ``"unclosed"``: without it, but the last fragment ends with a JPEG / JPEG-LS EOI or a
    JPEG 2000 EOC marker (FFD9), so every frame is whole; ``"cut"``: the file stops inside a
    fragment.
    """
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


def _frame_indices(frames: Frames, n_frames: int, where: str) -> list[int] | None:
    if frames is None:
        return None
    idx = [frames] if isinstance(frames, (int, np.integer)) else list(frames)
    bad = [i for i in idx if not (0 <= int(i) < n_frames)]
    if bad:
        raise SpecError(
            f"{where}: frame {bad[0]} does not exist; NumberOfFrames (0028,0008) is {n_frames} "
            f"(frames are numbered from 0)"
        )
    return [int(i) for i in idx]


def _decode_dataset(ds: Dataset, ts: UID, idx: list[int] | None) -> np.ndarray:
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
        ds.file_meta = getattr(ds, "file_meta", None) or FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ts
    if idx is None:
        return _pixel_array(ds)
    if len(idx) == 1:
        return _pixel_array(ds, index=idx[0])[np.newaxis]  # a view: no 27 MB copy
    return np.stack([_pixel_array(ds, index=i) for i in idx])


def decode_stored(path: PathLike, ds: Dataset, frames: Frames = None) -> np.ndarray:
    """Decode stored pixel values (all frames, or those asked for) from a DICOM file.

    YBR_FULL and YBR_FULL_422 are converted to RGB by pydicom; PALETTE COLOR is not expanded
    here (see :func:`read_dicom`).

    Returns
    -------
    ndarray
        ``(rows, cols[, 3])`` for one frame (or an int `frames`), ``(frames, rows, cols[, 3])``
        otherwise.
    """
    where = _where(path)
    ts = _tsyntax(ds)
    n_frames = int(ds.get("NumberOfFrames") or 1)
    idx = _frame_indices(frames, n_frames, where)
    has_meta = "TransferSyntaxUID" in getattr(ds, "file_meta", {})
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*(excess|padding|odd length).*")
            if any(k in ds for k in _PIXEL_KEYWORDS):
                # A full data set (read once, header and pixels together): decode from it.
                arr = _decode_dataset(ds, ts, idx)
            elif has_meta and ts != DeflatedExplicitVRLittleEndian:
                arr = (
                    _pixel_array(path)
                    if idx is None
                    else np.stack([_pixel_array(path, index=i) for i in idx])
                )
            else:
                # No file meta or a deflated body: pydicom decodes from a parsed data set.
                full = pydicom.dcmread(path, force=not has_meta)
                if not any(k in full for k in _PIXEL_KEYWORDS):
                    raise _no_pixels(ds, where)
                _check_decoder(ts, where)
                arr = _decode_dataset(full, ts, idx)
    except RadprepError:
        raise
    except AttributeError as e:
        if "no pixel data" in str(e).lower():
            raise _no_pixels(ds, where) from None
        if "missing required element" in str(e).lower():
            raise InvalidAttributeError(
                f"{where}: the Image Pixel module is incomplete ({_one_line(e)}); "
                "the pixel data cannot be interpreted"
            ) from e
        raise PixelDecodeError(
            f"{where}: {ts.name} pixel data could not be decoded ({_one_line(e)})"
        ) from e
    except Exception as e:
        _check_decoder(ts, where)
        msg = _one_line(e)
        if _native_too_short(path, ds, ts) or any(
            s in msg.lower()
            for s in (
                "expected length",
                "shorter than",
                "truncat",
                "eof",
                "end of file",
                "insufficient",
                "cannot reshape",
                "multiple of element size",
                "less than expected",
            )
        ):
            raise TruncatedFileError(
                f"{where}: the pixel data is shorter than Rows x Columns x frames x BitsAllocated "
                f"requires ({msg}); the file was probably cut off in transfer"
            ) from e
        if _encapsulated_end(path, ts) != "closed":
            raise TruncatedFileError(
                f"{where}: the file ends inside its encapsulated Pixel Data (7FE0,0010), with no "
                f"Sequence Delimitation Item, and the {ts.name} data cannot be decoded ({msg}); "
                "it was probably cut off in transfer"
            ) from e
        raise PixelDecodeError(f"{where}: {ts.name} pixel data could not be decoded ({msg})") from e
    end = _encapsulated_end(path, ts)
    if end == "cut":
        # Decoders fill in what a cut stream lacks; those pixels are not the image.
        raise TruncatedFileError(
            f"{where}: the file ends inside a fragment of its encapsulated Pixel Data "
            f"(7FE0,0010); the {ts.name} data is incomplete, so the decoded pixels would be "
            "wrong; it was probably cut off in transfer"
        )
    if end == "unclosed":
        warnings.warn(
            f"{where}: the encapsulated Pixel Data (7FE0,0010) has no Sequence Delimitation "
            "Item; its last fragment is complete (end marker found), so the frames were decoded "
            "whole",
            RadprepWarning,
            stacklevel=2,
        )
    if isinstance(frames, (int, np.integer)):
        arr = arr[0]  # one frame asked for by number: a 2D image, not a stack of one
    if not arr.dtype.isnative:
        # Big endian files decode to big-endian arrays; every later step wants native order.
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


MAX_REDUCE = 5
_J2K_SYNTAXES = {
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.201",  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202",  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203",  # HTJ2K
}


def reduction_levels(rows: int, cols: int, target_px: int) -> int:
    """The largest k (up to 5) such that the short side divided by 2**k still covers `target_px`.

    An output of `target_px` on the short side needs no more than that many input pixels; every
    halving below the input's size saves decoding and processing time.
    """
    short = min(rows, cols)
    k = 0
    while k < MAX_REDUCE and math.ceil(short / 2 ** (k + 1)) >= target_px:
        k += 1
    return k


def _reduced_shape(rows: int, cols: int, k: int) -> tuple[int, int]:
    # JPEG 2000's resolution level k has ceil(size / 2**k) samples (ISO 15444-1 B.5).
    return math.ceil(rows / 2**k), math.ceil(cols / 2**k)


def _decode_j2k_reduced(ds: Dataset, meta: ImageMeta, k: int) -> np.ndarray | None:
    """Decode only the wavelet levels a 1/2**k image needs (Pillow's OpenJPEG ``reduce``).

    Returns None when the file does not qualify (not JPEG 2000, several frames, colour, signed
    samples, or no Pillow JPEG 2000 support), so the caller decodes in full instead.
    """
    if (
        meta.transfer_syntax_uid not in _J2K_SYNTAXES
        or meta.number_of_frames != 1
        or meta.is_color
        or meta.pixel_representation != 0
        or "PixelData" not in ds
    ):
        return None
    try:
        from PIL import Image as PILImage
        from PIL import features

        if not features.check("jpg_2000"):
            return None
        from pydicom.encaps import generate_frames

        frame = next(generate_frames(ds.PixelData, number_of_frames=1))
        im = PILImage.open(io.BytesIO(frame))
        im.reduce = k  # type: ignore[method-assign,assignment]  # Jpeg2KImageFile: an int
        im.load()
        arr = np.asarray(im)
    except Exception:
        return None
    if arr.ndim != 2 or arr.shape != _reduced_shape(meta.rows, meta.columns, k):
        return None
    if arr.dtype.itemsize == 2 and meta.bits_stored < 16:
        # Pillow scales samples of precision < 16 up to 16 bits; undo it.
        arr = np.right_shift(arr, 16 - meta.bits_stored)
    dtype = np.uint8 if meta.bits_allocated <= 8 else np.uint16
    return arr.astype(dtype, copy=False)


def _native_view(ds: Dataset, meta: ImageMeta) -> np.ndarray | None:
    """The stored values of a plain little-endian grey image, viewed in the bytes already read.

    For a reduced read only: the view lives as long as the data set, and the reduction copies
    it onto the small grid, so the full-size image is never copied. None when the file does not
    qualify (compressed, big-endian, several frames, colour, signed, fewer bits stored than
    allocated, or pixel data not of the size the header gives); the caller decodes it instead.
    """
    data = ds.get("PixelData") if "PixelData" in ds else None
    if (
        meta.transfer_syntax_uid not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
        or meta.number_of_frames != 1
        or meta.samples_per_pixel != 1
        or meta.pixel_representation != 0
        or meta.bits_allocated not in (8, 16)
        or meta.bits_stored != meta.bits_allocated
        or not isinstance(data, bytes)
    ):
        return None
    dtype = np.dtype(np.uint8) if meta.bits_allocated == 8 else np.dtype("<u2")
    n = meta.rows * meta.columns
    if len(data) not in (n * dtype.itemsize, n * dtype.itemsize + 1):  # + 1: even padding
        return None
    return np.frombuffer(data, dtype, count=n).reshape(meta.rows, meta.columns)


def _reduce_stored(stored: np.ndarray, k: int) -> np.ndarray:
    # An area average, with the exact integer pre-reduction that makes it cheap on 13 MP images.
    from radprep.spatial.resize import resize  # OpenCV: loaded by reduced reads only

    return resize(stored, _reduced_shape(stored.shape[0], stored.shape[1], k), interpolation="area")


def read_dicom(
    path: PathLike,
    *,
    frames: Frames = None,
    voi: VOI | str | None = None,
    out_dtype: OutDtype = "float32",
    reduce: int = 0,
    reduce_to_px: int | None = None,
) -> Image:
    """Read a DICOM file into an Image.

    Parameters
    ----------
    path : str or PathLike
        The file. It is opened read-only and never modified.
    frames : int, sequence of int or None
        ``None`` for every frame; an int for one frame (a 2D image); a sequence for those frames.
    voi : VOI, str or None
        ``None`` keeps modality values (Hounsfield units for CT): the stored integer type when
        the Modality LUT is the identity, float32 otherwise. A VOI (or its text form, e.g.
        ``"header"``, ``"lung"``, ``"40,400"``, ``"auto"``) gives display values, "higher is
        brighter", MONOCHROME1 inverted.
    out_dtype : {"float32", "uint8", "uint16"}
        With a VOI: float32 in [0, 1], or quantised to the full range of the type.
    reduce : int
        Read the image at 1/2**reduce of its size (0: full size). JPEG 2000 files decode only
        the wavelet levels that size needs (much faster); others are decoded in full and
        area-averaged. The geometry's spacing follows.
    reduce_to_px : int, optional
        Choose `reduce` automatically: the most reduction that keeps the short side at least
        this many pixels (the largest output size of a recipe).

    Returns
    -------
    Image
        ``pixels`` shaped ``(rows, cols)``, ``(frames, rows, cols)``, with a trailing 3 for colour.

    Raises
    ------
    NotDicomError, TruncatedFileError, CorruptFileError, NoPixelDataError, DecoderMissingError,
    PixelDecodeError, InvalidAttributeError, SizeLimitError, SpecError
        Each with a one-line message naming the file; nothing else, whatever the bytes (what a
        parser or decoder raises, Rust panics included, is mapped at this boundary; only
        KeyboardInterrupt and SystemExit pass through). A seeded mutation-fuzz test checks it.
    """
    where = _where(path)
    if isinstance(voi, str):
        voi = VOI.parse(voi)
    stage = ["header"]
    try:
        return _read_dicom(path, where, frames, voi, out_dtype, reduce, reduce_to_px, stage)
    except RadprepError as e:
        if where in str(e):
            raise
        raise type(e)(f"{where}: {e}") from e
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # third-party decoders raise anything, Rust panics included
        raise boundary_error(e, where, stage[0]) from e


def boundary_error(e: BaseException, where: str, stage: str) -> InputError:
    """The documented error for anything else that escaped reading one file, by stage."""
    from pydicom.errors import BytesLengthException

    msg = _one_line(e)
    if isinstance(e, MemoryError):
        return SizeLimitError(
            f"{where}: out of memory while reading ({stage}); the file asks for more than this "
            "machine has"
        )
    if isinstance(e, (RecursionError, BytesLengthException)) or (
        isinstance(e, NotImplementedError) and "value representation" in msg.lower()
    ):
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


def _read_dicom(
    path: PathLike,
    where: str,
    frames: Frames,
    voi: VOI | None,
    out_dtype: OutDtype,
    reduce: int,
    reduce_to_px: int | None,
    stage: list[str],
) -> Image:
    """:func:`read_dicom` without its boundary; `stage` says how far it got."""
    # One parse for header and pixels; pydicom drops the whole data set when the file ends
    # inside an encapsulated pixel sequence, so fall back to the header and decode from the path.
    ds = _read(path, {}, check_empty=False)
    if len(ds) == 0 or not any(k in ds for k in _PIXEL_KEYWORDS):
        ds = read_header(path)
    stage[0] = "attributes"
    first = frames if isinstance(frames, (int, np.integer)) else next(iter(frames or [0]))
    try:
        meta = meta_from_dataset(ds, frame=int(first) if first is not None else 0)
    except RadprepError:
        raise
    except (ValueError, TypeError, KeyError) as e:
        raise InvalidAttributeError(
            f"{where}: an image attribute cannot be read ({_one_line(e)}); fix the header"
        ) from e
    n_wanted = (
        meta.number_of_frames
        if frames is None
        else (1 if isinstance(frames, (int, np.integer)) else len(list(frames)))
    )
    _check_decoded_size(meta, n_wanted, where)
    if reduce_to_px is not None:
        reduce = reduction_levels(meta.rows, meta.columns, reduce_to_px)
    if not 0 <= reduce <= MAX_REDUCE:
        raise SpecError(f"reduce must be 0..{MAX_REDUCE}, got {reduce}")
    stage[0] = "pixels"
    single = frames is not None or meta.number_of_frames == 1
    stored = _decode_j2k_reduced(ds, meta, reduce) if reduce and single and not frames else None
    decoder = "jpeg2000-reduced" if stored is not None else "full"
    if stored is None and reduce and single and not frames:
        view = _native_view(ds, meta)
        if view is not None:
            stored = _reduce_stored(view, reduce)
            if np.may_share_memory(stored, view):  # a tiny image the reduction left as it was
                stored = stored.copy()
    if stored is None:
        stored = decode_stored(path, ds, frames)
        if reduce and stored.ndim == 2:
            stored = _reduce_stored(stored, reduce)
        elif reduce:
            reduce = 0  # stacks and colour are read at full size
    stage[0] = "attributes"
    steps: list[AppliedStep] = []
    if meta.photometric_interpretation == "PALETTE COLOR":
        stored = _palette_to_rgb(stored, ds, where)
        bits = 8 * stored.dtype.itemsize
        meta = _replace(
            meta, photometric_interpretation="RGB", samples_per_pixel=3, bits_stored=bits
        )
        steps.append(AppliedStep("palette_to_rgb", {}))
    elif (
        meta.photometric_interpretation.startswith("YBR")
        and stored.ndim >= 3
        and stored.shape[-1] == 3
    ):
        meta = _replace(meta, photometric_interpretation="RGB")
        steps.append(AppliedStep("ybr_to_rgb", {}))
    spatial_ndim = 3 if (stored.ndim - (1 if meta.is_color else 0)) == 3 else 2
    geometry = geometry_from_dataset(ds, ndim=spatial_ndim, frame=int(first or 0), path=path)
    if reduce:
        geometry = geometry.resize((meta.rows, meta.columns), stored.shape[:2])
    mode = "identity" if is_identity_modality(meta) else ("lut" if meta.modality_lut else "rescale")
    read_step = AppliedStep(
        "read_dicom",
        {
            "transfer_syntax": str(meta.transfer_syntax_uid),
            "frames": _frames_param(frames),
            "modality_lut": mode,
            "reduce": reduce,
            "decoder": decoder,
        },
    )
    frame_metas = _per_frame_metas(ds, meta, frames, stored, spatial_ndim)
    if frame_metas is not None:
        # Enhanced objects may rescale each frame differently (PS3.3 C.7.6.16.2.9).
        stored = np.stack([apply_modality(f, m) for f, m in zip(stored, frame_metas, strict=True)])
        meta = _replace(meta, rescale_slope=None, rescale_intercept=None)
        mode = "rescale per frame"
    stage[0] = "intensity"
    try:
        if voi is None or voi.mode == "none":
            pixels = apply_modality(stored, meta)
            return Image(
                pixels,
                geometry,
                meta,
                (read_step, *steps, AppliedStep("modality_lut", {"mode": mode})),
            )
        header_has_voi = bool(meta.voi_luts or (meta.window_centers and meta.window_widths))
        data_free = voi.mode in ("window", "preset") or (voi.mode == "header" and header_has_voi)
        if mode != "identity" and tabulable(stored) and data_free:
            # Fold the Modality LUT and the VOI into one table over the stored values.
            resolved = resolve_voi(stored, meta, voi)
            fn = display_function(meta, resolved, out_dtype)
            pixels = apply_pointwise(stored, lambda x: fn(apply_modality(x, meta)))
        else:
            values = apply_modality(stored, meta)
            pixels, resolved = apply_voi(values, meta, voi, out_dtype=out_dtype)
    except RadprepError as e:
        if str(e).startswith(where):
            raise
        raise type(e)(f"{where}: {e}") from e
    history = (
        read_step,
        *steps,
        AppliedStep("modality_lut", {"mode": mode}),
        AppliedStep(
            "voi", {**resolved.to_dict(), "inverted": meta.inverted, "out_dtype": out_dtype}
        ),
    )
    return Image(pixels, geometry, _replace(meta, intensity="display"), history)


_PALETTE = ("Red", "Green", "Blue")


def _palette_to_rgb(stored: np.ndarray, ds: Dataset, where: str) -> np.ndarray:
    """Expand PALETTE COLOR indices through the file's Red, Green and Blue LUTs.

    pydicom reads non-segmented LUT data as native-order words whatever the transfer syntax, so
    big-endian files (OW values kept as stored bytes) get their words swapped here first.
    """
    for colour in _PALETTE:
        desc = ds.get(f"{colour}PaletteColorLookupTableDescriptor")
        has_data = f"{colour}PaletteColorLookupTableData" in ds or (
            f"Segmented{colour}PaletteColorLookupTableData" in ds
        )
        if desc is None or not has_data:
            raise InvalidAttributeError(
                f"{where}: PALETTE COLOR without its {colour} Palette Color Lookup Table "
                "Descriptor and Data (0028,110x / 0028,120x); the colours cannot be rebuilt"
            )
        values = list(desc) if isinstance(desc, (list, pydicom.multival.MultiValue)) else [desc]
        if len(values) != 3 or int(values[2]) not in (8, 16):
            raise InvalidAttributeError(
                f"{where}: {colour}PaletteColorLookupTableDescriptor is {values}; "
                "PS3.3 C.7.6.3.1.5 needs three values and 8 or 16 bits per entry"
            )
    if _tsyntax(ds) == UID("1.2.840.10008.1.2.2"):
        for colour in _PALETTE:
            keyword = f"{colour}PaletteColorLookupTableData"
            raw = ds.get(keyword)
            if isinstance(raw, bytes) and len(raw) % 2 == 0:
                ds[keyword].value = np.frombuffer(raw, dtype=">u2").astype(np.uint16).tobytes()
    return apply_color_lut(stored, ds)


def _per_frame_metas(
    ds: Dataset, meta: ImageMeta, frames: Frames, stored: np.ndarray, spatial_ndim: int
) -> list[ImageMeta] | None:
    """Per-frame metas when a multi-frame stack rescales frames differently, else None."""
    if spatial_ndim != 3 or meta.is_color or not ds.get("PerFrameFunctionalGroupsSequence"):
        return None
    numbers = range(stored.shape[0]) if frames is None else [int(f) for f in np.atleast_1d(frames)]
    metas = [meta_from_dataset(ds, frame=n) for n in numbers]
    pairs = {(m.rescale_slope, m.rescale_intercept) for m in metas}
    return metas if len(pairs) > 1 else None


def _frames_param(frames: Frames) -> Any:
    if frames is None or isinstance(frames, (int, np.integer)):
        return None if frames is None else int(frames)
    return [int(f) for f in frames]


def _replace(meta: ImageMeta, **changes: Any) -> ImageMeta:
    from dataclasses import replace

    return replace(meta, **changes)
