"""`radprep report OUT`: rebuild the HTML QA report of a run folder."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from radprep.cli._common import console, handle_errors
from radprep.report import build_report


@handle_errors
def report(
    out: Path = typer.Argument(..., help="A run's output folder (holds run.json)."),
) -> None:
    """Rebuild OUT/report/index.html from a run folder (manifest, thumbnails, failures)."""
    t0 = time.perf_counter()
    index = build_report(out)
    console.print(f"report written to {index} in {time.perf_counter() - t0:.1f} s", markup=False)
