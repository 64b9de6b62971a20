"""De-identify one data set in memory, or one file into a folder named by new UIDs only."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
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
from radprep.deid.marking import mark_deidentified, method_codes
from radprep.deid.pixels import apply_pixel_policy
from radprep.deid.uids import map_uid
from radprep.errors import InvalidAttributeError, OutputError, RadprepError, TruncatedFileError
from radprep.io.dicom import read_header
from radprep.io.write import atomic_write_bytes

__all__ = [
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "DeidResult",
    "deidentify_dataset",
    "deidentify_file",
    "output_relpath",
]

IMPLEMENTATION_VERSION_NAME = "RADPREP_DEID_1"
# radprep's own Implementation Class UID (PS3.7 D.3.3.2): a UUID-derived UID (PS3.5 B.2), the
# UUID5 of "https://pypi.org/project/radprep/#deid", so it needs no registered root.
IMPLEMENTATION_CLASS_UID = "2.25.44501467200119555641081823297049367753"

CrosswalkRow = tuple[str, str, str]

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


def _transfer_syntax(ds: Dataset) -> UID:
    fm = getattr(ds, "file_meta", None)
    ts = fm.get("TransferSyntaxUID") if fm is not None else None
    if ts:
        return UID(str(ts).strip("\x00 "))
    implicit, little = getattr(ds, "original_encoding", (False, True))
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little in (True, None) else ExplicitVRBigEndian


def deidentify_dataset(ds: Dataset, config: DeidConfig, key: bytes) -> tuple[Dataset, AuditRecord]:
    """Return a de-identified copy of `ds` and its audit record; `ds` is not changed.

    Table E.1-1 is applied to every element at every depth (see :mod:`radprep.deid.actions`),
    the file meta is rebuilt from the new identifiers, burned-in text is handled by the pixel
    policy (:mod:`radprep.deid.pixels`) and the result is marked as de-identified.

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
        pixel review; `reason` says why). The record's output path is filled by
        :func:`deidentify_file`.
    """
    pid = str(ds.get("PatientID", "") or "").strip("\x00 ")
    shift = date_shift_days(pid, key, config.date_shift_max_days)
    ctx = ActionContext(config=config, key=key, shift_days=shift, source=ds)
    new = apply_actions(ds, ctx)

    meta = FileMetaDataset()
    old_meta = getattr(ds, "file_meta", None) or FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    sop_class = new.get("SOPClassUID") or old_meta.get("MediaStorageSOPClassUID")
    if sop_class:
        meta.MediaStorageSOPClassUID = UID(str(sop_class).strip("\x00 "))
    sop = str(new.get("SOPInstanceUID", "") or "")
    if not sop:
        old = str(old_meta.get("MediaStorageSOPInstanceUID", "") or "").strip("\x00 ")
        if old:
            sop = old if config.retain_uids else map_uid(old, key)
    if sop:
        meta.MediaStorageSOPInstanceUID = UID(sop)
        if "SOPInstanceUID" not in new:  # Type 1 (C.12.1): restored from the file meta
            new.SOPInstanceUID = UID(sop)
    ctx.counts["U" if not config.retain_uids else "K"] += 1  # MediaStorageSOPInstanceUID
    meta.TransferSyntaxUID = _transfer_syntax(ds)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    new.file_meta = meta

    pixels = apply_pixel_policy(ds, new, config)
    cleaned, reason = pixels.cleaned, pixels.reason or None
    mark_deidentified(new, config, pixels_cleaned=cleaned)
    record = AuditRecord(
        status="quarantined" if reason else "written",
        study_uid=str(new.get("StudyInstanceUID", "") or ""),
        series_uid=str(new.get("SeriesInstanceUID", "") or ""),
        sop_uid=str(sop or ""),
        patient_id=str(new.get("PatientID", "") or ""),
        actions=dict(sorted(ctx.counts.items())),
        removed=dict(sorted(ctx.removed.items())),
        methods=tuple(method_codes(config, pixels_cleaned=cleaned)),
        pixels_cleaned=cleaned,
        ocr=pixels.ocr,
        text_boxes=pixels.boxes,
        phi_in_pixels=pixels.phi,
        pixel_action=pixels.action if pixels.action != "none" else "",
        pixel_transfer_syntax=pixels.transfer_syntax,
        reason=reason or "",
    )
    return new, record


def output_relpath(new: Dataset) -> Path:
    """Return ``<new StudyUID>/<new SeriesUID>/<new SOPUID>.dcm`` for a de-identified data set."""
    study = str(new.get("StudyInstanceUID", "") or "") or "no-study-uid"
    series = str(new.get("SeriesInstanceUID", "") or "") or "no-series-uid"
    sop = str(new.file_meta.get("MediaStorageSOPInstanceUID", "") or "")
    return Path(study) / series / f"{sop}.dcm"


def _read_full(src: Path) -> tuple[Dataset, bytes]:
    try:
        raw = src.read_bytes()
    except OSError:
        read_header(src)  # the one-line error for a missing or unreadable file
        raise
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return pydicom.dcmread(io.BytesIO(raw)), raw
    except InvalidDicomError:
        read_header(src)  # NotDicomError for what is not DICOM at all
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return pydicom.dcmread(io.BytesIO(raw), force=True), raw
    except Exception as e:
        read_header(src)  # a bad header gets its own message
        raise TruncatedFileError(
            f"{src}: the file ends inside its pixel data or cannot be parsed to its end "
            f"({type(e).__name__}); it was probably cut off in transfer"
        ) from e


def _check_pixel_length(ds: Dataset, src: Path) -> None:
    """Refuse native pixel data shorter than the image it describes (a truncated file)."""
    if "PixelData" not in ds or _transfer_syntax(ds).is_encapsulated:
        return
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.BitsAllocated)
        actual = len(ds.get_item("PixelData").value or b"")
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


def _encode(new: Dataset, src: Path) -> bytes:
    buf = io.BytesIO()
    # An input without any SOP Class UID (a fragment, not a composite instance) cannot get a
    # complete file meta; it is written as it came, with the meta it has.
    complete = "MediaStorageSOPClassUID" in new.file_meta
    if not complete:
        new.preamble = b"\x00" * 128
    try:
        pydicom.dcmwrite(buf, new, enforce_file_format=complete)
    except Exception as e:
        raise InvalidAttributeError(
            f"{src}: the de-identified data set cannot be encoded ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}); the input probably holds a value "
            "its VR does not allow"
        ) from e
    return buf.getvalue()


def _write_new(target: Path, data: bytes, src: Path) -> str:
    """Write `data` at `target` unless a different file is there; never overwrite one."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{target.parent}: cannot create the folder ({e.strerror or e})") from e
    claim = target.parent / f".{target.name}.claim"
    try:
        fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise OutputError(
            f"{src}: another input is being written to the same output {target} (the same "
            "SOPInstanceUID (0008,0018)); remove the duplicate input, or delete the stale "
            f"{claim.name} if no run is active"
        ) from None
    except OSError as e:
        raise OutputError(f"{target.parent}: cannot write there ({e.strerror or e})") from e
    try:
        if target.exists():
            if target.read_bytes() == data:
                return "unchanged"
            raise OutputError(
                f"{src}: the output {target} already exists with other content: another input "
                "has the same SOPInstanceUID (0008,0018), or the folder holds a run with other "
                "options or another key; remove the duplicate or use an empty output folder"
            )
        atomic_write_bytes(target, data)
        return "written"
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(claim)


