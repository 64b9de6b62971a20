"""The manifest: one row per written output, as Parquet (and a CSV copy).

Readable by pandas, polars and DuckDB. Labels become ``label_<name>`` columns; the applied
steps are a JSON string; shapes and ROI boxes are integer lists.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from radprep._lazy import LazyModule
from radprep.errors import InputError
from radprep.io.write import atomic_open

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq
else:  # a worker builds records (Record) without loading pyarrow (0.1 s of start-up)
    pa = LazyModule("pyarrow")
    pq = LazyModule("pyarrow.parquet")

__all__ = [
    "BASE_COLUMNS",
    "Record",
    "label_types",
    "manifest_table",
    "observe_labels",
    "outputs_by_sample",
    "write_manifest",
    "write_manifest_batches",
]

BASE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("sample_id", "string"),
    ("patient_id", "string"),
    ("split", "string"),
    ("output", "string"),
    ("path", "string"),
    ("format", "string"),
    ("shape", "int32 list"),
    ("dtype", "string"),
    ("roi_bbox", "int32 list"),
    ("patch_kind", "string"),
    ("patch_box", "int32 list"),
    ("steps", "string"),
    ("recipe_hash", "string"),
    ("source_path", "string"),
    ("study_instance_uid", "string"),
    ("series_instance_uid", "string"),
    ("sop_instance_uid", "string"),
    ("decoder", "string"),
)
"""The manifest's fixed columns and their types (the labels' columns follow)."""


def _arrow_type(kind: str) -> pa.DataType:
    return pa.string() if kind == "string" else pa.list_(pa.int32())


@dataclass(frozen=True)
class Record:
    """One written output as the manifest lists it (one row; labels become ``label_<name>``).

    Built in one place (:func:`radprep.jobs.process.make_record`); stored in the ledger as
    :meth:`to_row` gives it and read back with :meth:`from_row`.
    """

    sample_id: str
    output: str
    path: str
    format: str
    shape: tuple[int, ...]
    dtype: str
    steps: tuple[Mapping[str, Any], ...]
    recipe_hash: str
    patient_id: str | None = None
    labels: Mapping[str, Any] = field(default_factory=dict)
    roi_bbox: tuple[int, ...] | None = None
    patch_kind: str | None = None
    patch_box: tuple[int, ...] | None = None
    split: str | None = None
    source_path: str | None = None
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    decoder: str | None = None
    """What decoded the pixels (``native``, ``imagecodecs-htj2k``, ``pylibjpeg-openjpeg``, ...)."""

    def to_row(self) -> dict[str, Any]:
        """The record as a JSON-ready dict (the manifest's columns, labels as a mapping)."""
        row: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                v = [dict(x) if isinstance(x, Mapping) else x for x in v]
            elif isinstance(v, Mapping):
                v = dict(v)
            row[f.name] = v
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Record:
        """A record from :meth:`to_row`'s dict (as the ledger stores it)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in row.items() if k in known}
        for name in ("shape", "steps", "roi_bbox", "patch_box"):
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        return cls(**values)

    def with_split(self, split: str | None) -> Record:
        """The record with its split assigned."""
        return replace(self, split=split)


def _label_value(v: Any) -> Any:
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return v


def label_types(seen: Mapping[str, set[type]]) -> dict[str, pa.DataType]:
    """One Arrow type per label from the Python types its values had (so every batch of a
    streamed manifest has the same schema): bool, int64, float64, or string for anything else."""
    out: dict[str, pa.DataType] = {}
    for name in sorted(seen):
        kinds = {t for t in seen[name] if t is not type(None)}
        if kinds <= {bool} and kinds:
            out[name] = pa.bool_()
        elif kinds <= {int} and kinds:
            out[name] = pa.int64()
        elif kinds <= {int, float} and kinds:
            out[name] = pa.float64()
        else:
            out[name] = pa.string()
    return out


def observe_labels(records: Iterable[Mapping[str, Any]], seen: dict[str, set[type]]) -> None:
    """Note the labels (and their Python types) of records, for :func:`label_types`."""
    for r in records:
        for k, v in (r.get("labels") or {}).items():
            seen.setdefault(k, set()).add(str if isinstance(v, (dict, list)) else type(v))


def _cast(v: Any, typ: pa.DataType) -> Any:
    v = _label_value(v)
    if v is None:
        return None
    if pa.types.is_string(typ):
        return v if isinstance(v, str) else str(v)
    if pa.types.is_floating(typ):
        return float(v)
    return v


def manifest_table(
    records: Iterable[Mapping[str, Any]], labels: Mapping[str, pa.DataType] | None = None
) -> pa.Table:
    """Build the manifest table from records, sorted by sample id then output name.

    `labels` fixes the label columns and their types (from :func:`label_types`); by default they
    come from these records.
    """
    rows = sorted(records, key=lambda r: (str(r.get("sample_id")), str(r.get("output"))))
    if labels is None:
        seen: dict[str, set[type]] = {}
        observe_labels(rows, seen)
        labels = label_types(seen)
    columns: dict[str, list[Any]] = {name: [] for name, _ in BASE_COLUMNS}
    label_cols: dict[str, list[Any]] = {k: [] for k in labels}
    for r in rows:
        for name, _ in BASE_COLUMNS:
            v = r.get(name)
            columns[name].append(json.dumps(v, sort_keys=True) if name == "steps" else v)
        for k, typ in labels.items():
            label_cols[k].append(_cast((r.get("labels") or {}).get(k), typ))
    arrays = [pa.array(columns[n], type=_arrow_type(t)) for n, t in BASE_COLUMNS]
    names = [n for n, _ in BASE_COLUMNS]
    for k, typ in labels.items():
        arrays.append(pa.array(label_cols[k], type=typ))
        names.append(f"label_{k}")
    return pa.Table.from_arrays(arrays, names=names)


def _csv_cell(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, list) else ("" if v is None else v)


def write_manifest_batches(
    batches: Iterable[Sequence[Mapping[str, Any]]],
    labels: Mapping[str, pa.DataType],
    out_dir: str | os.PathLike[str],
    *,
    csv_copy: bool = True,
) -> Path:
    """Stream record batches into ``manifest.parquet`` (and ``manifest.csv``), atomically.

    Memory holds one batch at a time, so a manifest of a million outputs costs what one of a
    thousand does. Batches must come in (sample id, output) order.
    """
    out = Path(out_dir)
    schema = manifest_table([], labels).schema
    with atomic_open(out / "manifest.parquet") as pfh, contextlib.ExitStack() as stack:
        writer = pq.ParquetWriter(pfh, schema, compression="zstd")
        stack.callback(writer.close)
        cfh = stack.enter_context(atomic_open(out / "manifest.csv", "w")) if csv_copy else None
        cw = csv.writer(cfh, lineterminator="\n") if cfh is not None else None
        if cw is not None:
            cw.writerow(schema.names)
        for batch in batches:
            table = manifest_table(batch, labels)
            writer.write_table(table)
            if cw is not None:
                for row in table.to_pylist():
                    cw.writerow([_csv_cell(v) for v in row.values()])
    return out / "manifest.parquet"


def write_manifest(
    records: Iterable[Mapping[str, Any]], out_dir: str | os.PathLike[str], *, csv_copy: bool = True
) -> Path:
    """Write ``manifest.parquet`` (and ``manifest.csv``) atomically; return the Parquet path."""
    rows = list(records)
    seen: dict[str, set[type]] = {}
    observe_labels(rows, seen)
    return write_manifest_batches([rows], label_types(seen), out_dir, csv_copy=csv_copy)


def outputs_by_sample(
    manifest: str | os.PathLike[str], required: Iterable[str | None] = ()
) -> dict[str, dict[str, dict[str, Any]]]:
    """Read a manifest into ``sample id -> output name -> row``, sorted by sample id.

    Raises
    ------
    InputError
        If an output named in `required` is not in the manifest (the message lists those that
        are).
    """
    rows = pq.read_table(manifest).to_pylist()
    outputs = {r["output"] for r in rows}
    for name in required:
        if name is not None and name not in outputs:
            raise InputError(
                f"{manifest}: no output {name!r} in the manifest (outputs: "
                f"{', '.join(sorted(outputs)) or 'none'})"
            )
    by_id: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_id.setdefault(r["sample_id"], {})[r["output"]] = r
    return dict(sorted(by_id.items()))
