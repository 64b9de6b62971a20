"""`radprep convert IN... --out DIR`: DICOM to PNG or NPY per file, or NIfTI/NRRD per series."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from radprep.cli._common import (
    EXIT_FAILURES,
    EXIT_USAGE,
    Fresh,
    Out,
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
from radprep.export.convert import VOLUME_FORMATS, VOLUME_LAYOUTS
from radprep.export.png import FORMATS
from radprep.intensity.window import VOI
from radprep.jobs.convert import ConvertResult, convert_series
from radprep.jobs.convert import convert as convert_paths
from radprep.types import OutputFormat

if TYPE_CHECKING:
    from radprep.batch.engine import Where


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
    inputs: Annotated[
        list[Path], typer.Argument(help="DICOM files and folders (folders recurse).")
    ],
    out: Out,
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
    workers: int | None = typer.Option(
        None, "--workers", "-j", help="Worker processes (default: convert in this process)."
    ),
    scheduler: Scheduler = None,
    fresh: Fresh = False,
    quiet: QuietSummary = False,
) -> None:
    """Convert DICOM to PNG (8/16-bit display values) or NPY, or series to NIfTI/NRRD volumes.

    Resumable: run the same command again and what is finished is not redone. Every input is
    listed in inputs.jsonl (done, failed or skipped, with why), failures in failures.jsonl.
    """
    where = where_from(workers, scheduler)
    if to not in FORMATS and to not in VOLUME_FORMATS:
        known = ", ".join((*FORMATS, *VOLUME_FORMATS))
        raise fail(f"--to {to!r} is not a format; choose one of {known}", EXIT_USAGE)
    check_inputs([*inputs, *mask])
    check_output(out, inputs)
    if to in VOLUME_FORMATS:
        _volumes(inputs, out, to, mask, volumes, strict=strict, where=where, fresh=fresh,
                 quiet=quiet)  # fmt: skip
    else:
        _images(inputs, out, to, mask, window, frame, strict=strict, where=where, fresh=fresh,
                quiet=quiet)  # fmt: skip


def _volumes(
    inputs: list[Path], out: Path, to: str, mask: list[Path], volumes: str, *, strict: bool,
    where: Where, fresh: bool, quiet: bool,
) -> None:  # fmt: skip
    """``--to nifti|nrrd``: one volume per series (masks brought onto its grid)."""
    if volumes not in VOLUME_LAYOUTS:
        known = ", ".join(VOLUME_LAYOUTS)
        raise fail(f"--volumes must be one of {known}, got {volumes!r}", EXIT_USAGE)
    started(None, resumable=True)
    result = convert_series(
        inputs, out, fmt=to, masks=mask, volumes=volumes, strict=strict, where=where,
        fresh=fresh, on_item=_say("converted a series in", quiet),
    )  # fmt: skip
    _report(result, inputs, out, series=True, quiet=quiet)


def _images(
    inputs: list[Path], out: Path, to: str, mask: list[Path], window: str | None, frame: str,
    *, strict: bool, where: Where, fresh: bool, quiet: bool,
) -> None:  # fmt: skip
    """``--to png8|png16|npy``: one file per image (or frame)."""
    if mask:
        raise fail("--mask goes with --to nifti or nrrd (volumes per series)", EXIT_USAGE)
    voi = VOI.parse(window) if window is not None else None
    frames = parse_frames(frame)

    started(None, resumable=True)
    result = convert_paths(
        inputs,
        out,
        fmt=cast(OutputFormat, to),  # checked against FORMATS by the command
        voi=voi,
        frames=frames,
        strict=strict,
        where=where,
        fresh=fresh,
        on_item=_say("converted", quiet),
    )
    _report(result, inputs, out, series=False, quiet=quiet)


def _say(what: str, quiet: bool) -> Callable[[Path, str], None]:
    """The per-unit callback: count it (for the SIGINT message) and say what was converted."""

    def on_item(path: Path, status: str) -> None:
        tick()
        if not quiet and status == "ok":
            console.print(f"{what} {path}", markup=False)

    return on_item


def _report(
    result: ConvertResult, inputs: list[Path], out: Path, *, series: bool, quiet: bool
) -> None:
    """Print the warnings, the summary and the failures; exit 2 when nothing could be done,
    1 when something failed."""
    acc = result.accounting
    if not quiet:
        for path, msg in result.warnings:
            err_console.print(f"radprep: warning: {path}: {msg}", markup=False)
    if result.converted == 0 and not result.failures:
        raise _nothing_found(inputs, len(acc.records))
    if series:
        console.print(acc.summary(), markup=False)
        console.print(
            f"{result.converted} series converted, {len(result.written)} file(s) written to "
            f"{out}; {len(result.failures)} failed",
            markup=False,
        )
    else:
        console.print(
            f"{acc.summary()}; {len(result.written)} output file(s) written to {out}",
            markup=False,
        )
    if result.already_done:
        console.print(f"{result.already_done} already done (resumed)", markup=False)
    console.print(f"inputs:   {result.inputs_file}", markup=False)
    if result.failures:
        console.print(f"failures: {result.failures_file}", markup=False)
    for _, _, message in result.failures:
        err_console.print(f"radprep: error: {message}", markup=False)
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
