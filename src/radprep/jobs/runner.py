"""A whole recipe run: items from the source, the job on an executor, the ledger, the records.

The run is resumable (the ledger skips finished items whose recipe and input are unchanged),
streaming (a bounded number of items in flight), and gives the same output bytes whatever
executes it. Everything it writes goes to a temporary name first and is renamed into place.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import platform
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from radprep.batch.engine import (
    STATE_DIR,
    Executed,
    Where,
    account,
    entries,
    execute,
    open_ledger,
    write_records,
)
from radprep.batch.executor import Outcome
from radprep.batch.ledger import Ledger
from radprep.batch.worker_process import start_forkserver
from radprep.datasets.manifest import Record, label_types, observe_labels, write_manifest_batches
from radprep.datasets.sources import Item
from radprep.export.nifti import write_pairs_for_run
from radprep.io.accounting import Accounting
from radprep.io.write import atomic_open, atomic_write_bytes
from radprep.jobs.privacy import Privacy
from radprep.jobs.process import ItemJob, peak_rss_mb
from radprep.jobs.run_plan import RunPlan, plan_run, recipe_and_out
from radprep.pipeline.spec import Recipe

__all__ = ["RunResult", "run_recipe"]


@dataclass
class RunResult:
    """What a run did and where it put it."""

    out_dir: Path
    recipe_hash: str
    items: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    outputs: int = 0
    warnings: int = 0
    seconds: float = 0.0
    manifest: Path | None = None
    failures_file: Path | None = None
    run_file: Path | None = None
    report: Path | None = None
    inputs_file: Path | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    accounting: Accounting = field(default_factory=Accounting)
    """Every input file the source met: its items done or failed, the rest skipped or failed."""

    @property
    def ok(self) -> bool:
        """True when no item failed."""
        return self.failed == 0

    @property
    def exit_code(self) -> int:
        """0 when all succeeded, 1 when some failed."""
        return 0 if self.ok else 1


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("radprep", "numpy", "pydicom", "opencv-python-headless", "pyarrow", "pydantic"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def _radiomics_pairs(recipe: Recipe, out_dir: Path) -> None:
    """With one volume image output and one volume mask output, write the image+mask pairs as
    the CSV pyradiomics' batch mode reads (``radiomics_pairs.csv``)."""
    volume = {"nifti", "nrrd"}
    active = recipe.active_outputs().items()
    images = [n for n, o in active if o.format in volume and o.write == "image"]
    masks = [n for n, o in active if o.format in volume and o.write.startswith("mask:")]
    if len(images) == 1 and len(masks) == 1:
        write_pairs_for_run(out_dir, image_output=images[0], mask_output=masks[0])


PHASES = ("plan", "first_item", "items", "records", "report")
"""A run's phases, as run.json's ``phase_seconds`` gives them: the recipe read and the source
indexed; the workers started and the first item back; the other items; the manifest, logs
and run record; the report (added to run.json once it is written)."""


@dataclass
class _Tally:
    """What the items' results add up to while they come back."""

    timings: dict[str, float] = field(
        default_factory=lambda: {"load": 0.0, "steps": 0.0, "write": 0.0, "report": 0.0}
    )
    worker_rss: float = 0.0
    started: float = field(default_factory=time.time)
    t0: float = field(default_factory=time.perf_counter)
    phase_ends: dict[str, float] = field(default_factory=dict)
    """Seconds from the run's start to the end of each of its phases (:data:`PHASES`)."""

    def mark(self, phase: str) -> None:
        """Note that `phase` ends now (the first time only)."""
        self.phase_ends.setdefault(phase, time.perf_counter() - self.t0)

    def phase_seconds(self) -> dict[str, float]:
        """How long each phase noted so far took, in order."""
        out, previous = {}, 0.0
        for phase in PHASES:
            if phase in self.phase_ends:
                out[phase] = round(self.phase_ends[phase] - previous, 3)
                previous = self.phase_ends[phase]
        return out

    def counter(
        self, on_result: Callable[[Item, bool], None] | None
    ) -> Callable[[Item, Outcome[Any], Any], None]:
        """The engine's callback: add an item's times and memory, then tell `on_result`."""

        def count(item: Item, outcome: Outcome[Any], payload: Any) -> None:
            self.mark("first_item")
            if outcome.ok:
                for k, v in payload["timings"].items():
                    self.timings[k] += v
                self.worker_rss = max(self.worker_rss, payload.get("peak_rss_mb") or 0.0)
            if on_result is not None:
                on_result(item, outcome.ok)

        return count


