"""One batch engine for ``run``, ``convert``, ``index`` and ``deid``: plan, execute, finish.

- **plan**: the command enumerates its inputs into work units (anything with an ``id`` and a
  ``fingerprint``) and lists every input file it met, in order, as a :class:`PlannedInput`:
  the file of a unit, or a file left out at enumeration (skipped or failed, with why).
- **execute** (:func:`execute`): the ledger skips the units finished under the same run hash
  (the recipe or options) with the same input fingerprint; the others go to an executor
  (serial, process pool, Dask), a bounded number in flight; each result is recorded in the
  ledger as it comes back, after its outputs are in place. A killed batch resumes from there.
- **finish** (:func:`account`, :func:`write_records`): the sinks read the ledger, not the
  results in memory: every input's fate (``inputs.jsonl``), the failures (``failures.jsonl``)
  and the summary line, and whatever the command adds (the manifest, a report, an index).

A unit's job returns a JSON-serialisable payload; a payload with a ``"skipped"`` key (the
reason, one of :data:`radprep.io.accounting.SKIP_REASONS`) marks a unit skipped on purpose
(a file in a folder that is not DICOM, an image held back), which is finished all the same.
This module knows nothing of imaging.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from radprep.batch.executor import Outcome, get_executor
from radprep.batch.ledger import Entry, Ledger
from radprep.batch.progress import Progress
from radprep.errors import OutputError
from radprep.io.accounting import Accounting
from radprep.io.write import atomic_write_bytes

__all__ = [
    "STATE_DIR",
    "Executed",
    "Failure",
    "PlannedInput",
    "Unit",
    "Where",
    "account",
    "clean_temporaries",
    "execute",
    "open_ledger",
    "options_hash",
    "write_records",
]

STATE_DIR = ".radprep"
"""The folder, inside a batch's output folder, of its resume ledger."""


