"""`radprep info PATH...`: what each DICOM file holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from radprep.cli._common import EXIT_FAILURES, check_inputs, console, err_console, handle_errors
from radprep.errors import RadprepError
from radprep.io.describe import describe


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


@handle_errors
def info(
    paths: list[Path] = typer.Argument(..., help="DICOM files (folders: use `radprep index`)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file, as a list."),
    pixels: bool = typer.Option(True, "--pixels/--no-pixels", help="Decode to report min/max."),
) -> None:
    """Show size, frames, photometric, bits, transfer syntax, windows, rescale, min/max."""
    check_inputs(paths)
    rows: list[dict[str, Any]] = []
    failed = 0
    for p in paths:
        try:
            rows.append(describe(p, pixels=pixels))
        except RadprepError as e:
            failed += 1
            rows.append({"path": str(p), "error": type(e).__name__, "message": str(e)})
            if not as_json:
                err_console.print(f"radprep: error: {e}", markup=False)
    if as_json:
        console.out(json.dumps(rows, indent=2, default=str), highlight=False)
    else:
        for r in rows:
            if "error" in r:
                continue
            t = Table(
                title=r["path"], show_header=False, title_justify="left", box=None, pad_edge=False
            )
            t.add_column(style="bold")
            t.add_column()
            windows = ", ".join(
                f"{w['center']:g}/{w['width']:g}"
                + (f" ({w['explanation']})" if w["explanation"] else "")
                for w in r["windows"]
            )
            rescale = (
                f"{_fmt(r['rescale_slope'])} x + {_fmt(r['rescale_intercept'])}"
                if r["rescale_slope"] is not None or r["rescale_intercept"] is not None
                else ("LUT" if r["modality_lut"] else "-")
            )
            items = [
                ("modality", r["modality"]),
                ("size", f"{r['rows']} x {r['columns']}, {r['frames']} frame(s)"),
                ("photometric", r["photometric_interpretation"]),
                (
                    "bits",
                    f"{r['bits_stored']}/{r['bits_allocated']} "
                    + ("signed" if r["signed"] else "unsigned"),
                ),
                ("transfer syntax", f"{r['transfer_syntax']} ({r['transfer_syntax_uid']})"),
                ("windows", windows or "-"),
                ("VOI LUTs", r["voi_luts"]),
                ("rescale", rescale),
            ]
            if "stored_min" in r:
                items.append(
                    ("stored min/max", f"{_fmt(r['stored_min'])} / {_fmt(r['stored_max'])}")
                )
            if "modality_min" in r:
                items.append(
                    ("modality min/max", f"{_fmt(r['modality_min'])} / {_fmt(r['modality_max'])}")
                )
            for k, v in items:
                t.add_row(k, _fmt(v))
            console.print(t)
    if failed:
        raise typer.Exit(EXIT_FAILURES)
