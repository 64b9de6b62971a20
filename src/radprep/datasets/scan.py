"""A header-only index of a DICOM tree: one row per instance, no pixel decoding.

The index is the base of every dataset source: files are found by their headers and UIDs, not by
trusting folder names.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pydicom

from radprep.errors import InputError, NotDicomError
from radprep.io.dicom import read_header
from radprep.io.write import atomic_write_bytes

__all__ = ["INDEX_SCHEMA", "ScanResult", "scan_dicom", "write_index"]

# (column, pydicom keyword or None for a derived value, arrow type)
_COLUMNS: tuple[tuple[str, str | None, pa.DataType], ...] = (
    ("path", None, pa.string()),
    ("patient_id", "PatientID", pa.string()),
    ("study_instance_uid", "StudyInstanceUID", pa.string()),
    ("series_instance_uid", "SeriesInstanceUID", pa.string()),
    ("sop_instance_uid", "SOPInstanceUID", pa.string()),
    ("sop_class_uid", "SOPClassUID", pa.string()),
    ("modality", "Modality", pa.string()),
    ("series_number", "SeriesNumber", pa.int32()),
    ("instance_number", "InstanceNumber", pa.int32()),
    ("rows", "Rows", pa.int32()),
    ("columns", "Columns", pa.int32()),
    ("frames", "NumberOfFrames", pa.int32()),
    ("photometric_interpretation", "PhotometricInterpretation", pa.string()),
    ("bits_stored", "BitsStored", pa.int16()),
    ("laterality", None, pa.string()),
    ("view_position", "ViewPosition", pa.string()),
    ("transfer_syntax_uid", None, pa.string()),
    ("has_pixels", None, pa.bool_()),
    ("file_size", None, pa.int64()),
)
INDEX_SCHEMA = pa.schema([(name, typ) for name, _, typ in _COLUMNS])
_TAGS: list[int] = [
    int(pydicom.datadict.tag_for_keyword(k) or 0)
    for k in [*(k for _, k, _ in _COLUMNS if k is not None), "ImageLaterality", "Laterality"]
]


@dataclass
class ScanResult:
    """The index table and the files left out of it, with why."""

    table: pa.Table
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def n_instances(self) -> int:
        """Number of DICOM instances indexed."""
        return self.table.num_rows


def _value(ds: pydicom.Dataset, keyword: str) -> Any:
    v = ds.get(keyword)
    if v is None or v == "":
        return None
    if isinstance(v, pydicom.multival.MultiValue):
        return "\\".join(str(x) for x in v)
    return v


def _row(path: Path, root: Path) -> dict[str, Any]:
    # specific_tags keeps the parse to the few elements we need; pixel data is never read.
    ds = read_header(path, specific_tags=[*_TAGS, 0x7FE00010])
    row: dict[str, Any] = {}
    for name, keyword, typ in _COLUMNS:
        if keyword is None:
            continue
        v = _value(ds, keyword)
        if v is not None and pa.types.is_integer(typ):
            try:
                v = int(v)
            except (TypeError, ValueError):
                v = None
        elif v is not None:
            v = str(v).strip()
        row[name] = v
    if row["frames"] is None and row["rows"] is not None:
        row["frames"] = 1
    lat = _value(ds, "ImageLaterality") or _value(ds, "Laterality")
    row["laterality"] = str(lat).strip() if lat else None
    fm = getattr(ds, "file_meta", None)
    ts = fm.get("TransferSyntaxUID") if fm is not None else None
    row["transfer_syntax_uid"] = str(ts) if ts else None
    row["has_pixels"] = "PixelData" in ds
    row["path"] = path.relative_to(root).as_posix()
    row["file_size"] = path.stat().st_size
    return row


def scan_dicom(
    root: str | os.PathLike[str],
    *,
    on_file: Callable[[Path, bool], None] | None = None,
) -> ScanResult:
    """Index every DICOM file under `root` from its header.

    Parameters
    ----------
    root : path
        The folder to walk (recursively, sorted, hidden entries left out).
    on_file : callable, optional
        Called as ``on_file(path, indexed)`` per file (for progress).

    Returns
    -------
    ScanResult
        One row per instance with the columns of :data:`INDEX_SCHEMA` (``path`` relative to
        `root`, POSIX separators); files that are not DICOM are listed in ``skipped``.
    """
    base = Path(root)
    rows: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    for files in _walk(base):
        for path in files:
            try:
                with warnings.catch_warnings():
                    # pydicom warns about odd values as they are read; the index keeps them.
                    warnings.simplefilter("ignore", UserWarning)
                    rows.append(_row(path, base))
                ok = True
            except (InputError, ValueError, TypeError, KeyError) as e:
                reason = (
                    "not DICOM"
                    if isinstance(e, NotDicomError)
                    else f"unreadable ({type(e).__name__})"
                )
                skipped.append((path.relative_to(base).as_posix(), reason))
                ok = False
            if on_file is not None:
                on_file(path, ok)
    table = pa.Table.from_pylist(rows, schema=INDEX_SCHEMA)
    return ScanResult(table=table, skipped=skipped)


def _walk(base: Path) -> Iterable[list[Path]]:
    for root, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        yield [Path(root) / f for f in sorted(files) if not f.startswith(".")]


def write_index(result: ScanResult, out: str | os.PathLike[str]) -> Path:
    """Write the index table to Parquet atomically; return the path."""
    sink = pa.BufferOutputStream()
    pq.write_table(result.table, sink, compression="zstd")
    return atomic_write_bytes(out, sink.getvalue().to_pybytes())
