"""`radprep info PATH...`: what each DICOM file holds.

The plain forms are answered without typer (:mod:`radprep.cli._fast`); this is the command
typer runs for the rest (``--help``, a missing path), with the same output.
"""

from __future__ import annotations

from pathlib import Path

import typer

from radprep.cli._common import check_inputs, handle_errors
from radprep.cli._fast import show_info


@handle_errors
def info(
    paths: list[Path] = typer.Argument(..., help="DICOM files (folders: use `radprep index`)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file, as a list."),
    pixels: bool = typer.Option(True, "--pixels/--no-pixels", help="Decode to report min/max."),
) -> None:
    """Show size, frames, photometric, bits, transfer syntax, windows, rescale, min/max."""
    check_inputs(paths)
    code = show_info(paths, as_json=as_json, pixels=pixels)
    if code:
        raise typer.Exit(code)
