"""Read a run folder for the report: ``run.json``, the manifest (without its PHI columns),
``report/items.jsonl``, ``failures.jsonl``, ``warnings.jsonl``, ``deid_summary.json``; each
sample's split and labels; and the redactor of the run's free text."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radprep.deid.redact import Redactor, path_values
from radprep.errors import SpecError

__all__ = ["NO_SPLIT", "PHI_COLUMNS", "RunData", "load_run", "sample_labels", "sample_splits"]

NO_SPLIT = "(none)"
"""The split shown for samples the manifest gives no split."""

# Manifest columns that may hold PHI: the report never prints them.
PHI_COLUMNS = (
    "patient_id",
    "source_path",
    "study_instance_uid",
    "series_instance_uid",
    "sop_instance_uid",
)


@dataclass
class RunData:
    """Everything the report reads from one run folder."""

    out_dir: Path
    run: dict[str, Any]
    items: list[dict[str, Any]]
    manifest: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    deid: dict[str, Any] | None
    page_size: int = 200

    @property
    def outputs(self) -> list[str]:
        """The output names, in the recipe's order (else sorted)."""
        names = list((self.run.get("recipe") or {}).get("outputs") or {})
        seen = {r["output"] for r in self.manifest if r.get("output")}
        seen |= {k for it in self.items for k in it.get("thumbs", {}) if not k.startswith("source")}
        return [n for n in names if n in seen] + sorted(seen - set(names))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def _read_manifest(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    # PHI columns are never read, so nothing downstream can print them by mistake.
    wanted = [n for n in schema.names if n not in PHI_COLUMNS]
    # ParquetFile reads the file alone (read_table loads pyarrow's dataset layer: ~0.2 s).
    return pq.ParquetFile(path).read(columns=wanted).to_pylist()


def _phi_values(path: Path, root: str | None) -> list[str]:
    """The manifest's patient ids and source paths (with their file and folder names under
    the data root `root`: see :func:`radprep.deid.redact.path_values`)."""
    if not path.is_file():
        return []
    import pyarrow.parquet as pq

    # UIDs need no list: every UID outside the standard's own is redacted by its shape.
    names = [n for n in pq.read_schema(path).names if n in ("patient_id", "source_path")]
    values: set[str] = set()
    for name in names:
        for v in pq.ParquetFile(path).read(columns=[name]).column(0).to_pylist():
            if isinstance(v, str) and v:
                values.update(path_values(v, below=root) if name == "source_path" else [v])
    return sorted(values)


def load_run(out_dir: str | Path) -> tuple[RunData, Redactor]:
    """Read a run folder; return its data and a redactor for its free text (active only when the
    run de-identified: a ``deid`` section in its recipe, or ``deid_summary.json``).

    Parameters
    ----------
    out_dir : path
        A folder written by ``radprep run`` (it holds ``run.json``).

    Returns
    -------
    RunData, Redactor

    Raises
    ------
    SpecError
        If `out_dir` is not a run folder.
    """
    out = Path(out_dir)
    run_file = out / "run.json"
    if not run_file.is_file():
        raise SpecError(
            f"{out} is not a radprep run folder (no run.json); give the --out folder of "
            "`radprep run`"
        )
    try:
        run = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SpecError(f"{run_file} cannot be read as JSON ({e}); rerun `radprep run`") from e
    deid_file = out / "deid_summary.json"
    deid = json.loads(deid_file.read_text(encoding="utf-8")) if deid_file.is_file() else None
    report_spec = (run.get("recipe") or {}).get("report") or {}
    data = RunData(
        out_dir=out,
        run=run,
        items=sorted(_read_jsonl(out / "report" / "items.jsonl"), key=lambda r: r["sample_id"]),
        manifest=_read_manifest(out / "manifest.parquet"),
        failures=sorted(_read_jsonl(out / "failures.jsonl"), key=lambda r: str(r.get("item_id"))),
        warnings=_read_jsonl(out / "warnings.jsonl"),
        deid=deid if isinstance(deid, dict) else None,
        page_size=int(report_spec.get("page_size") or 200),
    )
    shown_ids = [str(r["sample_id"]) for r in data.items] + [
        str(r.get("item_id")) for r in data.failures
    ]
    deid_on = data.deid is not None or bool((run.get("recipe") or {}).get("deid"))
    root = ((run.get("recipe") or {}).get("source") or {}).get("root")
    secrets = _phi_values(out / "manifest.parquet", str(root) if root else None) if deid_on else []
    return data, Redactor(secrets, keep=shown_ids, active=deid_on)


def _label_text(v: Any) -> str:
    if v is None:
        return "(none)"
    if isinstance(v, float) and math.isnan(v):
        return "(none)"
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def sample_splits(manifest: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Return each sample's split (:data:`NO_SPLIT` when the manifest has none)."""
    out: dict[str, str] = {}
    for r in manifest:
        sid = str(r.get("sample_id"))
        if sid not in out or out[sid] == NO_SPLIT:
            out[sid] = str(r["split"]) if r.get("split") else NO_SPLIT
    return out


def sample_labels(data: RunData) -> dict[str, dict[str, str]]:
    """Return each sample's labels as text (from ``items.jsonl``, else the manifest)."""
    out: dict[str, dict[str, str]] = {}
    for r in data.manifest:
        sid = str(r.get("sample_id"))
        if sid in out:
            continue
        out[sid] = {
            k[len("label_") :]: _label_text(v)
            for k, v in sorted(r.items())
            if k.startswith("label_") and v is not None
        }
    for it in data.items:
        out[str(it["sample_id"])] = {
            str(k): _label_text(v) for k, v in sorted((it.get("labels") or {}).items())
        }
    return out
