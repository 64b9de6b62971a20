"""De-identify one data set in memory, or one file into a folder named by new UIDs only."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.config import IGNORE
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.uid import UID

from radprep.deid.actions import ActionContext, apply_actions
from radprep.deid.audit import AuditRecord
from radprep.deid.config import DeidConfig
from radprep.deid.crosswalk import check_outside
from radprep.deid.dates import date_shift_days
from radprep.deid.marking import earlier_method_codes, mark_deidentified
from radprep.deid.naming import is_uid_name, joined, output_relpath, single_uid
from radprep.deid.pixels import PixelOutcome, apply_pixel_policy
from radprep.deid.place import place
from radprep.deid.source_file import check_complete, read_source, transfer_syntax
from radprep.deid.uids import map_uid
from radprep.deid.writer import Chunk, encode_part10, load_deferred
from radprep.errors import InvalidAttributeError, RadprepError, RadprepWarning

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
    pid = joined(ds, "PatientID")
    shift = date_shift_days(pid, key, config.date_shift_max_days)
    ctx = ActionContext(config=config, key=key, shift_days=shift, source=ds)
    new = apply_actions(ds, ctx)
    notes: list[str] = []

    sop_class = single_uid(joined(new, "SOPClassUID"))
    sop = _sop_instance(ds, new, key, notes)
    ctx.counts["U" if not config.retain_uids else "K"] += 1  # MediaStorageSOPInstanceUID
    new.file_meta = file_meta(sop_class or "", sop, transfer_syntax(ds))

    pixels = apply_pixel_policy(ds, new, config)
    methods = mark_deidentified(
        new, config, pixels_cleaned=pixels.cleaned, earlier=earlier_method_codes(ds)
    )
    output = output_relpath(ds, key).as_posix() if sop else ""
    return new, _audit_record(new, ctx, pixels, tuple(methods), output, sop, notes)


def _sop_instance(ds: Dataset, new: Dataset, key: bytes, notes: list[str]) -> str:
    """The de-identified SOPInstanceUID, "" when there is none; one that is not a single valid
    UID is replaced by its generated UID (in `new`) and a note is added to `notes`."""
    if "SOPInstanceUID" not in new:
        return ""
    sop = single_uid(joined(new, "SOPInstanceUID")) or ""
    if not sop:
        # PS3.3 C.12.1: one UID of at most 64 characters. A retained value that is not one
        # (several values, too long, other characters) cannot name the instance in the file
        # meta: it gets its generated UID.
        sop = map_uid(joined(ds, "SOPInstanceUID"), key)
        new.SOPInstanceUID = UID(sop)
        notes.append(
            "SOPInstanceUID (0008,0018) was not one valid UID; a generated UID replaces it"
        )
    return sop


def _audit_record(
    new: Dataset,
    ctx: ActionContext,
    pixels: PixelOutcome,
    methods: tuple[str, ...],
    output: str,
    sop: str,
    notes: list[str],
) -> AuditRecord:
    """The audit record of one de-identified data set (new identifiers and counts only)."""
    reason = pixels.reason or None
    return AuditRecord(
        status="quarantined" if reason else "written",
        output=output,
        study_uid=joined(new, "StudyInstanceUID"),
        series_uid=joined(new, "SeriesInstanceUID"),
        sop_uid=sop,
        patient_id=str(new.get("PatientID", "") or ""),
        actions=dict(sorted(ctx.counts.items())),
        removed=dict(sorted(ctx.removed.items())),
        methods=methods,
        pixels_cleaned=pixels.cleaned,
        ocr=pixels.ocr,
        text_boxes=pixels.boxes,
        phi_in_pixels=pixels.phi,
        pixel_action=pixels.action if pixels.action != "none" else "",
        pixel_transfer_syntax=pixels.transfer_syntax,
        reason=reason or "",
        note="; ".join(notes),
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
    ds = read_source(src_path)
    if str(getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", "")) == _DICOMDIR:
        return DeidResult(AuditRecord(status="skipped", reason=_DICOMDIR_REASON), None)
    check_complete(ds, src_path, src_path.stat().st_size)
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
        _, rel, note = place(root, rel, chunks, src_path, key)
        record = _replace(record, output=rel.as_posix(), note=_join(record.note, note))
        return DeidResult(record, root / rel, rows)
    status, rel, note = place(out_root, rel, chunks, src_path, key)
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