class Unit(Protocol):
    """A unit of work: unique id, and what changes when its input changes."""

    @property
    def id(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...


@dataclass(frozen=True)
class PlannedInput:
    """One input file met while planning, in the order met.

    Attributes
    ----------
    path : str
        The name the input is listed under (a path; a pseudonym under de-identification).
    unit : str or None
        The id of the unit the file belongs to (several files may share one: a series).
    status, reason, error : str
        For a file left out at enumeration (``unit`` None): ``"skipped"`` or ``"failed"``,
        its reason, and the error class of a failure.
    """

    path: str
    unit: str | None = None
    status: str = ""
    reason: str = ""
    error: str = ""
    failed_as: str = "{message}"
    """How a failure of its unit reads for this file (``{path}``, ``{message}``)."""


@dataclass(frozen=True)
class Failure:
    """One line of ``failures.jsonl``: the unit (or file) that failed, and why."""

    item_id: str
    error: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """The JSON line's fields."""
        return {"item_id": self.item_id, "error": self.error, "message": self.message}


@dataclass(frozen=True)
class Where:
    """Where a batch's units run (see :func:`radprep.batch.executor.get_executor`)."""

    executor: str = "processes"
    workers: int | None = None
    scheduler: str | None = None


@dataclass
class Executed:
    """What :func:`execute` did: units skipped as already done, and where the others ran."""

    already_done: int = 0
    executor: dict[str, Any] = field(default_factory=dict)


def options_hash(command: str, options: dict[str, Any]) -> str:
    """The run hash of a command's options (sorted JSON): a resumed batch with other options
    redoes every unit."""
    text = json.dumps({"command": command, **options}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def clean_temporaries(out: Path) -> int:
    """Remove temporary files a killed batch left (atomic writes name them ``.<name>.*.tmp``)."""
    n = 0
    for p in out.rglob(".*.tmp"):
        if p.is_file():
            p.unlink()
            n += 1
    return n


def open_ledger(path: Path, *, fresh: bool = False, clean: Path | None = None) -> Ledger:
    """Open a batch's ledger (``fresh``: forget earlier progress) and remove the temporary
    files a killed batch left under `clean`."""
    ledger = Ledger(path)
    if fresh:
        ledger.clear()
    if clean is not None and clean.is_dir():
        clean_temporaries(clean)
    return ledger


Record = Callable[[Any, Outcome[Any]], tuple[Any, str]]
"""``(unit, outcome) -> (payload, message)`` to store: a command's hook (e.g. scrubbing)."""


def _stored(outcome: Outcome[Any]) -> tuple[Any, str]:
    return (outcome.value if outcome.ok and outcome.value is not None else {}), outcome.message


def execute(
    job: Callable[[Any], Any],
    units: Sequence[Any],
    ledger: Ledger,
    run_hash: str,
    where: Where = Where(),
    *,
    progress: str = "quiet",
    label: str = "items",
    store: Record = lambda _unit, outcome: _stored(outcome),
    on_result: Callable[[Any, Outcome[Any], Any], None] | None = None,
) -> Executed:
    """Run `job` over the units not finished yet, recording each result in the ledger.

    Parameters
    ----------
    job : callable
        ``job(unit) -> payload`` (picklable, for worker processes and Dask).
    where : Where
        Where units run: serial, a process pool or Dask.
    store, on_result : callable
        What to store of a result, ``(unit, outcome) -> (payload, message)``; called after
        each unit is recorded, ``on_result(unit, outcome, payload)``.

    Raises
    ------
    OutputError
        When the output cannot take more (disk full, read-only); the same command resumes.
    """
    finished = ledger.finished(run_hash)
    todo = [u for u in units if finished.get(u.id) != u.fingerprint]
    done = Executed(len(units) - len(todo))
    bar = Progress(len(todo), mode=progress, label=label)
    try:
        ex = get_executor(where.executor, workers=where.workers, scheduler=where.scheduler)
        with ex:
            for unit, outcome in ex.map(job, todo):
                if outcome.disk_full:
                    raise OutputError(
                        f"{outcome.message}; free space or choose another output, then run the "
                        "same command again to resume"
                    )
                payload, message = store(unit, outcome)
                ledger.record(
                    unit.id,
                    run_hash=run_hash,
                    fingerprint=unit.fingerprint,
                    ok=outcome.ok,
                    payload=payload,
                    error=outcome.error,
                    message=message,
                    seconds=outcome.seconds,
                )
                bar.update(outcome.ok)
                if on_result is not None:
                    on_result(unit, outcome, payload)
            done.executor = ex.describe()
    finally:
        bar.close()
    return done


def entries(ledger: Ledger, run_hash: str, unit_ids: Iterable[str]) -> Iterator[Entry]:
    """The ledger's entries of these units under `run_hash`, sorted by unit id."""
    for entry in ledger.entries(unit_ids):
        if entry.run_hash == run_hash:
            yield entry


def account(
    planned: Iterable[PlannedInput], ledger: Ledger | None, run_hash: str
) -> tuple[Accounting, list[Failure]]:
    """Every planned input's fate from the ledger, in the order met, and the failures.

    A unit's failure is listed once (by unit id); each of its files is failed with the unit's
    message. A file that failed at enumeration is a failure of its own.
    """
    planned = list(planned)
    wanted = {p.unit for p in planned if p.unit}
    by_unit = {e.item_id: e for e in entries(ledger, run_hash, wanted)} if ledger else {}
    acc = Accounting()
    failures: dict[str, Failure] = {}
    left_out: list[Failure] = []
    for p in planned:
        if p.unit is None:
            if p.status == "failed":
                acc.failed(p.path, p.reason, p.error)
                left_out.append(Failure(p.path, p.error, p.reason))
            else:
                acc.skipped(p.path, p.reason)
            continue
        entry = by_unit.get(p.unit)
        if entry is None:  # not finished: cannot happen after execute, kept safe
            acc.failed(p.path, f"{p.path}: not processed", "NotProcessed")
        elif not entry.ok:
            acc.failed(p.path, p.failed_as.format(path=p.path, message=entry.message), entry.error)
            failures.setdefault(p.unit, Failure(p.unit, entry.error, entry.message))
        elif isinstance(entry.payload, dict) and entry.payload.get("skipped"):
            acc.skipped(p.path, entry.payload["skipped"])
        else:
            acc.done(p.path)
    return acc, [*failures.values(), *left_out]


def write_records(
    out: Path,
    acc: Accounting,
    failures: Sequence[Failure],
    *,
    inputs_file: Path | None = None,
    failures_file: Path | None = None,
) -> tuple[Path, Path]:
    """Write ``inputs.jsonl`` and ``failures.jsonl`` in `out` (or the files named)
    atomically."""
    inputs = acc.write(inputs_file or out / "inputs.jsonl")
    lines = "".join(json.dumps(f.to_dict(), sort_keys=True) + "\n" for f in failures)
    return inputs, atomic_write_bytes(failures_file or out / "failures.jsonl", lines.encode())
