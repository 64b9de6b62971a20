"""`radprep convert IN... --out DIR`: DICOM to PNG or NPY per file, or NIfTI/NRRD per series."""

from __future__ import annotations

from pathlib import Path
from typing import cast

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
from radprep.export.convert import VOLUME_FORMATS, VOLUME_LAYOUTS, convert_series
from radprep.export.convert import convert as convert_paths
from radprep.export.png import FORMATS
from radprep.intensity.window import VOI
from radprep.types import OutputFormat

INPUTS_FILE = "inputs.jsonl"
"""Every input file of a conversion, done, failed or skipped with why (beside the outputs)."""


def parse_frames(text: str) -> int | None:
    """Parse ``--frame``: ``all`` or a 0-based frame number."""
    if text.strip().lower() == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        raise fail(
            f"--frame must be 'all' or a frame number from 0, got {text!r}", EXIT_USAGE
        ) from None
    if n < 0:
        raise fail(f"--frame must be >= 0, got {n}", EXIT_USAGE)
    return n


@handle_errors
def convert(
    inputs: list[Path] = typer.Argument(..., help="DICOM files and folders (folders recurse)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    to: str = typer.Option(
        "png8",
        "--to",
        help="png8, png16 or npy (one file per image), or nifti or nrrd (one volume per series, "
        "named <modality>_s<series number>_<hash>).",
    ),
    mask: list[Path] = typer.Option(
        [],
        "--mask",
        help="With nifti/nrrd: a DICOM SEG or NIfTI/NRRD label file to bring onto its series' "
        "grid (repeatable); a radiomics_pairs.csv lists the image+mask pairs.",
    ),
    window: str | None = typer.Option(
        None,
        "--window",
        "-w",
        help="header (default for PNG), header:N, C,W[,FUNCTION], auto, auto:P1,P2, minmax, none, "
        "or a CT preset (brain, subdural, stroke, lung, mediastinum, abdomen, liver, bone). "
        "npy without --window keeps modality values (e.g. HU).",
    ),
    volumes: str = typer.Option(
        "4d",
        "--volumes",
        help="With nifti/nrrd, a 4D series (time points, echoes, b-values): 4d (one file) or "
        "split (one 3D file per volume, <key>_v0000...).",
    ),
    frame: str = typer.Option("all", "--frame", help="'all' or a frame number (from 0)."),
    strict: bool = typer.Option(False, "--strict", help="Fail a file on any data quirk."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the summary and errors."),
) -> None:
    """Convert DICOM to PNG (8/16-bit display values) or NPY, or series to NIfTI/NRRD volumes."""
    if to not in FORMATS and to not in VOLUME_FORMATS:
        known = ", ".join((*FORMATS, *VOLUME_FORMATS))
        raise fail(f"--to {to!r} is not a format; choose one of {known}", EXIT_USAGE)
    check_inputs([*inputs, *mask])
    check_output(out, inputs)
    if to in VOLUME_FORMATS:
        if volumes not in VOLUME_LAYOUTS:
            known = ", ".join(VOLUME_LAYOUTS)
            raise fail(f"--volumes must be one of {known}, got {volumes!r}", EXIT_USAGE)
        _convert_series(inputs, out, to, mask, volumes, strict=strict, quiet=quiet)
        return
    if mask:
        raise fail("--mask goes with --to nifti or nrrd (volumes per series)", EXIT_USAGE)
    voi = VOI.parse(window) if window is not None else None
    frames = parse_frames(frame)

    def on_item(path: Path, status: str) -> None:
        tick()
        if not quiet and status == "ok":
            console.print(f"converted {path}", markup=False)

    started(None, resumable=False)
    result = convert_paths(
        inputs,
        out,
        fmt=cast(OutputFormat, to),  # checked against FORMATS above
        voi=voi,
        frames=frames,
        strict=strict,
        on_item=on_item,
    )
    acc = result.accounting
    if not quiet:
        for path, msg in result.warnings:
            err_console.print(f"radprep: warning: {path}: {msg}", markup=False)
    if result.converted == 0 and not result.failures:
        raise _nothing_found(inputs, len(acc.records))
    records = acc.write(out / INPUTS_FILE)
    console.print(
        f"{acc.summary()}; {len(result.written)} output file(s) written to {out}", markup=False
    )
    console.print(f"inputs:   {records}", markup=False)
    for rec in acc.failures:
        err_console.print(f"radprep: error: {rec.reason}", markup=False)
    if result.failures:
        raise typer.Exit(EXIT_FAILURES)


def _nothing_found(inputs: list[Path], n_files: int) -> typer.Exit:
    """The error (exit 2) for inputs holding no DICOM image, saying where it looked."""
    where = ", ".join(str(p) for p in inputs)
    return fail(
        f"no DICOM image in {where} ({n_files} file(s) looked at, recursively; hidden files "
        "and folders left out)",
        EXIT_USAGE,
    )


def _convert_series(
    inputs: list[Path],
    out: Path,
    to: str,
    masks: list[Path],
    volumes: str,
    *,
    strict: bool,
    quiet: bool,
) -> None:
    def on_item(path: Path, status: str) -> None:
        if not quiet and status == "ok":
            console.print(f"converted a series in {path}", markup=False)

    result = convert_series(
        inputs, out, fmt=to, masks=masks, volumes=volumes, strict=strict, on_item=on_item
    )
    for key, msg in [] if quiet else result.warnings:
        err_console.print(f"radprep: warning: {key}: {msg}", markup=False)
    acc = result.accounting
    if result.converted == 0 and not result.failures:
        raise _nothing_found(inputs, len(acc.records))
    records = acc.write(out / INPUTS_FILE)
    console.print(acc.summary(), markup=False)
    console.print(
        f"{result.converted} series converted, {len(result.written)} file(s) written to {out}; "
        f"{len(result.failures)} failed",
        markup=False,
    )
    console.print(f"inputs:   {records}", markup=False)
    for _, _, message in result.failures:
        err_console.print(f"radprep: error: {message}", markup=False)
    if result.failures:
        raise typer.Exit(EXIT_FAILURES)
