"""The occlusion experiment over a finished run (Zeiler & Fergus, "Visualizing and Understanding
Convolutional Networks", 2013).

For every sample a classifier scores the image, its copy with the ROI occluded (the run's
``occluded`` output) and, as a control, a copy with a box of the same size occluded at a seeded
random place in the breast away from the ROI. A sliding occluder (a ``patch_px`` square of
``fill``, moved by ``stride_px``) gives a sensitivity map: for each pixel, the mean drop in score
over the patch positions that cover it. ``roi_share`` is the share of the map's positive mass
inside the ROI mask (the run's ``roi_mask`` output); by chance it is the ROI's share of the image.

Pixels reach the model as the run wrote them scaled to [0, 1] (uint8 / 255, uint16 / 65535),
channel first, grey repeated to three channels when the model wants three, then normalised
(``(x - mean) / std``) when asked; occluders are filled in [0, 1] before the normalisation.

The run is resumable (a ledger under ``OUT/.radprep``), streams samples through the executor
(serial, a process pool or Dask), and writes every file atomically. One sample's work is in
:mod:`radprep.experiments.occlusion_sample`, the pure parts in :mod:`radprep.experiments.occluder`
(all re-exported here).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radprep.batch.executor import get_executor
from radprep.batch.ledger import Ledger
from radprep.batch.progress import Progress
from radprep.datasets.manifest import outputs_by_sample
from radprep.datasets.sources import fingerprint
from radprep.errors import InputError, SpecError
from radprep.experiments.occluder import (
    control_box,
    draw_overlay,
    occluded_box,
    occlusion_positions,
    roi_share,
    sensitivity_map,
)
from radprep.experiments.occlusion_sample import (
    ACTIVATIONS,
    OcclusionJob,
    OcclusionSettings,
    _cached_model,
    check_model,
)
from radprep.experiments.occlusion_table import run_info, table_rows, write_table
from radprep.io.write import atomic_write_bytes

__all__ = [
    "ACTIVATIONS",
    "OcclusionJob",
    "OcclusionResult",
    "OcclusionSettings",
    "control_box",
    "draw_overlay",
    "occluded_box",
    "occlusion_positions",
    "roi_share",
    "run_occlusion",
    "sensitivity_map",
]

STATE_DIR = ".radprep"
TABLE = "occlusion.parquet"


@dataclass
class OcclusionResult:
    """What an occlusion run did and where it put it."""

    out_dir: Path
    samples: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    not_eligible: list[dict[str, str]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    table: Path | None = None
    report: Path | None = None
    seconds_scores: float = float("nan")
    seconds_map: float = float("nan")
    model: dict[str, Any] = field(default_factory=dict)


def _hash(model_path: Path, settings: OcclusionSettings, class_index: int, outs: Any) -> str:
    h = hashlib.sha256()
    with open(model_path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    h.update(json.dumps([asdict(settings), class_index, outs], sort_keys=True).encode())
    return h.hexdigest()[:16]


def run_occlusion(
    run_dir: str | os.PathLike[str],
    model_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    settings: OcclusionSettings | None = None,
    image_output: str = "full",
    occluded_output: str = "occluded",
    mask_output: str = "roi_mask",
    executor: str = "processes",
    workers: int | None = None,
    scheduler: str | None = None,
    limit: int | None = None,
    fresh: bool = False,
    progress: str = "auto",
    report: bool = True,
) -> OcclusionResult:
    """Run the occlusion experiment over a finished run and write its table, maps and report.

    Everything is checked before anything is written: the run's manifest and its outputs, the
    model file, its input shape against the images, and the class of interest.

    Parameters
    ----------
    run_dir : path
        A finished run's folder (holds ``manifest.parquet``).
    model_path : path
        An ONNX or TorchScript classifier.
    out : path
        Where to write ``occlusion.parquet``, ``heatmaps/``, ``overlays/`` and ``report.html``.
    settings : OcclusionSettings
        Class, normalisation, occluder and control options.
    image_output, occluded_output, mask_output : str
        The run's outputs holding the images, their occluded copies and the ROI masks.
    executor, workers, scheduler
        Where samples run (see :func:`radprep.batch.get_executor`).
    limit : int, optional
        Only the first `limit` samples (sorted by id).
    fresh : bool
        Forget earlier progress and redo every sample.
    progress : {"auto", "bar", "lines", "quiet"}
    report : bool
        Write ``report.html``.

    Raises
    ------
    SpecError
        For a missing manifest or output, an unreadable model, a model input that does not fit
        the images, or a bad option; nothing is written then.
    """
    settings = settings or OcclusionSettings()
    settings.check()
    where = {"executor": executor, "workers": workers, "scheduler": scheduler}
    options = {"limit": limit, "fresh": fresh, "progress": progress, "report": report}
    outs = (image_output, occluded_output, mask_output)
    return _occlusion(Path(run_dir), Path(model_path), Path(out), settings, outs, where, options)


def _occlusion(
    run: Path,
    model_path: Path,
    out: Path,
    settings: OcclusionSettings,
    outs: tuple[str, str, str],
    where: dict[str, Any],
    options: dict[str, Any],
) -> OcclusionResult:
    """:func:`run_occlusion` once its options are gathered: check, run, write."""
    t0 = time.perf_counter()
    manifest, by_id = _read_run(run, outs)
    threads = 0 if where["executor"] == "serial" and not where["scheduler"] else 1
    model_file = str(model_path.resolve())
    model = _cached_model(model_file, settings.input_shape, threads)
    n_outputs, class_index = check_model(model, settings, by_id, outs[0], run)
    # Checked: from here on, files are written.
    out_dir = out.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    result = OcclusionResult(out_dir=out_dir)
    names: list[str | None] = [*(list(settings.classes) or model.classes)]
    result.model = {
        "path": str(model_path.name),
        "kind": model.kind,
        "input_shape": list(model.input_shape),
        "outputs": n_outputs,
        "class_index": class_index,
        "class_name": names[class_index] if class_index < len(names) else None,
    }
    items = _eligible(by_id, run, outs, result.not_eligible)[: options["limit"]]
    result.samples = len(items)
    rhash = _hash(model_path, settings, class_index, outs)
    job = OcclusionJob(model_file, settings, class_index, str(out_dir), threads)
    records, result.failures, result.skipped = _execute(
        job, items, rhash, fresh=options["fresh"], progress=options["progress"], **where
    )
    info = {"run": run, "settings": settings, "outputs": outs, "hash": rhash, "t0": t0}
    _finish(result, records, by_id, manifest, info, report=options["report"])
    return result


def _read_run(
    run: Path, outs: tuple[str, str, str]
) -> tuple[Path, dict[str, dict[str, dict[str, Any]]]]:
    """The run's manifest and, per sample, its entries of the three outputs."""
    manifest = run / "manifest.parquet"
    if not manifest.is_file():
        raise SpecError(f"{run}: no manifest.parquet; give the folder of a finished run")
    try:
        return manifest, outputs_by_sample(manifest, outs)
    except InputError as e:
        raise SpecError(str(e)) from None