def _store(privacy: Privacy | None) -> Callable[[Item, Outcome[Any]], tuple[Any, str]]:
    """What the ledger keeps of an item's result: under de-identification, its messages with
    every original value of the item removed."""

    def store(item: Item, outcome: Outcome[Any]) -> tuple[Any, str]:
        payload: dict[str, Any] = outcome.value if outcome.ok and outcome.value else {}
        message = outcome.message
        if privacy is not None:
            message = privacy.scrub(message, item.id)
            if payload:
                payload["warnings"] = privacy.scrub_all(payload["warnings"], item.id)
        return payload, message

    return store


def _write_logs(plan: RunPlan, ledger: Ledger) -> tuple[int, int, dict[str, set[type]]]:
    """From the ledger, one item at a time: ``warnings.jsonl`` and the report's
    ``items.jsonl``; return the outputs and warnings counted and the labels' types seen."""
    seen_labels: dict[str, set[type]] = {}
    n_outputs = n_warnings = 0
    with contextlib.ExitStack() as stack:
        wfh = stack.enter_context(atomic_open(plan.out_dir / "warnings.jsonl", "w"))
        rfh = (
            stack.enter_context(atomic_open(plan.out_dir / "report" / "items.jsonl", "w"))
            if plan.recipe.report.enabled
            else None
        )
        for entry in entries(ledger, plan.run_hash, [it.id for it in plan.items]):
            if not entry.ok:
                continue
            recs = entry.payload["records"]
            n_outputs += len(recs)
            observe_labels(recs, seen_labels)
            for w in entry.payload["warnings"]:
                n_warnings += 1
                line = {"sample_id": entry.item_id, "warning": w}
                wfh.write(json.dumps(line, sort_keys=True) + "\n")
            if rfh is not None and entry.payload.get("report"):
                item_line = {
                    "sample_id": entry.item_id,
                    "labels": recs[0].get("labels", {}) if recs else {},
                    "warnings": entry.payload["warnings"],
                    **entry.payload["report"],
                }
                rfh.write(json.dumps(item_line, sort_keys=True) + "\n")
    return n_outputs, n_warnings, seen_labels


def _write_manifest(plan: RunPlan, ledger: Ledger, seen_labels: dict[str, set[type]]) -> Path:
    """The manifest from the ledger, 500 records at a time (memory flat for any run size)."""

    def batches() -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        for entry in entries(ledger, plan.run_hash, [it.id for it in plan.items]):
            if not entry.ok:
                continue
            records = (Record.from_row(r) for r in entry.payload["records"])
            for r in sorted(records, key=lambda r: r.output):
                batch.append(r.with_split(plan.splits.get(r.sample_id)).to_row())
            if len(batch) >= 500:
                yield batch
                batch = []
        yield batch

    return write_manifest_batches(
        batches(), label_types(seen_labels), plan.out_dir, csv_copy=plan.recipe.manifest.csv
    )


def _run_info(
    plan: RunPlan, result: RunResult, executed: Executed, tally: _Tally
) -> dict[str, Any]:
    """The run record (``run.json``): recipe, versions, machine, counts, times, splits."""
    recorded_recipe = plan.recipe.model_dump(mode="json", exclude={"out"})
    if plan.privacy is not None:
        # Where the data lives may name patients (folder names); the run record keeps none.
        hidden = set(type(plan.recipe.source).location_fields) | {"root", "csv", "labels_csv"}
        recorded_recipe["source"] = {
            k: ("<redacted>" if k in hidden else v) for k, v in recorded_recipe["source"].items()
        }
    acc = result.accounting
    return {
        "recipe": recorded_recipe,
        "recipe_hash": plan.run_hash,
        "versions": _versions(),
        "machine": {"cpus": os.cpu_count(), "platform": _platform()},
        "executor": executed.executor,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(tally.started)),
        "ended": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime()),
        "seconds": round(result.seconds, 3),
        "counts": {
            "files": len(acc.records),
            "files_skipped": acc.counts["skipped"],
            "items": result.items,
            "skipped_already_done": result.skipped,
            "done": result.done,
            "failed": result.failed,
            "outputs": result.outputs,
            "warnings": result.warnings,
        },
        "stage_seconds": {k: round(v, 3) for k, v in tally.timings.items()},
        "phase_seconds": tally.phase_seconds(),
        # Peak memory: the largest worker's (the run's own process when serial), and this one's
        # before the report (None where the OS does not say).
        "peak_rss_mb": {"worker": tally.worker_rss or None, "main": peak_rss_mb()},
        "split": plan.split_info,
        "deid": plan.privacy.summary(len(plan.items)) if plan.privacy is not None else None,
    }


