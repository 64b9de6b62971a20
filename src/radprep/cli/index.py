"""`radprep index DIR --out index.parquet`: a header-only table of a DICOM tree."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from radprep.cli._common import (
    EXIT_FAILURES,
    EXIT_USAGE,
    Fresh,
    QuietSummary,
    Scheduler,
    check_inputs,
    check_output,
    console,
    err_console,
    fail,
    handle_errors,
    started,
    tick,
    where_from,
)
from radprep.jobs.index import failures_file, index_folder, inputs_file


@handle_errors
def index(
    root: Path = typer.Argument(..., help="Folder to scan recursively."),
    out: Path = typer.Option(..., "--out", "-o", help="Parquet file to write."),
    workers: int | None = typer.Option(
        None, "--workers", "-j", help="Worker processes (default: read in this process)."
    ),
    scheduler: Scheduler = None,
    fresh: Fresh = False,
    quiet: QuietSummary = False,
) -> None:
    """Index every DICOM instance under ROOT from its header (no pixel decoding).

    Every file met is listed in <out stem>.inputs.jsonl beside the table: done (indexed),
    failed (its header cannot be read, with why) or skipped (not DICOM, duplicate); failures
    in <out stem>.failures.jsonl. Resumable: the same command again reads only what is new.
    """
    where = where_from(workers, scheduler)
    check_inputs([root])
    if not root.is_dir():
        raise fail(
            f"{root} is not a folder (index scans folders; use `radprep info` for files)",
            EXIT_USAGE,
        )
    check_output(out, [root], is_file=True)
    started(None, resumable=True)
    t0 = time.perf_counter()
    result = index_folder(root, out, where=where, fresh=fresh, on_file=lambda _p, _ok: tick())
    acc = result.accounting
    if result.table is None:
        raise fail(
            f"no DICOM file under {root} ({len(acc.records)} file(s) looked at, recursively; "
            "hidden files and folders left out)",
            EXIT_USAGE,
        )
    dt = time.perf_counter() - t0
    rate = len(acc.records) / dt if dt > 0 else 0.0
    console.print(
        f"indexed {result.n_instances} DICOM instance(s) into {out}; {acc.summary()}; "
        f"{rate:.0f} files/s",
        markup=False,
    )
    if result.already_done:
        console.print(f"{result.already_done} already done (resumed)", markup=False)
    console.print(f"inputs:   {inputs_file(out)}", markup=False)
    if acc.failures:
        console.print(f"failures: {failures_file(out)}", markup=False)
    for rec in acc.failures[:10]:
        err_console.print(f"radprep: error: {rec.reason}", markup=False)
    if len(acc.failures) > 10:
        err_console.print(f"radprep: ... and {len(acc.failures) - 10} more", markup=False)
    if acc.failures:
        raise typer.Exit(EXIT_FAILURES)


__all__ = ["index", "inputs_file"]
