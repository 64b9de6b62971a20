"""De-identify one data set in memory, or one file into a folder named by new UIDs only."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import struct
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pydicom
from pydicom.config import IGNORE
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from radprep.deid.actions import ActionContext, apply_actions
from radprep.deid.audit import AuditRecord
from radprep.deid.config import DeidConfig
from radprep.deid.crosswalk import check_outside
from radprep.deid.dates import date_shift_days
from radprep.deid.marking import earlier_method_codes, mark_deidentified
from radprep.deid.pixels import apply_pixel_policy
from radprep.deid.uids import keyed_digest, map_uid
from radprep.deid.writer import (
    Chunk,
    encode_part10,
    load_deferred,
    same_content,
    scan_encapsulated,
    write_exclusive,
)
from radprep.errors import (
    InvalidAttributeError,
    OutputError,
    PixelDecodeError,
    RadprepError,
    RadprepWarning,
    TruncatedFileError,
)
from radprep.io.dicom import read_header

__all__ = [
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "DeidResult",
    "deidentify_dataset",
    "deidentify_file",
    "file_meta",
    "is_uid_name",
    "load_deferred",
    "output_relpath",
    "safe_message",
]

IMPLEMENTATION_VERSION_NAME = "RADPREP_DEID_1"
# radprep's own Implementation Class UID (PS3.7 D.3.3.2): a UUID-derived UID (PS3.5 B.2), the
# UUID5 of "https://pypi.org/project/radprep/#deid", so it needs no registered root.
IMPLEMENTATION_CLASS_UID = "2.25.44501467200119555641081823297049367753"

CrosswalkRow = tuple[str, str, str]

_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # PixelData, Float and Double Float
_DICOMDIR = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage
_DICOMDIR_REASON = (
    "a DICOMDIR indexes files by their original paths; de-identify the files it lists and "
    "build a new DICOMDIR for the output if one is needed"
)


@dataclass(frozen=True)
class DeidResult:
    """What :func:`deidentify_file` did.

    Attributes
    ----------
    record : AuditRecord
        The audit line (new identifiers and counts only).
    path : Path or None
        The file written (or found identical), or held for review; None when not written.
    crosswalk : tuple of (kind, original, pseudonym)
        Filled only when asked for (``with_crosswalk=True``).
    """

    record: AuditRecord
    path: Path | None
    crosswalk: tuple[CrosswalkRow, ...] = ()


_UID_NAME = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_NO_NAME = {"StudyInstanceUID": "no-study-uid", "SeriesInstanceUID": "no-series-uid"}
# Values larger than this are left in the source file and copied when written.
_DEFER_BYTES = 256 * 1024


def is_uid_name(value: str) -> bool:
    """Return True for a safe path component made of a UID: digits and dots, 1 to 64 characters."""
    return 0 < len(value) <= 64 and _UID_NAME.fullmatch(value) is not None


_TAGS = {
    "StudyInstanceUID": 0x0020000D,
    "SeriesInstanceUID": 0x0020000E,
    "SOPInstanceUID": 0x00080018,
    "SOPClassUID": 0x00080016,
    "PatientID": 0x00100020,
    "TransferSyntaxUID": 0x00020010,
}


def _joined(ds: Dataset, keyword: str) -> str:
    """The value of a single-byte text attribute (UI, LO of an ID) as one string, several values
    joined by a backslash, each stripped of padding; read from the raw bytes when it can be."""
    elem = ds._dict.get(BaseTag(_TAGS[keyword]))
    if elem is None:
        return ""
    if isinstance(elem, RawDataElement) and elem.value is not None and elem.value.isascii():
        text = elem.value.decode("ascii")
        return "\\".join(v.strip("\x00 ") for v in text.split("\\"))
    try:
        value = ds[_TAGS[keyword]].value
    except Exception:
        return ""
    if value is None:
        return ""
    values = list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]
    return "\\".join(str(v).strip("\x00 ") for v in values)


def _name_uid(source: Dataset, keyword: str, key: bytes) -> str:
    """Return the generated UID that names the output folder or file for `keyword`.

    It is the keyed mapping of the original value (all values joined): the new UID itself
    unless UIDs are retained, and never a header value, so that no value in an input can choose
    where a file is written.
    """
    original = _joined(source, keyword)
    if not original:
        return _NO_NAME.get(keyword, "")
    name = map_uid(original, key)
    if not is_uid_name(name):  # pragma: no cover - map_uid gives 2.25.<digits> or a standard UID
        raise OutputError(f"the generated {keyword} {name!r} is not a valid UID")
    return name


def _single_uid(value: object) -> str | None:
    """Return `value` as one valid UID (digits and dots, at most 64 characters), else None."""
    if value is None or isinstance(value, (list, tuple, MultiValue)):
        return None
    text = str(value).strip("\x00 ")
    return text if is_uid_name(text) else None


def _transfer_syntax(ds: Dataset) -> UID:
    """The transfer syntax of the file meta when it is one valid UID that matches the data set's
    encoding as read; else the native syntax of that encoding. Nothing else of the input's file
    meta is used."""
    implicit, little = getattr(ds, "original_encoding", (False, True))
    if implicit:
        native = ImplicitVRLittleEndian
    else:
        native = ExplicitVRLittleEndian if little in (True, None) else ExplicitVRBigEndian
    fm = getattr(ds, "file_meta", None)
    ts = _single_uid(_joined(fm, "TransferSyntaxUID")) if fm is not None else None
    if ts is None:
        return native
    return _checked_syntax(ts, bool(implicit), little in (True, None), native)


@lru_cache(maxsize=256)
def _checked_syntax(ts: str, implicit: bool, little: bool, native: UID) -> UID:
    uid = UID(ts)
    if uid.is_transfer_syntax and (uid.is_implicit_VR, uid.is_little_endian) != (implicit, little):
        return native  # the meta says one encoding, the data set was read in another
    return uid


def file_meta(sop_class: str, sop_instance: str, transfer_syntax: str) -> FileMetaDataset:
    """Return a file meta group (PS3.10 7.1) made of these values and radprep's own only.

    An empty SOP class or instance UID leaves its element out.
    """
    meta = FileMetaDataset()
    for tag, vr, value in (
        (0x00020001, "OB", b"\x00\x01"),
        (0x00020002, "UI", sop_class),
        (0x00020003, "UI", sop_instance),
        (0x00020010, "UI", transfer_syntax),
        (0x00020012, "UI", IMPLEMENTATION_CLASS_UID),
        (0x00020013, "SH", IMPLEMENTATION_VERSION_NAME),
    ):
        if value:
            # Values made here, valid by construction: no per-element validation.
            meta._dict[BaseTag(tag)] = DataElement(
                tag, vr, UID(str(value)) if vr == "UI" else value, validation_mode=IGNORE
            )
    return meta


def deidentify_dataset(ds: Dataset, config: DeidConfig, key: bytes) -> tuple[Dataset, AuditRecord]:
    """Return a de-identified copy of `ds` and its audit record; `ds` is not changed.

    Table E.1-1 is applied to every element at every depth (see :mod:`radprep.deid.actions`),
    the file meta is rebuilt from the de-identified data set (only the transfer syntax comes
    from the input's), burned-in text is handled by the pixel policy (:mod:`radprep.deid.pixels`)
    and the result is marked as de-identified, after any earlier de-identification methods.

    Parameters
    ----------
    ds : Dataset
        The original data set (with its file meta when read from a file).
    config : DeidConfig
        The options.
    key : bytes
        The project's secret key (same key, same pseudonyms).

    Returns
    -------
    (Dataset, AuditRecord)
        The new data set, and a record whose status is ``written`` or ``quarantined`` (needs
        pixel review; `reason` says why). The record's `output` is the relative path the file
        gets, ``<study>/<series>/<sop>.dcm`` from generated UIDs only (see :func:`output_relpath`).
    """
    pid = _joined(ds, "PatientID")
    shift = date_shift_days(pid, key, config.date_shift_max_days)
    ctx = ActionContext(config=config, key=key, shift_days=shift, source=ds)
    new = apply_actions(ds, ctx)
    notes: list[str] = []

    sop_class = _single_uid(_joined(new, "SOPClassUID"))
    sop = ""
    if "SOPInstanceUID" in new:
        sop = _single_uid(_joined(new, "SOPInstanceUID")) or ""
        if not sop:
            # PS3.3 C.12.1: one UID of at most 64 characters. A retained value that is not one
            # (several values, too long, other characters) cannot name the instance in the file
            # meta: it gets its generated UID.
            sop = map_uid(_joined(ds, "SOPInstanceUID"), key)
            new.SOPInstanceUID = UID(sop)
            notes.append(
                "SOPInstanceUID (0008,0018) was not one valid UID; a generated UID replaces it"
            )
    ctx.counts["U" if not config.retain_uids else "K"] += 1  # MediaStorageSOPInstanceUID
    new.file_meta = file_meta(sop_class or "", sop, _transfer_syntax(ds))

    pixels = apply_pixel_policy(ds, new, config)
    cleaned, reason = pixels.cleaned, pixels.reason or None
    methods = mark_deidentified(
        new, config, pixels_cleaned=cleaned, earlier=earlier_method_codes(ds)
    )
    record = AuditRecord(
        status="quarantined" if reason else "written",
        output=output_relpath(ds, key).as_posix() if sop else "",
        study_uid=_joined(new, "StudyInstanceUID"),
        series_uid=_joined(new, "SeriesInstanceUID"),
        sop_uid=sop,
        patient_id=str(new.get("PatientID", "") or ""),
        actions=dict(sorted(ctx.counts.items())),
        removed=dict(sorted(ctx.removed.items())),
        methods=tuple(methods),
        pixels_cleaned=cleaned,
        ocr=pixels.ocr,
        text_boxes=pixels.boxes,
        phi_in_pixels=pixels.phi,
        pixel_action=pixels.action if pixels.action != "none" else "",
        pixel_transfer_syntax=pixels.transfer_syntax,
        reason=reason or "",
        note="; ".join(notes),
    )
    return new, record


def output_relpath(source: Dataset, key: bytes, sop_name: str | None = None) -> Path:
    """Return ``<study>/<series>/<sop>.dcm``: names made of generated UIDs only.

    Each name is the keyed mapping of the original StudyInstanceUID, SeriesInstanceUID and
    SOPInstanceUID of `source` (see :func:`radprep.deid.uids.map_uid`; several values are mapped
    together to one UID), whatever the options: with Retain UIDs the file keeps its UIDs but its
    path is still made of generated ones. Each name is checked to be digits and dots, at most
    64 characters.

    Parameters
    ----------
    source : Dataset
        The original data set.
    key : bytes
        The project's secret key.
    sop_name : str, optional
        The generated UID that names the file when `source` has no SOPInstanceUID.
    """
    study = _name_uid(source, "StudyInstanceUID", key)
    series = _name_uid(source, "SeriesInstanceUID", key)
    sop = sop_name or _name_uid(source, "SOPInstanceUID", key)
    if not is_uid_name(sop):
        raise OutputError(f"the generated file name {sop!r} is not a valid UID")
    return Path(study) / series / f"{sop}.dcm"


def _read(src: Path) -> Dataset:
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
            if _transfer_syntax(ds).is_deflated:
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


def _check_complete(ds: Dataset, src: Path, size: int) -> None:
    """Refuse a file whose data set or pixel data ends early, or whose pixel data is broken.

    pydicom reads a cut-off file without an error (the elements before the cut, or nothing);
    this looks at what it read against the file and the image attributes: nothing may be
    written from such a file.
    """
    deflated = _transfer_syntax(ds).is_deflated
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
    ts = _transfer_syntax(ds)
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


def _encode(new: Dataset, src: Path) -> list[Chunk]:
    """Return the output file as chunks: raw bytes of kept elements, spans of the source."""
    ts = UID(str(new.file_meta.TransferSyntaxUID))
    encoding = (ts.is_implicit_VR, ts.is_little_endian)
    try:
        if not ts.is_deflated and tuple(new.original_encoding) == encoding:
            return encode_part10(new, *encoding, source=src)
        # Pixel cleaning re-encoded the pixels in another syntax, or a deflated data set:
        # pydicom converts the elements.
        buf = io.BytesIO()
        new.preamble = b"\x00" * 128
        pydicom.dcmwrite(buf, new, enforce_file_format=False)
        return [buf.getvalue()]
    except RadprepError:
        raise
    except Exception as e:
        raise InvalidAttributeError(
            f"{src}: the de-identified data set cannot be encoded ({type(e).__name__}: "
            f"{safe_message(str(e))}); the input probably holds a value its VR does not allow"
        ) from e


_QUOTED = re.compile(r"b?'[^']*'|b?\"[^\"]*\"")


def safe_message(text: str) -> str:
    """Return the first line of a library's message with every quoted value withheld.

    pydicom's warnings and errors quote the values they complain about (a patient's name, a
    UID); de-identification reports the complaint, never the value.
    """
    first = text.splitlines()[0] if text else ""
    first = first.split(" Please see <", 1)[0]
    return _QUOTED.sub("(value withheld)", first)


class _WithholdValues(logging.Filter):
    """Rewrite pydicom's log records with their quoted values withheld (see safe_message)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = safe_message(record.getMessage())
        record.args = ()
        return True


