"""The occlusion experiment's outputs: its table (one row per sample, labels kept with the
manifest's types) and its run record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from radprep.experiments.occlusion_sample import OcclusionSettings
from radprep.io.write import atomic_open

__all__ = ["run_info", "table_rows", "write_table"]


_NUMBERS = (
    "score_full",
    "score_occluded",
    "score_control",
    "score_drop",
    "control_drop",
    "roi_share",
    "roi_area_share",
    "control_breast_share",
    "seconds_scores",
    "seconds_map",
)


def table_rows(
    records: Sequence[Mapping[str, Any]],
    by_id: Mapping[str, Mapping[str, Mapping[str, Any]]],
    image_output: str,
) -> list[dict[str, Any]]:
    rows = []
    for r in sorted(records, key=lambda r: str(r["sample_id"])):
        m = by_id.get(r["sample_id"], {}).get(image_output, {})
        row: dict[str, Any] = {
            "sample_id": r["sample_id"],
            "patient_id": m.get("patient_id"),
            "split": m.get("split"),
        }
        row.update({k: r[k] for k in _NUMBERS})
        row.update(
            {k: r[k] for k in ("occluded_box", "control_box", "heatmap", "overlay", "saliency")}
        )
        row.update({k: v for k, v in m.items() if k.startswith("label_")})
        rows.append(row)
    return rows


def write_table(rows: Sequence[Mapping[str, Any]], path: Path, manifest: Path) -> Path:
    """Write the table; label columns keep the manifest's types."""
    labels = [f for f in pq.read_schema(manifest) if f.name.startswith("label_")]
    schema = pa.schema(
        [
            pa.field("sample_id", pa.string()),
            pa.field("patient_id", pa.string()),
            pa.field("split", pa.string()),
            *(pa.field(k, pa.float64()) for k in _NUMBERS),
            pa.field("occluded_box", pa.list_(pa.int32())),
            pa.field("control_box", pa.list_(pa.int32())),
            pa.field("heatmap", pa.string()),
            pa.field("overlay", pa.string()),
            pa.field("saliency", pa.string()),
            *labels,
        ]
    )
    table = pa.Table.from_pylist(
        [{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema
    )
    with atomic_open(path) as fh:
        pq.write_table(table, fh, compression="zstd")
    return path


def run_info(
    result: Any,
    run: Path,
    settings: OcclusionSettings,
    outputs: dict[str, str],
    rhash: str,
) -> dict[str, Any]:
    """The run record written to ``occlusion.json`` and shown by the report."""
    return {
        "run_dir": str(run),
        "model": result.model,
        "settings": asdict(settings),
        "outputs": outputs,
        "hash": rhash,
        "counts": {
            "samples": result.samples,
            "done": result.done,
            "failed": result.failed,
            "skipped_already_done": result.skipped,
            "not_eligible": len(result.not_eligible),
        },
        "median_seconds_per_image": {
            "scores": result.seconds_scores,
            "sensitivity_map": result.seconds_map,
        },
        "seconds": round(result.seconds, 3),
    }
