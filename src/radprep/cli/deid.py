"""`radprep deid IN OUT`: de-identify DICOM files by PS3.15 Annex E, on the runner."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, replace
from pathlib import Path
from typing import get_args

import typer
from pydantic import ValidationError

from radprep._validate import check_choice
from radprep.batch.executor import get_executor
from radprep.cli._common import (
    EXIT_FAILURES,
    EXIT_USAGE,
    check_inputs,
    check_output,
    check_workers,
    console,
    err_console,
    fail,
    handle_errors,
)
from radprep.deid.audit import AuditRecord, audit_jsonl
from radprep.deid.config import DeidConfig, PixelOcr, PixelText
from radprep.deid.core import DeidResult, deidentify_file
from radprep.deid.crosswalk import check_outside, write_crosswalk
from radprep.deid.uids import KEY_ENV, ephemeral_key, load_key
from radprep.errors import SpecError
from radprep.io.write import atomic_write_bytes

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


@dataclass(frozen=True)
class DeidTask:
    """De-identify one file (picklable: it runs in worker processes or on a cluster)."""

    out_root: str
    config: DeidConfig
    key: bytes
    with_crosswalk: bool = False

    def __call__(self, path: str) -> DeidResult:
        return deidentify_file(
            path, self.out_root, self.config, self.key, with_crosswalk=self.with_crosswalk
        )


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


def _inputs(src: Path, out: Path) -> list[str]:
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


@handle_errors
def deid(
    src: Path = typer.Argument(..., help="A DICOM file, or a folder (read recursively)."),
    out: Path = typer.Argument(..., help="Output folder: <StudyUID>/<SeriesUID>/<SOPUID>.dcm."),
    key_file: Path | None = typer.Option(
        None, "--key-file", help=f"File holding the secret key (else ${KEY_ENV})."
    ),
    retain: list[str] = typer.Option(
        [],
        "--retain",
        help="Add a PS3.15 option: " + ", ".join(RETAIN_OPTIONS) + " (repeat or comma-separate). "
        "Default: longitudinal-modified-dates and patient-characteristics.",
    ),
    basic: bool = typer.Option(
        False, "--basic", help="Basic Profile only: drop the default options (add with --retain)."
    ),
    clean_descriptors: bool = typer.Option(
        False, "--clean-descriptors", help="Clean Descriptors: keep descriptions, scrubbed."
    ),
    clean_structured_content: bool = typer.Option(
        False,
        "--clean-structured-content",
        help="Clean Structured Content: SR content keeps its dates per the dates option.",
    ),
    pixel_ocr: str = typer.Option(
        "all",
        "--pixel-ocr",
        help="Which images are read (OCR) for burned-in text: all, suspect (overlay modalities "
        "and images whose header suggests text) or off (those are then held back).",
    ),
    pixel_text: str = typer.Option(
        "overlay_modalities",
        "--pixel-text",
        help="Which text read is cleaned when none of it is PHI (PHI text always is): "
        "overlay_modalities (US, SC, OT, XA, RF and header-flagged images), all, or phi.",
    ),
    workers: int | None = typer.Option(None, "--workers", "-j", help="Worker processes."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Dask scheduler address (tcp://host:port) or 'local'."
    ),
    crosswalk: Path | None = typer.Option(
        None, "--crosswalk", help="Write original -> pseudonym here (outside OUT; mode 0600)."
    ),
    quarantine_dir: Path | None = typer.Option(
        None,
        "--quarantine-dir",
        help="Hold images that need pixel review here (outside OUT) instead of only listing them.",
    ),
    ephemeral: bool = typer.Option(
        False, "--ephemeral-key", help="Use a random one-off key (pseudonyms match no other batch)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the summary and errors."),
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
    if ephemeral:
        key = ephemeral_key()
        err_console.print(
            "radprep: warning: --ephemeral-key: a random key for this run only; its pseudonyms, "
            "UIDs and date shifts will not match those of any other batch",
            markup=False,
        )
    else:
        key = load_key(key_file)

    items = _inputs(src, out)
    task = DeidTask(str(out), config, key, with_crosswalk=crosswalk is not None)
    records: list[AuditRecord] = []
    rows: list[tuple[str, str, str]] = []
    counts = {
        "written": 0,
        "unchanged": 0,
        "duplicate": 0,
        "quarantined": 0,
        "skipped": 0,
        "failed": 0,
    }
    failures: list[str] = []
    first_input: dict[str, str] = {}  # output -> the input of this run that gave it
    held_from: dict[str, str] = {}  # held copy -> the input of this run that gave it
    with get_executor("processes", workers=workers, scheduler=scheduler) as ex:
        for item, outcome in ex.map(task, items):
            if outcome.ok and outcome.value is not None:
                result: DeidResult = outcome.value
                rec = result.record
                if rec.status in ("written", "unchanged") and rec.output:
                    if rec.output in first_input:
                        rec = replace(rec, status="duplicate")
                    else:
                        first_input[rec.output] = item
                records.append(rec)
                if rec.note:
                    err_console.print(f"radprep: warning: {item}: {rec.note}", markup=False)
                rows.extend(result.crosswalk)
                counts[rec.status] += 1
                if rec.status == "skipped":
                    if not quiet:
                        console.print(f"skipped {item} ({rec.reason})", markup=False)
                elif rec.status == "quarantined":
                    held = f"; held in {result.path}" if result.path else ""
                    if result.path is not None:
                        first = held_from.setdefault(str(result.path), item)
                        if first != item:
                            held += f" (the same de-identified content as {first}: held once)"
                    err_console.print(
                        f"radprep: warning: {item}: needs pixel review ({rec.reason}); not written "
                        f"to the output{held}",
                        markup=False,
                    )
                elif rec.status == "duplicate":
                    if not quiet:
                        console.print(
                            f"skipped {item}: a duplicate of {first_input[rec.output]} (the same "
                            f"de-identified content, already written as {rec.output})",
                            markup=False,
                        )
                elif not quiet:
                    console.print(f"{rec.status} {item} -> {rec.output}", markup=False)
            elif outcome.error == "NotDicomError":
                records.append(AuditRecord(status="skipped", error=outcome.error))
                counts["skipped"] += 1
                if not quiet:
                    console.print(f"skipped {item} (not DICOM)", markup=False)
            else:
                records.append(AuditRecord(status="failed", error=outcome.error))
                counts["failed"] += 1
                failures.append(outcome.message)

    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    audit_path = atomic_write_bytes(out / "deid-audit" / f"{stamp}.jsonl", audit_jsonl(records))
    if crosswalk is not None:
        write_crosswalk(crosswalk, rows, out_root=out)
    for message in failures:
        err_console.print(f"radprep: error: {message}", markup=False)
    n_done = counts["written"] + counts["unchanged"]
    n_skipped = counts["quarantined"] + counts["skipped"] + counts["duplicate"]
    console.print(
        f"{len(items)} file(s) found: {n_done} done, {counts['failed']} failed, {n_skipped} "
        f"skipped (held back {counts['quarantined']}, duplicates {counts['duplicate']}, not "
        f"DICOM or a DICOMDIR {counts['skipped']}); {n_done} + {counts['failed']} + "
        f"{n_skipped} = {n_done + counts['failed'] + n_skipped}",
        markup=False,
    )
    console.print(
        f"{n_done} file(s) de-identified into {out} ({counts['unchanged']} already there); "
        f"{counts['duplicate']} duplicate(s) of another input skipped; "
        f"{counts['quarantined']} quarantined for pixel review; {counts['skipped']} skipped "
        f"(not DICOM, or a DICOMDIR); {counts['failed']} failed; audit: {audit_path}"
        + (f"; crosswalk: {crosswalk}" if crosswalk is not None else ""),
        markup=False,
    )
    if failures:
        raise typer.Exit(EXIT_FAILURES)


__all__ = ["RETAIN_OPTIONS", "DeidTask", "build_config", "deid"]
