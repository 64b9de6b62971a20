"""``deid`` on the batch engine: every file under a folder de-identified, resumably.

Plan: the files under the input (sorted; the output folder never read back in). Execute: one
unit per file (:func:`radprep.deid.core.deidentify_file`) on the executor asked for. Finish:
each file's fate from the ledger in plan order (a second input giving the very same output is
a duplicate), the audit file, the crosswalk.

Nothing that names an input reaches the output folder: the ledger (``<out>/.radprep``) keys
each file by a keyed hash of its path and keeps its audit record only (new UIDs, counts); a
failure's message, which names the input, is shown but not kept (a failed file is redone by
the next run anyway). The crosswalk's rows (original values) go, as each file finishes, to a
private file beside the crosswalk (``<crosswalk>.partial``, mode 0600), so that a killed
batch loses none, and the crosswalk already there is kept (merged); the list of every input
and of the failures goes beside the crosswalk too (``<crosswalk stem>.inputs.jsonl``,
``.failures.jsonl``), never into the output folder.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import hmac
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from radprep.batch.engine import (
    STATE_DIR,
    Failure,
    Where,
    entries,
    execute,
    open_ledger,
    options_hash,
    write_records,
)
from radprep.batch.executor import Outcome
from radprep.datasets.sources import fingerprint
from radprep.deid.audit import AuditRecord, audit_jsonl
from radprep.deid.config import DeidConfig
from radprep.deid.core import deidentify_file
from radprep.deid.crosswalk import write_crosswalk
from radprep.errors import NotDicomError
from radprep.io.accounting import Accounting
from radprep.io.write import atomic_write_bytes

__all__ = ["DeidBatch", "DeidFile", "DeidTask", "deid_files", "find_inputs"]

Say = Callable[[str, str], None]
"""``say(kind, text)``: ``kind`` is ``"info"``, ``"warning"`` or ``"error"``."""


@dataclass(frozen=True)
class DeidFile:
    """One input file: its path, a keyed hash of it (the unit id), and its fingerprint."""

    id: str
    path: str
    fingerprint: str


@dataclass(frozen=True)
class DeidTask:
    """De-identify one file (picklable: it runs in worker processes or on a cluster)."""

    out_root: str
    config: DeidConfig
    key: bytes
    with_crosswalk: bool = False

    def __call__(self, unit: DeidFile) -> dict[str, Any]:
        try:
            result = deidentify_file(
                unit.path, self.out_root, self.config, self.key, with_crosswalk=self.with_crosswalk
            )
        except NotDicomError:
            return {"record": asdict(AuditRecord(status="skipped", error="NotDicomError"))}
        return {
            "record": asdict(result.record),
            "held": str(result.path) if result.record.status == "quarantined" and result.path
            else "",
            "crosswalk": [list(r) for r in result.crosswalk],
        }  # fmt: skip


def find_inputs(src: Path, out: Path) -> list[str]:
    """The files to de-identify: `src` itself, or every file under it, sorted (nothing under
    the output folder)."""
    if src.is_file():
        return [str(src)]
    out_resolved = out.resolve()
    found = []
    for p in sorted(src.rglob("*")):
        if not p.is_file():
            continue
        rp = p.resolve()
        if rp == out_resolved or out_resolved in rp.parents:
            continue  # never read our own outputs back in
        found.append(str(p))
    return found


@dataclass
class DeidBatch:
    """What a de-identification batch did."""

    accounting: Accounting = field(default_factory=Accounting)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("written", "unchanged", "duplicate", "quarantined", "skipped", "failed"), 0
        )
    )
    audit: Path | None = None
    failures: list[str] = field(default_factory=list)


def _record(payload: dict[str, Any]) -> AuditRecord:
    values = dict(payload["record"])
    for name in ("methods", "phi_in_pixels"):
        values[name] = tuple(values.get(name) or ())
    return AuditRecord(**values)


class _Crosswalk:
    """The crosswalk's rows, appended to a private file as each input finishes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial") if path else None

    def add(self, rows: Sequence[Sequence[str]]) -> None:
        if self.partial is None or not rows:
            return
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.partial, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(buf.getvalue())

    def rows(self) -> list[tuple[str, str, str]]:
        """This batch's rows so far, and those of the crosswalk already there (a resumed
        batch does not redo the files whose rows it holds)."""
        rows: list[tuple[str, str, str]] = []
        for path, header in ((self.path, True), (self.partial, False)):
            if path is None or not path.exists():
                continue
            lines = csv.reader(io.StringIO(path.read_text(encoding="utf-8")))
            if header:
                next(lines, None)
            rows += [(r[0], r[1], r[2]) for r in lines if len(r) == 3]  # a cut last line: no
        return rows

    def finish(self, out: Path) -> None:
        if self.path is None or self.partial is None:
            return
        write_crosswalk(self.path, self.rows(), out_root=out)
        self.partial.unlink(missing_ok=True)