def _finish(
    plan: RunPlan, ledger: Ledger, result: RunResult, executed: Executed, tally: _Tally
) -> dict[str, Any]:
    """The sinks fed from the ledger: logs, manifest, inputs, failures, radiomics pairs,
    the de-identification summary and the run record (returned)."""
    out_dir = plan.out_dir
    result.outputs, result.warnings, seen_labels = _write_logs(plan, ledger)
    result.manifest = _write_manifest(plan, ledger, seen_labels)
    acc, failures = account(plan.inputs, ledger, plan.run_hash)
    result.accounting = acc
    result.failures = [f.to_dict() for f in failures]
    result.failed = len(failures)
    item_ids = {it.id for it in plan.items}
    result.done = len(plan.items) - sum(1 for f in failures if f.item_id in item_ids)
    result.inputs_file, result.failures_file = write_records(out_dir, acc, failures)
    if result.outputs:
        _radiomics_pairs(plan.recipe, out_dir)
    result.seconds = time.perf_counter() - tally.t0
    if plan.privacy is not None:
        summary = plan.privacy.summary(len(plan.items))
        text = json.dumps(summary, indent=2, sort_keys=True) + "\n"
        atomic_write_bytes(out_dir / "deid_summary.json", text.encode())
    tally.mark("records")
    info = _run_info(plan, result, executed, tally)
    result.run_file = _write_run_file(out_dir, info)
    return info


def _write_run_file(out_dir: Path, info: Mapping[str, Any]) -> Path:
    return atomic_write_bytes(
        out_dir / "run.json", (json.dumps(info, indent=2, sort_keys=True) + "\n").encode()
    )


def _load_end_of_run(*, report: bool) -> None:
    """Import what the end of the run needs (the manifest's writer, the report) on a daemon
    thread, while the items run on the workers (a failure shows where the module is used)."""
    modules = ["pyarrow.parquet", "radprep.report.render"] if report else ["pyarrow.parquet"]

    def load() -> None:
        for name in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    threading.Thread(target=load, name="radprep-load", daemon=True).start()


def _platform() -> str:
    """The system, its release and the machine (``Linux-6.1.0-x86_64``), as
    :func:`platform.platform` gives them, without its ``uname -p`` child process."""
    u = platform.uname()
    return "-".join(part for part in (u.system, u.release, u.machine) if part)


def run_recipe(
    recipe: Recipe | str | os.PathLike[str] | Mapping[str, Any],
    *,
    out: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    executor: str = "processes",
    workers: int | None = None,
    scheduler: str | None = None,
    limit: int | None = None,
    fresh: bool = False,
    strict: bool = False,
    progress: str = "auto",
    on_result: Callable[[Item, bool], None] | None = None,
) -> RunResult:
    """Run a recipe over its source and write outputs, manifest, failures and run record
    (a :class:`RunResult` says what was done and where).

    Parameters
    ----------
    recipe : Recipe, path, built-in name or mapping
        What to run (see :func:`radprep.pipeline.load_recipe`).
    out : path, optional
        The output folder (else the recipe's ``out``). Refused inside the source folder.
    overrides : sequence of str
        ``KEY=VALUE`` recipe overrides (dotted keys).
    executor, workers, scheduler
        Where items run: ``processes`` (`workers`, default all cores), ``serial``, or Dask
        (`scheduler`: ``tcp://host:port`` or ``local``).
    limit : int, optional
        Only the first `limit` items (sorted by id).
    fresh, strict : bool
        Forget earlier progress and redo every item; fail an item on any data quirk.
    progress : {"auto", "bar", "lines", "quiet"}
        How to show progress.

    Raises
    ------
    SpecError
        For a bad recipe, a missing or misplaced output folder, or a bad executor choice.
    """
    tally = _Tally()
    recipe, base, out_dir = recipe_and_out(recipe, overrides, out)
    if executor == "processes" and not scheduler:  # the workers load while the source is indexed
        start_forkserver(["radprep.jobs.preload"])
    plan = plan_run(recipe, base, out_dir, limit)
    tally.mark("plan")
    result = RunResult(out_dir=out_dir, recipe_hash=plan.run_hash, items=len(plan.items))
    job = ItemJob(recipe.model_dump_json(exclude={"out"}), str(out_dir), plan.run_hash, strict)
    _load_end_of_run(report=recipe.report.enabled)
    where = Where(executor, workers, scheduler)
    with open_ledger(out_dir / STATE_DIR / "ledger.sqlite", fresh=fresh, clean=out_dir) as ledger:
        run = execute(job, plan.items, ledger, plan.run_hash, where, progress=progress,
                      store=_store(plan.privacy), on_result=tally.counter(on_result))  # fmt: skip
        result.skipped = run.already_done
        tally.mark("first_item")  # none ran: every item was done before
        tally.mark("items")
        info = _finish(plan, ledger, result, run, tally)
    if recipe.report.enabled:
        result.report = _report(out_dir, info, tally)
    return result


def _report(out_dir: Path, info: Mapping[str, Any], tally: _Tally) -> Path:
    """Build the report, then write the run record `info` again with the report's time."""
    from radprep.report import build_report

    page = build_report(out_dir)
    tally.mark("report")
    _write_run_file(out_dir, {**info, "phase_seconds": tally.phase_seconds()})
    return page