def _finish(
    result: OcclusionResult,
    records: list[dict[str, Any]],
    by_id: Mapping[str, Mapping[str, Mapping[str, Any]]],
    manifest: Path,
    ctx: Mapping[str, Any],
    *,
    report: bool,
) -> None:
    """Write the table, failures, ``occlusion.json`` and the report; fill in `result`."""
    out_dir = result.out_dir
    failures = result.failures
    result.failed = len(failures)
    result.done = len(records)
    rows = table_rows(records, by_id, ctx["outputs"][0])
    result.table = write_table(rows, out_dir / TABLE, manifest)
    lines = "".join(json.dumps(f, sort_keys=True) + "\n" for f in failures)
    atomic_write_bytes(out_dir / "failures.jsonl", lines.encode())
    if records:
        result.seconds_scores = float(np.median([r["seconds_scores"] for r in records]))
        result.seconds_map = float(np.median([r["seconds_map"] for r in records]))
    result.seconds = time.perf_counter() - ctx["t0"]
    outputs = dict(zip(("image", "occluded", "mask"), ctx["outputs"], strict=True))
    info = run_info(result, ctx["run"], ctx["settings"], outputs, ctx["hash"])
    atomic_write_bytes(
        out_dir / "occlusion.json", (json.dumps(info, indent=2, sort_keys=True) + "\n").encode()
    )
    if report:
        from radprep.experiments.report import build_occlusion_report

        result.report = build_occlusion_report(out_dir, rows, info, result.not_eligible, failures)


def _eligible(
    by_id: Mapping[str, Mapping[str, Mapping[str, Any]]],
    run: Path,
    outs: tuple[str, str, str],
    not_eligible: list[dict[str, str]],
) -> list[dict[str, Any]]:
    """The samples with all three outputs, as job items; the others go to `not_eligible`."""
    items: list[dict[str, Any]] = []
    for sid, o in by_id.items():
        missing = [n for n in outs if n not in o]
        if missing:
            not_eligible.append({"sample_id": sid, "reason": f"no {', '.join(missing)} output"})
            continue
        item: dict[str, Any] = {"sample_id": sid}
        for key, name in zip(("image", "occluded", "mask"), outs, strict=True):
            item[key] = str(run / o[name]["path"])
            item[f"{key}_format"] = o[name]["format"]
        items.append(item)
    return items


def _fingerprint(it: Mapping[str, Any]) -> str:
    try:
        return fingerprint(it["image"], it["occluded"], it["mask"])
    except OSError:
        return "missing"


def _execute(
    job: OcclusionJob,
    items: list[dict[str, Any]],
    rhash: str,
    *,
    fresh: bool,
    executor: str,
    workers: int | None,
    scheduler: str | None,
    progress: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Run the job over the items not done yet (the ledger resumes); return every sample's
    record, the failures and how many were skipped as done."""
    failures: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    with Ledger(Path(job.out_dir) / STATE_DIR / "ledger.sqlite") as ledger:
        if fresh:
            ledger.clear()
        finished = ledger.finished(rhash)
        fps = {it["sample_id"]: _fingerprint(it) for it in items}
        todo = [it for it in items if finished.get(it["sample_id"]) != fps[it["sample_id"]]]
        bar = Progress(len(todo), mode=progress, label="samples")
        try:
            # Nothing to do (all resumed): no pool or cluster is started.
            with (
                get_executor(executor, workers=workers, scheduler=scheduler)
                if todo
                else get_executor("serial")
            ) as ex:
                for item, outcome in ex.map(job, todo):
                    ledger.record(
                        item["sample_id"],
                        run_hash=rhash,
                        fingerprint=fps[item["sample_id"]],
                        ok=outcome.ok,
                        payload=outcome.value if outcome.ok else {},
                        error=outcome.error,
                        message=outcome.message,
                        seconds=outcome.seconds,
                    )
                    bar.update(outcome.ok)
        finally:
            bar.close()
        for entry in ledger.entries([it["sample_id"] for it in items]):
            if entry.run_hash != rhash:
                continue
            if entry.ok:
                records.append(entry.payload)
            else:
                failures.append(
                    {"sample_id": entry.item_id, "error": entry.error, "message": entry.message}
                )
    return records, failures, len(items) - len(todo)