def deid_files(
    paths: Sequence[str],
    out: Path,
    task: DeidTask,
    *,
    where: Where,
    crosswalk: Path | None = None,
    fresh: bool = False,
    say: Say = lambda _kind, _text: None,
) -> DeidBatch:
    """De-identify `paths` into `out` with `task` on the engine; resumable.

    The same key, options and inputs resume where a killed batch stopped; other options
    (or ``fresh``) redo every file. ``say`` gets what to show as it happens.
    """
    units = [DeidFile(_unit_id(p, task.key), p, _fingerprint(p)) for p in paths]
    run_hash = options_hash(
        "deid", {"config": task.config.model_dump(mode="json"), "key": _unit_id("", task.key)}
    )
    cw = _Crosswalk(crosswalk)
    messages: dict[str, str] = {}  # unit id -> this run's failure message (never stored)
    ran: set[str] = set()  # the units this run did

    def store(unit: DeidFile, outcome: Outcome[Any]) -> tuple[Any, str]:
        ran.add(unit.id)
        if not outcome.ok:
            messages[unit.id] = outcome.message
            return {}, ""
        payload = dict(outcome.value or {})
        cw.add(payload.pop("crosswalk", []))
        return payload, ""

    def shown(unit: DeidFile, outcome: Outcome[Any], payload: Any) -> None:
        if outcome.ok:
            _said_now(unit, _record(payload), say)

    with open_ledger(out / STATE_DIR / "ledger.sqlite", fresh=fresh, clean=out) as ledger:
        execute(task, units, ledger, run_hash, where, store=store, on_result=shown)
        by_id = {e.item_id: e for e in entries(ledger, run_hash, [u.id for u in units])}
    batch = _finish(units, by_id, messages, ran, say)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    records = [_record(e.payload) if e.ok else AuditRecord("failed", error=e.error)
               for e in (by_id[u.id] for u in units if u.id in by_id)]  # fmt: skip
    batch.audit = atomic_write_bytes(out / "deid-audit" / f"{stamp}.jsonl", audit_jsonl(records))
    if crosswalk is not None:
        cw.finish(out)
        stem = crosswalk.with_name(crosswalk.name.rsplit(".", 1)[0])
        fails = [Failure(u.path, by_id[u.id].error, messages.get(u.id, ""))
                 for u in units if u.id in by_id and not by_id[u.id].ok]  # fmt: skip
        write_records(
            crosswalk.parent,
            batch.accounting,
            fails,
            inputs_file=stem.with_name(stem.name + ".inputs.jsonl"),
            failures_file=stem.with_name(stem.name + ".failures.jsonl"),
        )
    return batch


def _unit_id(path: str, key: bytes) -> str:
    """A keyed hash of an input's path: the ledger names no input."""
    return hmac.new(key, os.path.abspath(path).encode(), hashlib.sha256).hexdigest()[:32]


def _fingerprint(path: str) -> str:
    try:
        return fingerprint(path)
    except OSError:
        return "unavailable"


def _said_now(unit: DeidFile, rec: AuditRecord, say: Say) -> None:
    """What is shown as a file finishes (duplicates are known only at the end)."""
    if rec.note:
        say("warning", f"{unit.path}: {rec.note}")
    if rec.status in ("written", "unchanged"):
        say("info", f"{rec.status} {unit.path} -> {rec.output}")


def _finish(
    units: Sequence[DeidFile],
    by_id: dict[str, Any],
    messages: dict[str, str],
    ran: set[str],
    say: Say,
) -> DeidBatch:
    """Each file's fate, in plan order: counted, accounted for, and said."""
    batch = DeidBatch()
    acc = batch.accounting
    first_input: dict[str, str] = {}  # output -> the first input that gave it
    held_from: dict[str, str] = {}  # held copy -> the first input that gave it
    for unit in units:
        entry = by_id.get(unit.id)
        if entry is None or not entry.ok:
            message = messages.get(unit.id) or f"{unit.path}: failed in an earlier run"
            batch.counts["failed"] += 1
            batch.failures.append(message)
            acc.failed(unit.path, message, entry.error if entry is not None else "")
            continue
        rec = _record(entry.payload)
        status = rec.status
        if status in ("written", "unchanged") and rec.output:
            if rec.output in first_input:
                status = "duplicate"
                first = first_input[rec.output]
                say("info", f"skipped {unit.path}: a duplicate of {first} (the same "
                    f"de-identified content, already written as {rec.output})")  # fmt: skip
            else:
                first_input[rec.output] = unit.path
        if status == "written" and unit.id not in ran:
            status = "unchanged"  # written by an earlier run of this batch: already there
        batch.counts[status] += 1
        if status in ("written", "unchanged"):
            acc.done(unit.path)
        elif status == "duplicate":
            acc.skipped(unit.path, "duplicate")
        elif status == "quarantined":
            held = entry.payload.get("held") or ""
            note = f"; held in {held}" if held else ""
            if held:
                first = held_from.setdefault(held, unit.path)
                if first != unit.path:
                    note += f" (the same de-identified content as {first}: held once)"
            say("warning", f"{unit.path}: needs pixel review ({rec.reason}); not written to the "
                f"output{note}")  # fmt: skip
            acc.skipped(unit.path, "held back")
        else:
            say("info", f"skipped {unit.path} ({rec.reason or 'not DICOM'})")
            acc.skipped(unit.path, "not DICOM")
    return batch
