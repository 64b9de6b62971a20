"""`radprep index DIR --out index.parquet`: a header-only table of a DICOM tree."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from radprep.cli._common import (
    EXIT_FAILURES,
    EXIT_USAGE,
    check_inputs,
    check_output,
    console,
    err_console,
    fail,
    handle_errors,
    started,
    tick,
)
from radprep.datasets.scan import scan_dicom, write_index


def inputs_file(out: Path) -> Path:
    """Where `index` lists every file it met: ``<out stem>.inputs.jsonl`` beside the table."""
    return out.with_name(out.name.rsplit(".", 1)[0] + ".inputs.jsonl")


@handle_errors
def index(
    root: Path = typer.Argument(..., help="Folder to scan recursively."),
    out: Path = typer.Option(..., "--out", "-o", help="Parquet file to write."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the summary and errors."),
) -> None:
    """Index every DICOM instance under ROOT from its header (no pixel decoding).

    Every file met is listed in <out stem>.inputs.jsonl beside the table: done (indexed),
    failed (its header cannot be read, with why) or skipped (not DICOM, duplicate).
    """
    check_inputs([root])
    if not root.is_dir():
        raise fail(
            f"{root} is not a folder (index scans folders; use `radprep info` for files)",
            EXIT_USAGE,
        )
    check_output(out, [root], is_file=True)
    started(None, resumable=False)
    t0 = time.perf_counter()
    result = scan_dicom(root, on_file=lambda _p, _ok: tick())
    acc = result.accounting
    if not acc.records or (result.n_instances == 0 and not result.failed):
        raise fail(
            f"no DICOM file under {root} ({len(acc.records)} file(s) looked at, recursively; "
            "hidden files and folders left out)",
            EXIT_USAGE,
        )
    write_index(result, out)
    acc.write(inputs_file(out))
    dt = time.perf_counter() - t0
    rate = len(acc.records) / dt if dt > 0 else 0.0
    console.print(
        f"indexed {result.n_instances} DICOM instance(s) into {out}; {acc.summary()}; "
        f"{rate:.0f} files/s",
        markup=False,
    )
    console.print(f"inputs:   {inputs_file(out)}", markup=False)
    for rec in acc.failures[:10]:
        err_console.print(f"radprep: error: {rec.reason}", markup=False)
    if len(acc.failures) > 10:
        err_console.print(f"radprep: ... and {len(acc.failures) - 10} more", markup=False)
    if acc.failures:
        raise typer.Exit(EXIT_FAILURES)
