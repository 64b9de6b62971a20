"""A whole recipe run: items from the source, the job on an executor, the ledger, the records.

The run is resumable (the ledger skips finished items whose recipe and input are unchanged),
streaming (a bounded number of items in flight), and gives the same output bytes whatever
executes it. Everything it writes goes to a temporary name first and is renamed into place.
"""

from __future__ import annotations

import contextlib
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

from radprep.batch.executor import get_executor
from radprep.batch.ledger import Ledger
from radprep.batch.progress import Progress
from radprep.datasets.manifest import label_types, observe_labels, write_manifest_batches
from radprep.datasets.sources import Item, get_source, resolve
from radprep.datasets.split import SplitItem, official_split, patient_split, split_counts
from radprep.errors import OutputError, SpecError
from radprep.export.nifti import write_pairs_for_run
from radprep.io.accounting import Accounting
from radprep.io.write import atomic_open, atomic_write_bytes
from radprep.jobs.privacy import Privacy
from radprep.jobs.process import ItemJob, peak_rss_mb
from radprep.pipeline.spec import Recipe, load_recipe, recipe_hash
from radprep.report import build_report

__all__ = ["RunResult", "run_recipe"]

STATE_DIR = ".radprep"


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


def _count(values: Iterator[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("radprep", "numpy", "pydicom", "opencv-python-headless", "pyarrow", "pydantic"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def _clean_temporaries(out: Path) -> int:
    """Remove temporary files a killed run left (atomic writes name them ``.<name>.*.tmp``)."""
    n = 0
    for p in out.rglob(".*.tmp"):
        if p.is_file():
            p.unlink()
            n += 1
    return n


def _splits(recipe: Recipe, items: Sequence[Item]) -> tuple[dict[str, str], dict[str, Any]]:
    """Assign patient-level splits (item id -> split) and describe them for run.json."""
    spec = recipe.split
    if spec is None:
        return {}, {}
    split_items = [
        SplitItem(
            id=it.id,
            patient=str(it.source.get("patient_id") or it.id),
            stratum=tuple(it.labels.get(k) for k in spec.stratify),
            official=it.labels.get("official_split"),
        )
        for it in items
    ]
    info: dict[str, Any] = {"method": spec.method, "seed": spec.seed, "stratify": spec.stratify}
    if spec.method == "official":
        splits, in_both = official_split(
            split_items, val_fraction=spec.val_fraction, both=spec.both_official, seed=spec.seed
        )
        info["patients_in_both_official_splits"] = len(in_both)
        info["both_official_policy"] = spec.both_official
    else:
        splits = patient_split(split_items, spec.fractions, seed=spec.seed)
    info["counts"] = split_counts(splits)
    info["patients"] = {
        name: len({s.patient for s in split_items if splits.get(s.id) == name})
        for name in info["counts"]
    }
    return splits, info


def _radiomics_pairs(recipe: Recipe, out_dir: Path) -> None:
    """With one volume image output and one volume mask output, write the image+mask pairs as
    the CSV pyradiomics' batch mode reads (``radiomics_pairs.csv``)."""
    volume = {"nifti", "nrrd"}
    active = recipe.active_outputs().items()
    images = [n for n, o in active if o.format in volume and o.write == "image"]
    masks = [n for n, o in active if o.format in volume and o.write.startswith("mask:")]
    if len(images) == 1 and len(masks) == 1:
        write_pairs_for_run(out_dir, image_output=images[0], mask_output=masks[0])


def _warm_report_imports() -> threading.Thread:
    """Import the report's drawing library (matplotlib: about a second with its fonts) on a
    thread while the items run, so that the report after them does not wait for it."""

    def load() -> None:
        with contextlib.suppress(Exception):
            import io

            import matplotlib.patches  # noqa: F401
            from matplotlib.figure import Figure

            # A first drawing loads the fonts and the Agg canvas once, before the report's.
            fig = Figure(figsize=(1, 1), dpi=10)
            fig.text(0.5, 0.5, "radprep")
            fig.savefig(io.BytesIO(), format="png")

    thread = threading.Thread(target=load, name="radprep-report-imports", daemon=True)
    thread.start()
    return thread


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
    """Run a recipe over its source and write outputs, manifest, failures and run record.

    Parameters
    ----------
    recipe : Recipe, path, built-in name or mapping
        What to run (see :func:`radprep.pipeline.load_recipe`).
    out : path, optional
        The output folder (else the recipe's ``out``). Refused inside the source folder.
    overrides : sequence of str
        ``KEY=VALUE`` recipe overrides (dotted keys).
    executor : {"processes", "serial", "dask"}
        Where items run; `scheduler` implies Dask (``tcp://host:port`` or ``local``).
    workers : int, optional
        Worker processes (default: all cores).
    limit : int, optional
        Only the first `limit` items (sorted by id).
    fresh : bool
        Forget earlier progress and redo every item.
    strict : bool
        Fail an item on any data quirk (RadprepWarning).
    progress : {"auto", "bar", "lines", "quiet"}
        How to show progress.

    Returns
    -------
    RunResult

    Raises
    ------
    SpecError
        For a bad recipe, a missing or misplaced output folder, or a bad executor choice.
    """
    base: Path | None = None
    if not isinstance(recipe, Recipe):
        recipe, base = load_recipe(recipe, overrides=overrides)
    elif overrides:
        recipe, _ = load_recipe(recipe.model_dump(mode="json"), overrides=overrides)
    base = base or Path.cwd()
    out_value = out if out is not None else recipe.out
    if out_value is None:
        raise SpecError("no output folder: give --out DIR or set 'out:' in the recipe")
    out_dir = Path(resolve(base, os.fspath(out_value))).resolve()
    root = getattr(recipe.source, "root", None)
    if root is not None and _inside(out_dir, resolve(base, root)):
        raise SpecError(
            f"output folder {out_dir} is inside the input folder {resolve(base, root)}; "
            "inputs are never written to: choose an output folder elsewhere"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    # From here on the run goes ahead: the report's imports load while the source is indexed,
    # the workers start and the items run.
    warming = _warm_report_imports() if recipe.report.enabled else None
    rhash = recipe_hash(recipe)
    started = time.time()
    t0 = time.perf_counter()

    enumerate_items, _ = get_source(recipe.source.kind)
    found = enumerate_items(recipe.source, base)
    # Files the source met that are not items (not DICOM, no pixels, unreadable headers).
    left_out: list[tuple[str, str, str]] = list(getattr(found, "left_out", []))
    items = sorted(found, key=lambda it: it.id)
    if not items and not any(status == "failed" for _, status, _ in left_out):
        where = resolve(base, root) if root is not None else recipe.source.kind
        reasons = ", ".join(
            f"{why} {n}" for why, n in sorted(_count(why for _, _, why in left_out).items())
        )
        raise SpecError(
            f"no DICOM image found under {where} ({len(left_out)} file(s) looked at, "
            f"recursively, hidden ones left out{': ' + reasons if reasons else ''}); "
            "check source.root"
        )
    if limit is not None:
        items = items[:limit]
    privacy = None
    if recipe.deid is not None and recipe.deid.enabled:
        privacy = Privacy.from_spec(recipe.deid, base)
        items = sorted(privacy.items(items), key=lambda it: it.id)
    splits, split_info = _splits(recipe, items)
    result = RunResult(out_dir=out_dir, recipe_hash=rhash, items=len(items))
    job = ItemJob(recipe.model_dump_json(exclude={"out"}), str(out_dir), rhash, strict)
    timings = {"load": 0.0, "steps": 0.0, "write": 0.0, "report": 0.0}
    worker_rss = 0.0

    with Ledger(out_dir / STATE_DIR / "ledger.sqlite") as ledger:
        if fresh:
            ledger.clear()
        _clean_temporaries(out_dir)
        finished = ledger.finished(rhash)
        todo = [it for it in items if finished.get(it.id) != it.fingerprint]
        result.skipped = len(items) - len(todo)
        bar = Progress(len(todo), mode=progress, label="items")
        try:
            with get_executor(executor, workers=workers, scheduler=scheduler) as ex:
                for item, outcome in ex.map(job, todo):
                    if outcome.disk_full:
                        # Not this item's fault: the output cannot take anything more. Stop
                        # (what is done stays in the ledger; a resumed run goes on from there).
                        raise OutputError(
                            f"{out_dir}: {outcome.message}; free space or choose another --out, "
                            "then run the same command again to resume"
                        )
                    payload: dict[str, Any] = outcome.value if outcome.ok and outcome.value else {}
                    message = outcome.message
                    if privacy is not None:
                        message = privacy.scrub(message, item.id)
                        if payload:
                            payload["warnings"] = privacy.scrub_all(payload["warnings"], item.id)
                    ledger.record(
                        item.id,
                        run_hash=rhash,
                        fingerprint=item.fingerprint,
                        ok=outcome.ok,
                        payload=payload,
                        error=outcome.error,
                        message=message,
                        seconds=outcome.seconds,
                    )
                    if outcome.ok:
                        for k, v in payload["timings"].items():
                            timings[k] += v
                        worker_rss = max(worker_rss, payload.get("peak_rss_mb") or 0.0)
                    bar.update(outcome.ok)
                    if on_result is not None:
                        on_result(item, outcome.ok)
                executor_info = ex.describe()
        finally:
            bar.close()

        # Two passes over the ledger, one item at a time, so that memory stays flat however
        # many items the run has: the logs, failures and label types first, then the manifest.
        wanted = [it.id for it in items]
        failures: list[dict[str, Any]] = []
        seen_labels: dict[str, set[type]] = {}
        n_outputs = n_warnings = 0
        with contextlib.ExitStack() as stack:
            wfh = stack.enter_context(atomic_open(out_dir / "warnings.jsonl", "w"))
            rfh = (
                stack.enter_context(atomic_open(out_dir / "report" / "items.jsonl", "w"))
                if recipe.report.enabled
                else None
            )
            for entry in ledger.entries(wanted):
                if entry.run_hash != rhash:
                    continue
                if not entry.ok:
                    failures.append(
                        {"item_id": entry.item_id, "error": entry.error, "message": entry.message}
                    )
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

        def batches() -> Iterator[list[dict[str, Any]]]:
            batch: list[dict[str, Any]] = []
            for entry in ledger.entries(wanted):
                if entry.run_hash != rhash or not entry.ok:
                    continue
                for r in sorted(entry.payload["records"], key=lambda r: str(r["output"])):
                    r["split"] = splits.get(r["sample_id"])
                    batch.append(r)
                if len(batch) >= 500:  # bounded: the manifest costs the same for any run size
                    yield batch
                    batch = []
            yield batch

        result.manifest = write_manifest_batches(
            batches(), label_types(seen_labels), out_dir, csv_copy=recipe.manifest.csv
        )
    failed_by_id = {f["item_id"]: f for f in failures}
    acc = result.accounting
    # With de-identification on, folder names may carry patient names: inputs are named by
    # their sample pseudonym, files that made no sample by `source-file-N` (as in failures).
    for it in items:
        f = failed_by_id.get(it.id)
        name = it.path if privacy is None else it.id
        if f is not None:
            acc.failed(name, f["message"], f["error"])
        else:
            acc.done(name)
    for k, (path, status, why) in enumerate(left_out):
        name = path if privacy is None else f"source-file-{k}"
        if status == "failed":
            message = why if privacy is None else privacy.scrub(why.replace(path, name), name)
            acc.failed(name, message, "InputError")
            failures.append({"item_id": name, "error": "InputError", "message": message})
        else:
            acc.skipped(name, why)
    result.done = len(items) - len(failed_by_id)
    result.failed = len(failures)
    result.failures = failures
    result.inputs_file = acc.write(out_dir / "inputs.jsonl")
    result.outputs = n_outputs
    result.warnings = n_warnings
    if n_outputs:
        _radiomics_pairs(recipe, out_dir)
    lines = "".join(json.dumps(f, sort_keys=True) + "\n" for f in failures)
    result.failures_file = atomic_write_bytes(out_dir / "failures.jsonl", lines.encode())
    result.seconds = time.perf_counter() - t0
    recorded_recipe = recipe.model_dump(mode="json", exclude={"out"})
    if privacy is not None:
        # Folder names may carry patient names; the run record keeps none.
        recorded_recipe["source"] = {
            k: ("<redacted>" if k in ("root", "csv", "labels_csv") else v)
            for k, v in recorded_recipe["source"].items()
        }
        atomic_write_bytes(
            out_dir / "deid_summary.json",
            (json.dumps(privacy.summary(len(items)), indent=2, sort_keys=True) + "\n").encode(),
        )
    run_info = {
        "recipe": recorded_recipe,
        "recipe_hash": rhash,
        "versions": _versions(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "executor": executor_info,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
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
        "stage_seconds": {k: round(v, 3) for k, v in timings.items()},
        # Peak memory: the largest worker's (the run's own process when serial), and this one's
        # before the report (None where the OS does not say).
        "peak_rss_mb": {"worker": worker_rss or None, "main": peak_rss_mb()},
        "split": split_info,
        "deid": privacy.summary(len(items)) if privacy is not None else None,
    }
    result.run_file = atomic_write_bytes(
        out_dir / "run.json", (json.dumps(run_info, indent=2, sort_keys=True) + "\n").encode()
    )
    if recipe.report.enabled:
        if warming is not None:
            warming.join()
        result.report = build_report(out_dir)
    return result