# pydicom logs every warning it issues as well (misc.warn_and_log): with logging configured, the
# values it quotes would reach the log.
logging.getLogger("pydicom").addFilter(_WithholdValues())


def _duplicate_name(src: Path, key: bytes) -> str:
    """A suffix from the keyed hash of the input's bytes: the same input, the same suffix."""
    with open(src, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    return keyed_digest(key, "duplicate", digest)[:6].hex()


# (output folder, folder of a file) pairs already found to resolve inside the output folder.
_CHECKED: set[tuple[str, str]] = set()


def _inside(target: Path, root: Path) -> Path:
    """Return `target` after checking that, resolved, it lies inside `root`.

    Names are generated UIDs, so only a link inside the output could lead elsewhere; a folder
    once checked (and existing) is not resolved again by this process.
    """
    key = (str(root), str(target.parent))
    if key in _CHECKED:
        return target
    real_root = root.resolve()
    real = target.resolve()
    if real_root not in real.parents:
        raise OutputError(
            f"the output path {target} resolves outside the output folder {root}; refusing to "
            "write it (is a folder inside the output a link elsewhere?)"
        )
    if target.parent.is_dir():
        _CHECKED.add(key)
    return target


def _place(
    root: Path, rel: Path, chunks: list[Chunk], src: Path, key: bytes
) -> tuple[str, Path, str]:
    """Write the output under `root`; return (status, relative path, note).

    A free name: ``written``. The same bytes already there (a re-run, or a duplicate input):
    ``unchanged``. Other bytes under the name (another input with the same SOPInstanceUID, e.g.
    one image in two transfer syntaxes): written beside it with a suffix from this input's
    keyed hash, and a note.
    """
    target = _inside(root / rel, root)
    # The hard link decides; looking first only saves writing a file that cannot be linked.
    if not target.exists() and write_exclusive(target, chunks, src):
        return "written", rel, ""
    if same_content(target, chunks, src):
        return "unchanged", rel, ""
    alt = rel.with_name(f"{rel.stem}-{_duplicate_name(src, key)}.dcm")
    note = (
        f"another input has the same SOPInstanceUID (0008,0018) with other content; written as "
        f"{alt.name} beside {rel.name}"
    )
    target = _inside(root / alt, root)
    if not target.exists() and write_exclusive(target, chunks, src):
        return "written", alt, note
    if same_content(target, chunks, src):
        return "unchanged", alt, note
    raise OutputError(
        f"{src}: the outputs {rel} and {alt} already exist with other content: the folder holds "
        "a run with other options or another key; use an empty output folder"
    )


def deidentify_file(
    src: str | os.PathLike[str],
    out_root: str | os.PathLike[str],
    config: DeidConfig,
    key: bytes,
    *,
    with_crosswalk: bool = False,
) -> DeidResult:
    """De-identify one DICOM file into ``out_root/<study>/<series>/<sop>.dcm``.

    Folder and file names are generated UIDs only (:func:`output_relpath`), and the path is
    checked to resolve inside `out_root`. An existing output is never overwritten: the same bytes
    count as ``unchanged`` (a re-run, or a duplicate input); another input with the same
    SOPInstanceUID and other content is written beside it as ``<sop>-<suffix>.dcm`` (the suffix
    is a keyed hash of that input's bytes) and the record's `note` says so. An image that needs
    pixel review is not written to `out_root`; with ``quarantine: hold`` it goes under
    ``config.quarantine_dir`` instead. A file whose data set or pixel data is cut short or
    broken is refused: nothing is written from it. Warnings of the DICOM library, which quote
    header values, are re-issued with the values withheld.

    Parameters
    ----------
    src : path
        The input file.
    out_root : path
        The output folder.
    config : DeidConfig
        The options.
    key : bytes
        The project's secret key.
    with_crosswalk : bool
        Return the (kind, original, pseudonym) pairs of this file too.

    Raises
    ------
    NotDicomError, TruncatedFileError, PixelDecodeError, InputError
        If the input cannot be read, or is cut short.
    OutputError
        If the output cannot be written.
    """
    src_path = Path(src)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _deidentify_file(src_path, Path(out_root), config, key, with_crosswalk)
    seen: set[str] = set()
    for w in caught:
        text = safe_message(str(w.message))
        if text and text not in seen:
            seen.add(text)
            warnings.warn(f"{src_path}: {text}", RadprepWarning, stacklevel=2)
    return result


def _deidentify_file(
    src_path: Path, out_root: Path, config: DeidConfig, key: bytes, with_crosswalk: bool
) -> DeidResult:
    ds = _read(src_path)
    if str(getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", "")) == _DICOMDIR:
        return DeidResult(AuditRecord(status="skipped", reason=_DICOMDIR_REASON), None)
    _check_complete(ds, src_path, src_path.stat().st_size)
    try:
        new, record = deidentify_dataset(ds, config, key)
    except RadprepError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as e:
        raise InvalidAttributeError(
            f"{src_path}: cannot be de-identified: an element holds a value its VR does not "
            f"allow ({type(e).__name__}: {safe_message(str(e))})"
        ) from e
    if not new.file_meta.get("MediaStorageSOPInstanceUID"):
        # No SOPInstanceUID: name the instance by a keyed hash of the file's bytes.
        with open(src_path, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        uid = map_uid("sha256:" + digest, key)
        new.file_meta.MediaStorageSOPInstanceUID = UID(uid)
        new.SOPInstanceUID = UID(uid)
        record = _replace(record, sop_uid=uid, output=output_relpath(ds, key, uid).as_posix())
    rel = Path(record.output)
    chunks = _encode(new, src_path)
    rows: tuple[CrosswalkRow, ...] = ()
    if with_crosswalk:
        rows = _crosswalk_rows(ds, new, src_path, rel)
    if record.status == "quarantined":
        if config.quarantine != "hold" or config.quarantine_dir is None:
            return DeidResult(_replace(record, output=""), None, rows)
        check_outside(config.quarantine_dir, out_root, "quarantine_dir")
        root = Path(config.quarantine_dir)
        _, rel, note = _place(root, rel, chunks, src_path, key)
        record = _replace(record, output=rel.as_posix(), note=_join(record.note, note))
        return DeidResult(record, root / rel, rows)
    status, rel, note = _place(out_root, rel, chunks, src_path, key)
    record = _replace(record, output=rel.as_posix(), status=status, note=_join(record.note, note))
    return DeidResult(record, out_root / rel, rows)


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _replace(record: AuditRecord, **changes: object) -> AuditRecord:
    from dataclasses import replace

    return replace(record, **changes)  # type: ignore[arg-type]


def _crosswalk_rows(ds: Dataset, new: Dataset, src: Path, rel: Path) -> tuple[CrosswalkRow, ...]:
    rows: list[CrosswalkRow] = [("file", str(src), rel.as_posix())]
    for kw in (
        "PatientID",
        "AccessionNumber",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
    ):
        a, b = str(ds.get(kw, "") or "").strip("\x00 "), str(new.get(kw, "") or "")
        if a and a != b:
            rows.append((kw, a, b))
    return tuple(rows)
