"""`radprep deid IN OUT`: de-identify DICOM files by PS3.15 Annex E, on the runner."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, get_args

import typer
from pydantic import ValidationError

from radprep._validate import check_choice
from radprep.batch.engine import Where
from radprep.cli._common import (
    EXIT_FAILURES,
    EXIT_USAGE,
    QuietSummary,
    Workers,
    check_inputs,
    check_output,
    check_workers,
    console,
    err_console,
    fail,
    handle_errors,
    started,
)
from radprep.deid.config import DeidConfig, PixelOcr, PixelText
from radprep.deid.crosswalk import check_outside
from radprep.deid.uids import KEY_ENV, ephemeral_key, load_key
from radprep.errors import SpecError
from radprep.jobs.deid import DeidBatch, DeidTask, deid_files, find_inputs

# --retain names -> DeidConfig fields (PS3.15 E.3 option names).
RETAIN_OPTIONS: dict[str, str] = {
    "longitudinal-modified-dates": "retain_longitudinal_modified_dates",
    "longitudinal-full-dates": "retain_longitudinal_full_dates",
    "patient-characteristics": "retain_patient_characteristics",
    "device-identity": "retain_device_identity",
    "institution-identity": "retain_institution_identity",
    "uids": "retain_uids",
    "safe-private": "retain_safe_private",
}


def build_config(
    retain: list[str],
    *,
    basic: bool,
    clean_descriptors: bool,
    quarantine_dir: Path | None,
    clean_structured_content: bool = False,
    pixel_ocr: str = "all",
    pixel_text: str = "overlay_modalities",
) -> DeidConfig:
    """Return the DeidConfig the command line asks for.

    Parameters
    ----------
    pixel_ocr, pixel_text : str
        ``--pixel-ocr`` and ``--pixel-text``: :attr:`DeidConfig.pixel_ocr` and
        :attr:`DeidConfig.pixel_text`.

    Raises
    ------
    SpecError
        For an unknown --retain name, --pixel-ocr or --pixel-text value (the valid ones are
        listed).
    """
    fields: dict[str, object] = {
        "pixel_ocr": check_choice(pixel_ocr, get_args(PixelOcr), name="--pixel-ocr"),
        "pixel_text": check_choice(pixel_text, get_args(PixelText), name="--pixel-text"),
    }
    if basic:
        fields["retain_longitudinal_modified_dates"] = False
        fields["retain_patient_characteristics"] = False
    for item in (part.strip() for r in retain for part in r.split(",")):
        if not item:
            continue
        name = RETAIN_OPTIONS.get(item.lower().replace("_", "-"))
        if name is None:
            raise SpecError(
                f"--retain {item!r} is not an option; choose from {', '.join(RETAIN_OPTIONS)}"
            )
        fields[name] = True
    if fields.get("retain_longitudinal_full_dates"):
        fields["retain_longitudinal_modified_dates"] = False
    if clean_descriptors:
        fields["clean_descriptors"] = True
    if clean_structured_content:
        fields["clean_structured_content"] = True
    if quarantine_dir is not None:
        fields["quarantine"] = "hold"
        fields["quarantine_dir"] = quarantine_dir
    try:
        return DeidConfig(**fields)  # type: ignore[arg-type]
    except ValidationError as e:
        first = e.errors()[0]
        raise SpecError(f"de-identification options: {first['msg']}") from None


# The command's own options (--workers and --quiet are shared: cli/_common.py).
Src = Annotated[Path, typer.Argument(help="A DICOM file, or a folder (read recursively).")]
OutFolder = Annotated[
    Path, typer.Argument(help="Output folder: <StudyUID>/<SeriesUID>/<SOPUID>.dcm.")
]
KeyFile = Annotated[
    Path | None, typer.Option("--key-file", help=f"File holding the secret key (else ${KEY_ENV}).")
]
Retain = Annotated[
    list[str],
    typer.Option(
        "--retain",
        help="Add a PS3.15 option: " + ", ".join(RETAIN_OPTIONS) + " (repeat or comma-separate). "
        "Default: longitudinal-modified-dates and patient-characteristics.",
    ),
]
Basic = Annotated[
    bool,
    typer.Option(
        "--basic", help="Basic Profile only: drop the default options (add with --retain)."
    ),
]
CleanDescriptors = Annotated[
    bool,
    typer.Option("--clean-descriptors", help="Clean Descriptors: keep descriptions, scrubbed."),
]
CleanStructured = Annotated[
    bool,
    typer.Option(
        "--clean-structured-content",
        help="Clean Structured Content: SR content keeps its dates per the dates option.",
    ),
]
PixelOcrOption = Annotated[
    str,
    typer.Option(
        "--pixel-ocr",
        help="Which images are read (OCR) for burned-in text: all, suspect (overlay modalities "
        "and images whose header suggests text) or off (those are then held back).",
    ),
]
PixelTextOption = Annotated[
    str,
    typer.Option(
        "--pixel-text",
        help="Which text read is cleaned when none of it is PHI (PHI text always is): "
        "overlay_modalities (US, SC, OT, XA, RF and header-flagged images), all, or phi.",
    ),
]
DeidScheduler = Annotated[
    str | None,
    typer.Option("--scheduler", help="Dask scheduler address (tcp://host:port) or 'local'."),
]
DeidFresh = Annotated[
    bool,
    typer.Option("--fresh", help="Forget earlier progress (the ledger in OUT/.radprep); redo all."),
]
Crosswalk = Annotated[
    Path | None,
    typer.Option("--crosswalk", help="Write original -> pseudonym here (outside OUT; mode 0600)."),
]
QuarantineDir = Annotated[
    Path | None,
    typer.Option(
        "--quarantine-dir",
        help="Hold images that need pixel review here (outside OUT) instead of only listing them.",
    ),
]
Ephemeral = Annotated[
    bool,
    typer.Option(
        "--ephemeral-key", help="Use a random one-off key (pseudonyms match no other batch)."
    ),
]


@handle_errors
def deid(
    src: Src,
    out: OutFolder,
    key_file: KeyFile = None,
    retain: Retain = [],  # noqa: B006 - typer's default, never mutated
    basic: Basic = False,
    clean_descriptors: CleanDescriptors = False,
    clean_structured_content: CleanStructured = False,
    pixel_ocr: PixelOcrOption = "all",
    pixel_text: PixelTextOption = "overlay_modalities",
    workers: Workers = None,
    scheduler: DeidScheduler = None,
    fresh: DeidFresh = False,
    crosswalk: Crosswalk = None,
    quarantine_dir: QuarantineDir = None,
    ephemeral: Ephemeral = False,
    quiet: QuietSummary = False,
) -> None:
    """De-identify DICOM files (PS3.15 Basic Profile + options), named by new UIDs only."""
    check_inputs([src])
    check_workers(workers)
    check_output(out, [src])
    if ephemeral and key_file is not None:
        raise fail("--ephemeral-key and --key-file exclude each other; give one", EXIT_USAGE)
    if crosswalk is not None:
        check_outside(crosswalk, out, "--crosswalk")
    if quarantine_dir is not None:
        check_outside(quarantine_dir, out, "--quarantine-dir")
    config = build_config(
        retain,
        basic=basic,
        clean_descriptors=clean_descriptors,
        quarantine_dir=quarantine_dir,
        clean_structured_content=clean_structured_content,
        pixel_ocr=pixel_ocr,
        pixel_text=pixel_text,
    )
    task = DeidTask(
        str(out), config, _key(ephemeral, key_file), with_crosswalk=crosswalk is not None
    )
    where = Where("dask", workers, scheduler) if scheduler else Where("processes", workers)

    def say(kind: str, text: str) -> None:
        if kind == "warning":
            err_console.print(f"radprep: warning: {text}", markup=False)
        elif not quiet:
            console.print(text, markup=False)

    started(None, resumable=True)
    batch = deid_files(
        find_inputs(src, out), out, task, where=where, crosswalk=crosswalk, fresh=fresh, say=say
    )
    _summary(batch, out, crosswalk)


def _key(ephemeral: bool, key_file: Path | None) -> bytes:
    """The project's key from `key_file` (else the environment), or a one-off key (warned)."""
    if not ephemeral:
        return load_key(key_file)
    err_console.print(
        "radprep: warning: --ephemeral-key: a random key for this run only; its pseudonyms, "
        "UIDs and date shifts will not match those of any other batch",
        markup=False,
    )
    return ephemeral_key()


def _summary(batch: DeidBatch, out: Path, crosswalk: Path | None) -> None:
    """Print the failures and the summary lines; exit 1 when a file failed."""
    for message in batch.failures:
        err_console.print(f"radprep: error: {message}", markup=False)
    counts = batch.counts
    console.print(batch.accounting.summary(), markup=False)
    n_done = counts["written"] + counts["unchanged"]
    console.print(
        f"{n_done} file(s) de-identified into {out} ({counts['unchanged']} already there); "
        f"{counts['duplicate']} duplicate(s) of another input skipped; "
        f"{counts['quarantined']} quarantined for pixel review; {counts['skipped']} skipped "
        f"(not DICOM, or a DICOMDIR); {counts['failed']} failed; audit: {batch.audit}"
        + (f"; crosswalk: {crosswalk}" if crosswalk is not None else ""),
        markup=False,
    )
    if batch.failures:
        raise typer.Exit(EXIT_FAILURES)


__all__ = ["RETAIN_OPTIONS", "DeidTask", "build_config", "deid"]
