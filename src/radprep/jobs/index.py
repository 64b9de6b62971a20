"""``index`` on the batch engine: one header-only row per DICOM file under a folder.

Plan: the folder walked (sorted, hidden entries left out), a file met twice skipped as a
duplicate. Execute: one unit per file (:func:`radprep.datasets.scan.index_file`), resumable
from a ledger beside the table (``.radprep/index-<name>.sqlite``). Finish: the table, in walk
order, from the ledger; ``<stem>.inputs.jsonl`` and ``<stem>.failures.jsonl`` beside it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radprep.batch.engine import (
    STATE_DIR,
    Failure,
    PlannedInput,
    Where,
    account,
    entries,
    execute,
    open_ledger,
    options_hash,
    write_records,
)
from radprep.batch.executor import Outcome, UnitFailed
from radprep.datasets.scan import index_file, index_table, walk, write_index
from radprep.datasets.sources import fingerprint
from radprep.errors import InputError, NotDicomError
from radprep.io.accounting import Accounting

__all__ = ["IndexJob", "IndexResult", "index_folder", "inputs_file"]


def inputs_file(out: Path) -> Path:
    """Where `index` lists every file it met: ``<out stem>.inputs.jsonl`` beside the table."""
    return out.with_name(out.name.rsplit(".", 1)[0] + ".inputs.jsonl")


def failures_file(out: Path) -> Path:
    """Where `index` lists its failures: ``<out stem>.failures.jsonl`` beside the table."""
    return out.with_name(out.name.rsplit(".", 1)[0] + ".failures.jsonl")


@dataclass
class IndexResult:
    """What an index run did."""

    n_instances: int = 0
    accounting: Accounting = field(default_factory=Accounting)
    failures: list[Failure] = field(default_factory=list)
    already_done: int = 0
    table: Path | None = None


@dataclass(frozen=True)
class FileUnit:
    """One file to index: its path relative to the root (the unit id)."""

    id: str
    fingerprint: str


@dataclass(frozen=True)
class IndexJob:
    """Read one file's header into its index row (picklable)."""

    root: str

    def __call__(self, unit: FileUnit) -> dict[str, Any]:
        root = Path(self.root)
        try:
            return {"row": index_file(root / unit.id, root)}
        except NotDicomError:
            return {"skipped": "not DICOM"}
        except InputError as e:
            raise UnitFailed(type(e).__name__, str(e)) from None


def plan(root: Path) -> tuple[list[FileUnit], list[PlannedInput]]:
    """One unit per file under `root`, in walk order (a file met again is a duplicate)."""
    seen = Accounting()
    units: list[FileUnit] = []
    planned: list[PlannedInput] = []
    for files in walk(root):
        for path in files:
            rel = path.relative_to(root).as_posix()
            if seen.seen(path):
                planned.append(PlannedInput(rel, None, "skipped", "duplicate"))
                continue
            try:
                fp = fingerprint(path)
            except OSError:
                fp = "unavailable"  # the job says why
            units.append(FileUnit(rel, fp))
            planned.append(PlannedInput(rel, rel))
    return units, planned


def index_folder(
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    where: Where | None = None,
    fresh: bool = False,
    on_file: Callable[[str, bool], None] | None = None,
) -> IndexResult:
    """Index every DICOM file under `root` into the Parquet table `out`; resumable.

    Nothing is written when no file is found or none is DICOM (the caller says so).

    Parameters
    ----------
    where : Where, optional
        Where headers are read (default: in this process).
    fresh : bool
        Forget earlier progress and read every header again.
    on_file : callable, optional
        ``on_file(relative path, indexed)`` after each file read (for progress).
    """
    base, table_path = Path(root), Path(out)
    units, planned = plan(base)
    result = IndexResult()
    if not units:
        result.accounting, result.failures = account(planned, None, "")
        return result
    run_hash = options_hash("index", {"root": str(base.resolve())})

    def notify(unit: FileUnit, outcome: Outcome[Any], payload: Any) -> None:
        if on_file is not None:
            on_file(unit.id, outcome.ok and "row" in payload)

    ledger_path = table_path.parent / STATE_DIR / f"index-{table_path.name}.sqlite"
    with open_ledger(ledger_path, fresh=fresh) as ledger:
        done = execute(IndexJob(str(base)), units, ledger, run_hash, where or Where("serial"),
                       label="files", on_result=notify)  # fmt: skip
        result.already_done = done.already_done
        result.accounting, result.failures = account(planned, ledger, run_hash)
        by_id = {e.item_id: e for e in entries(ledger, run_hash, [u.id for u in units])}
    rows = [by_id[u.id].payload["row"] for u in units if _indexed(by_id.get(u.id))]
    result.n_instances = len(rows)
    if rows or result.failures:
        result.table = write_index(index_table(rows), table_path)
        write_records(
            table_path.parent,
            result.accounting,
            result.failures,
            inputs_file=inputs_file(table_path),
            failures_file=failures_file(table_path),
        )
    return result


def _indexed(entry: Any) -> bool:
    return entry is not None and entry.ok and "row" in entry.payload