def deidentify_file(
    src: str | os.PathLike[str],
    out_root: str | os.PathLike[str],
    config: DeidConfig,
    key: bytes,
    *,
    with_crosswalk: bool = False,
) -> DeidResult:
    """De-identify one DICOM file into ``out_root/<StudyUID>/<SeriesUID>/<SOPUID>.dcm``.

    Names come from the new UIDs only. An existing output is never overwritten: the same bytes
    count as ``unchanged`` (a re-run), different bytes are an error. An image that needs pixel
    review is not written to `out_root`; with ``quarantine: hold`` it goes under
    ``config.quarantine_dir`` instead.

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
    NotDicomError, TruncatedFileError, InputError
        If the input cannot be read.
    OutputError
        If the output exists with other content, or cannot be written.
    """
    src_path = Path(src)
    ds, raw = _read_full(src_path)
    if str(getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", "")) == _DICOMDIR:
        return DeidResult(AuditRecord(status="skipped", reason=_DICOMDIR_REASON), None)
    _check_pixel_length(ds, src_path)
    try:
        new, record = deidentify_dataset(ds, config, key)
    except RadprepError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as e:
        raise InvalidAttributeError(
            f"{src_path}: cannot be de-identified: an element holds a value its VR does not "
            f"allow ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        ) from e
    if not new.file_meta.get("MediaStorageSOPInstanceUID"):
        # No SOPInstanceUID anywhere: name the instance by a keyed hash of the file's bytes.
        uid = map_uid("sha256:" + hashlib.sha256(raw).hexdigest(), key)
        new.file_meta.MediaStorageSOPInstanceUID = UID(uid)
        new.SOPInstanceUID = UID(uid)
        record = _replace(record, sop_uid=uid)
    rel = output_relpath(new)
    data = _encode(new, src_path)
    rows: tuple[CrosswalkRow, ...] = ()
    if with_crosswalk:
        rows = _crosswalk_rows(ds, new, src_path, rel)
    if record.status == "quarantined":
        if config.quarantine != "hold" or config.quarantine_dir is None:
            return DeidResult(_replace(record, output=""), None, rows)
        check_outside(config.quarantine_dir, out_root, "quarantine_dir")
        target = Path(config.quarantine_dir) / rel
        _write_new(target, data, src_path)
        return DeidResult(_replace(record, output=rel.as_posix()), target, rows)
    target = Path(out_root) / rel
    status = _write_new(target, data, src_path)
    return DeidResult(_replace(record, output=rel.as_posix(), status=status), target, rows)


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
