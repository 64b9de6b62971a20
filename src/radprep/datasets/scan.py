"""A header-only index of a DICOM tree: one row per instance, no pixel decoding.

The index is the base of every dataset source: files are found by their headers and UIDs, not by
trusting folder names.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydicom

from radprep.errors import InputError, NotDicomError
from radprep.io.accounting import Accounting
from radprep.io.dicom import header_error, read_header
from radprep.io.write import atomic_write_bytes

if TYPE_CHECKING:
    import pyarrow as pa

    INDEX_SCHEMA: pa.Schema

__all__ = [
    "INDEX_SCHEMA",
    "ScanResult",
    "index_file",
    "index_table",
    "scan_dicom",
    "walk",
    "write_index",
]

# (column, pydicom keyword or None for a derived value, arrow type). pyarrow loads when an index
# is built, not on import: the sources import this module, and a run's workers build no index.
_COLUMNS: tuple[tuple[str, str | None, str], ...] = (
    ("path", None, "string"),
    ("patient_id", "PatientID", "string"),
    ("study_instance_uid", "StudyInstanceUID", "string"),
    ("series_instance_uid", "SeriesInstanceUID", "string"),
    ("sop_instance_uid", "SOPInstanceUID", "string"),
    ("sop_class_uid", "SOPClassUID", "string"),
    ("modality", "Modality", "string"),
    ("series_number", "SeriesNumber", "int32"),
    ("instance_number", "InstanceNumber", "int32"),
    ("rows", "Rows", "int32"),
    ("columns", "Columns", "int32"),
    ("frames", "NumberOfFrames", "int32"),
    ("photometric_interpretation", "PhotometricInterpretation", "string"),
    ("bits_stored", "BitsStored", "int16"),
    ("laterality", None, "string"),
    ("view_position", "ViewPosition", "string"),
    ("transfer_syntax_uid", None, "string"),
    ("has_pixels", None, "bool_"),
    ("file_size", None, "int64"),
)
_INT_BITS = {"int16": 16, "int32": 32, "int64": 64}


def _schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, typ)()) for name, _, typ in _COLUMNS])


def __getattr__(name: str) -> Any:
    if name == "INDEX_SCHEMA":  # the index table's schema (loads pyarrow)
        return _schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class ScanResult:
    """The index table and what became of every file found (relative paths)."""

    table: pa.Table
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """Files left out on purpose, with the reason (``not DICOM``, ``duplicate``)."""
    failed: list[tuple[str, str]] = field(default_factory=list)
    """DICOM-looking files whose header could not be read, with the one-line reason."""
    accounting: Accounting = field(default_factory=Accounting)
    """Every file found: done (indexed), failed or skipped, in walk order."""

    @property
    def n_instances(self) -> int:
        """Number of DICOM instances indexed."""
        return self.table.num_rows


def _fits(v: int, bits: int) -> bool:
    return -(1 << (bits - 1)) <= v < (1 << (bits - 1))


def _value(ds: pydicom.Dataset, keyword: str) -> Any:
    v = ds.get(keyword)
    if v is None or v == "":
        return None
    if isinstance(v, pydicom.multival.MultiValue):
        return "\\".join(str(x) for x in v)
    return v


ALL_COLUMNS = frozenset(name for name, _, _ in _COLUMNS)
"""The index's columns (:data:`INDEX_SCHEMA`'s names)."""


@functools.lru_cache(maxsize=8)
def _wanted(columns: frozenset[str]) -> tuple[list[tuple[str, str, str]], list[int]]:
    """The header-read columns among `columns`, and the tags a parse of them keeps."""
    if "frames" in columns:  # one frame is noted where a picture has no NumberOfFrames
        columns |= {"rows"}
    read = [(n, k, t) for n, k, t in _COLUMNS if k is not None and n in columns]
    keywords = [k for _, k, _ in read]
    if "laterality" in columns:
        keywords += ["ImageLaterality", "Laterality"]
    tags = [int(pydicom.datadict.tag_for_keyword(k) or 0) for k in keywords]
    return read, [*tags, 0x7FE00010]


def _row(path: Path, root: Path, columns: frozenset[str] = ALL_COLUMNS) -> dict[str, Any]:
    read, tags = _wanted(columns)
    # specific_tags keeps the parse to the few elements we need; pixel data is never read.
    ds = read_header(path, specific_tags=tags)
    row: dict[str, Any] = {}
    for name, keyword, typ in read:
        v = _value(ds, keyword)
        if v is not None and typ in _INT_BITS:
            try:
                v = int(v)
            except (TypeError, ValueError, OverflowError):
                v = None
            if v is not None and not _fits(v, _INT_BITS[typ]):
                # BitsStored 65535 or InstanceNumber 9999999999 in a damaged header: the value
                # cannot be an index column of that type; the row keeps the file, not the value.
                v = None
        elif v is not None:
            v = str(v).strip()
        row[name] = v
    if "frames" in columns and row["frames"] is None and row["rows"] is not None:
        row["frames"] = 1
    if "laterality" in columns:
        lat = _value(ds, "ImageLaterality") or _value(ds, "Laterality")
        row["laterality"] = str(lat).strip() if lat else None
    if "transfer_syntax_uid" in columns:
        fm = getattr(ds, "file_meta", None)
        ts = fm.get("TransferSyntaxUID") if fm is not None else None
        row["transfer_syntax_uid"] = str(ts) if ts else None
    row["has_pixels"] = "PixelData" in ds
    row["path"] = path.relative_to(root).as_posix()
    if "file_size" in columns:
        row["file_size"] = path.stat().st_size
    return row


def index_file(path: Path, root: Path, columns: frozenset[str] = ALL_COLUMNS) -> dict[str, Any]:
    """The index row of one file, from its header (the unit of work of ``radprep index``):
    `columns` (``path`` and ``has_pixels`` always; a column not asked for is left out).

    Raises
    ------
    NotDicomError
        For a file that is not DICOM.
    InputError
        A documented subclass naming the file, for a header that cannot be read.
    """
    try:
        with warnings.catch_warnings():
            # pydicom warns about odd values as they are read; the index keeps them.
            warnings.simplefilter("ignore", UserWarning)
            return _row(path, root, columns)
    except (NotDicomError, InputError, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # one damaged header never stops a scan
        raise header_error(e, str(path)) from None


def index_table(rows: Iterable[dict[str, Any]]) -> pa.Table:
    """The index table of rows from :func:`index_file`, in their order."""
    import pyarrow as pa

    return pa.Table.from_pylist(list(rows), schema=_schema())


def scan_dicom(
    root: str | os.PathLike[str],
    *,
    on_file: Callable[[Path, bool], None] | None = None,
    columns: Collection[str] = ALL_COLUMNS,
) -> ScanResult:
    """Index every DICOM file under `root` from its header.

    Parameters
    ----------
    root : path
        The folder to walk (recursively, sorted, hidden entries left out).
    on_file : callable, optional
        Called as ``on_file(path, indexed)`` per file (for progress).
    columns : collection of str, optional
        The columns to read (default all; ``path`` and ``has_pixels`` always): the others are
        left empty, and each header's parse keeps only the elements asked for.

    Returns
    -------
    ScanResult
        One row per instance with the columns of :data:`INDEX_SCHEMA` (``path`` relative to
        `root`, POSIX separators); files that are not DICOM (or met twice through links) in
        ``skipped``, files whose header cannot be read in ``failed`` with the reason; every
        file in ``accounting``. Nothing any one file holds stops the scan.
    """
    base = Path(root)
    wanted = frozenset(columns)
    rows: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    failed: list[tuple[str, str]] = []
    acc = Accounting()
    for files in walk(base):
        for path in files:
            rel = path.relative_to(base).as_posix()
            ok = False
            if acc.seen(path):
                skipped.append((rel, "duplicate"))
                acc.skipped(rel, "duplicate")
            else:
                try:
                    rows.append(index_file(path, base, wanted))
                    ok = True
                    acc.done(rel)
                except NotDicomError:
                    skipped.append((rel, "not DICOM"))
                    acc.skipped(rel, "not DICOM")
                except InputError as err:
                    failed.append((rel, str(err)))
                    acc.failed(rel, str(err), type(err).__name__)
            if on_file is not None:
                on_file(path, ok)
    table = index_table(rows)
    return ScanResult(table=table, skipped=skipped, failed=failed, accounting=acc)


def walk(base: Path) -> Iterable[list[Path]]:
    """The files under `base`, a folder at a time: sorted, hidden entries left out."""
    for root, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        yield [Path(root) / f for f in sorted(files) if not f.startswith(".")]


def write_index(result: ScanResult | pa.Table, out: str | os.PathLike[str]) -> Path:
    """Write the index table (of a scan) to Parquet atomically; return the path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    table = result.table if isinstance(result, ScanResult) else result
    pq.write_table(table, sink, compression="zstd")
    return atomic_write_bytes(out, sink.getvalue().to_pybytes())
