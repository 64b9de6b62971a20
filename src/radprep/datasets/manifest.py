"""The manifest: one row per written output, as Parquet (and a CSV copy).

Readable by pandas, polars and DuckDB. Labels become ``label_<name>`` columns; the applied
steps are a JSON string; shapes and ROI boxes are integer lists.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from radprep.io.write import atomic_write_bytes

__all__ = ["BASE_COLUMNS", "manifest_table", "write_manifest"]

BASE_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("sample_id", pa.string()),
    ("patient_id", pa.string()),
    ("split", pa.string()),
    ("output", pa.string()),
    ("path", pa.string()),
    ("format", pa.string()),
    ("shape", pa.list_(pa.int32())),
    ("dtype", pa.string()),
    ("roi_bbox", pa.list_(pa.int32())),
    ("steps", pa.string()),
    ("recipe_hash", pa.string()),
    ("source_path", pa.string()),
    ("study_instance_uid", pa.string()),
    ("series_instance_uid", pa.string()),
    ("sop_instance_uid", pa.string()),
)


def _label_value(v: Any) -> Any:
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return v


def manifest_table(records: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Build the manifest table from records, sorted by sample id then output name."""
    rows = sorted(records, key=lambda r: (str(r.get("sample_id")), str(r.get("output"))))
    label_names = sorted({k for r in rows for k in (r.get("labels") or {})})
    columns: dict[str, list[Any]] = {name: [] for name, _ in BASE_COLUMNS}
    labels: dict[str, list[Any]] = {f"label_{k}": [] for k in label_names}
    for r in rows:
        for name, _ in BASE_COLUMNS:
            v = r.get(name)
            columns[name].append(json.dumps(v, sort_keys=True) if name == "steps" else v)
        for k in label_names:
            labels[f"label_{k}"].append(_label_value((r.get("labels") or {}).get(k)))
    arrays = [pa.array(columns[n], type=t) for n, t in BASE_COLUMNS]
    names = [n for n, _ in BASE_COLUMNS]
    for name, values in labels.items():
        arrays.append(pa.array(values))
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


def write_manifest(
    records: Iterable[Mapping[str, Any]], out_dir: str | os.PathLike[str], *, csv_copy: bool = True
) -> Path:
    """Write ``manifest.parquet`` (and ``manifest.csv``) atomically; return the Parquet path."""
    table = manifest_table(records)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    out = Path(out_dir)
    path = atomic_write_bytes(out / "manifest.parquet", sink.getvalue().to_pybytes())
    if csv_copy:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(table.column_names)
        for row in table.to_pylist():
            writer.writerow(
                [
                    json.dumps(v) if isinstance(v, list) else ("" if v is None else v)
                    for v in row.values()
                ]
            )
        atomic_write_bytes(out / "manifest.csv", buf.getvalue().encode())
    return path
