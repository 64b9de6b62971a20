"""`radprep index DIR --out index.parquet`: a header-only table of a DICOM tree."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from radprep.cli._common import EXIT_USAGE, console, fail, handle_errors
from radprep.datasets.scan import scan_dicom, write_index


@handle_errors
def index(
    root: Path = typer.Argument(..., help="Folder to scan recursively."),
    out: Path = typer.Option(..., "--out", "-o", help="Parquet file to write."),
) -> None:
    """Index every DICOM instance under ROOT from its header (no pixel decoding)."""
    if not root.is_dir():
        raise fail(f"{root} is not a folder", EXIT_USAGE)
    t0 = time.perf_counter()
    result = scan_dicom(root)
    write_index(result, out)
    dt = time.perf_counter() - t0
    rate = (result.n_instances + len(result.skipped)) / dt if dt > 0 else 0.0
    console.print(
        f"indexed {result.n_instances} DICOM instance(s) into {out}; "
        f"{len(result.skipped)} other file(s) skipped; {rate:.0f} files/s",
        markup=False,
    )
