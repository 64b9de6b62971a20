"""``convert`` on the batch engine: DICOM to PNG/NPY per file, or one volume per series.

Plan: the inputs walked (folders recursively, sorted, hidden entries left out), a file met
twice skipped as a duplicate; for volumes, the files grouped into series (the others skipped
or failed with why) and the mask files placed on their series. Execute: one unit per file (or
series) on the executor asked for, resumable from the ledger in ``<out>/.radprep``. Finish:
``inputs.jsonl``, ``failures.jsonl``, and for volumes with masks ``radiomics_pairs.csv``.
One bad file never stops a conversion: it is recorded with its reason and the rest go on.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radprep.batch.engine import (
    STATE_DIR,
    Failure,
    PlannedInput,
    Where,
    account,
    entries,
    execute,
    open_ledger,
    options_hash,
    write_records,
)
from radprep.batch.executor import Outcome, UnitFailed
from radprep.datasets.sources import fingerprint
from radprep.errors import NoPixelDataError, NotDicomError, RadprepError, RadprepWarning
from radprep.export.convert import (
    convert_file,
    convert_one_series,
    iter_inputs,
    left_out,
    plan_series,
)
from radprep.intensity.window import VOI
from radprep.io.accounting import Accounting
from radprep.io.dicom import Frames
from radprep.io.series import SeriesInfo
from radprep.types import OutputFormat

__all__ = ["ConvertResult", "FileJob", "SeriesJob", "convert", "convert_series"]

OnItem = Callable[[Path, str], None]
"""``on_item(path, status)`` after each unit, status ``"ok"``, ``"skipped"`` or ``"failed"``."""


@dataclass
class ConvertResult:
    """What a conversion did: files written, inputs that failed, inputs skipped."""

    written: list[Path] = field(default_factory=list)
    converted: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    accounting: Accounting = field(default_factory=Accounting)
    """Every input file found: done, failed (reason) or skipped (reason)."""
    already_done: int = 0
    """Units a resumed conversion found finished in its ledger and did not redo."""
    inputs_file: Path | None = None
    failures_file: Path | None = None

    @property
    def ok(self) -> bool:
        """True when no input failed."""
        return not self.failures


@dataclass(frozen=True)
class FileUnit:
    """One input file to convert: its path (the unit id), output stem, and fingerprint."""

    id: str
    stem: str
    explicit: bool
    fingerprint: str


@dataclass(frozen=True)
class SeriesUnit:
    """One series to write as a volume, with the mask files placed on it."""

    id: str
    info: SeriesInfo
    masks: tuple[str, ...]
    fingerprint: str


def _fingerprint(*paths: str) -> str:
    try:
        return fingerprint(*paths)
    except OSError:
        return "unavailable"  # the job says why (a dangling link, no permission)


def _unexpected(where: str, e: BaseException) -> UnitFailed:
    text = " ".join(str(e).split())[:300]
    return UnitFailed(type(e).__name__, f"{where}: unexpected {type(e).__name__}: {text}")


@dataclass(frozen=True)
class FileJob:
    """Convert one file (picklable: it runs in worker processes or on Dask)."""

    out: str
    fmt: OutputFormat = "png8"
    voi: VOI | None = None
    frames: Frames = None
    strict: bool = False

    def __call__(self, unit: FileUnit) -> dict[str, Any]:
        path, out = Path(unit.id), Path(self.out)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("ignore")
                warnings.simplefilter("error" if self.strict else "always", RadprepWarning)
                written = convert_file(
                    path, out / unit.stem, fmt=self.fmt, voi=self.voi, frames=self.frames
                )
        except RadprepWarning as e:
            raise UnitFailed("RadprepWarning", f"{path}: {e} (--strict)") from None
        except (NotDicomError, NoPixelDataError) as e:
            if unit.explicit:  # a file named explicitly that cannot be converted fails
                raise
            return {"skipped": "not DICOM" if isinstance(e, NotDicomError) else "no pixels"}
        except (RadprepError, KeyboardInterrupt, SystemExit):
            raise
        except OSError:
            raise  # the output cannot be written: the engine stops when every file would fail
        except BaseException as e:  # one file never stops a batch, whatever it raises
            if isinstance(e.__cause__, OSError):
                raise
            raise _unexpected(str(path), e) from e
        return {
            "written": [p.relative_to(out).as_posix() for p in written],
            "warnings": [str(w.message) for w in caught],
        }


@dataclass(frozen=True)
class SeriesJob:
    """Write one series as a volume, and its masks (picklable)."""

    out: str
    fmt: str = "nifti"
    volumes: str = "4d"
    strict: bool = False

    def __call__(self, unit: SeriesUnit) -> dict[str, Any]:
        out = Path(self.out)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("ignore")
                warnings.simplefilter("error" if self.strict else "always", RadprepWarning)
                written, pairs = convert_one_series(
                    unit.info, unit.masks, out, fmt=self.fmt, volumes=self.volumes
                )
        except RadprepWarning as e:
            raise UnitFailed("RadprepWarning", f"{unit.id}: {e} (--strict)") from None
        except RadprepError as e:
            raise UnitFailed(type(e).__name__, f"{unit.id}: {e}") from None
        rel = lambda p: Path(p).relative_to(out).as_posix()  # noqa: E731
        return {
            "written": [rel(p) for p in written],
            "pairs": [[rel(i), rel(m), label] for i, m, label in pairs],
            "warnings": [str(w.message) for w in caught],
        }


def plan_files(
    inputs: Iterable[str | os.PathLike[str]], out: Path
) -> tuple[list[FileUnit], list[PlannedInput]]:
    """One unit per file met (a file met again is skipped as a duplicate)."""
    seen = Accounting()
    units: list[FileUnit] = []
    planned: list[PlannedInput] = []
    for path, stem, explicit in iter_inputs(inputs, exclude=out):
        if seen.seen(path):  # named and inside a named folder, or a link
            planned.append(PlannedInput(str(path), None, "skipped", "duplicate"))
            continue
        unit = FileUnit(str(path), stem.as_posix(), explicit, _fingerprint(str(path)))
        units.append(unit)
        planned.append(PlannedInput(unit.id, unit.id))
    return units, planned


def plan_volumes(
    inputs: Iterable[str | os.PathLike[str]], out: Path, masks: Iterable[str | os.PathLike[str]]
) -> tuple[list[SeriesUnit], list[PlannedInput], list[Failure]]:
    """One unit per series; every other file skipped or failed with why; the masks that
    fit no series."""
    met: list[tuple[Path, bool, bool]] = []  # file, met before, named explicitly
    seen = Accounting()
    for p, _, named in iter_inputs(inputs, exclude=out):
        met.append((p, seen.seen(p), named))
    files = [p for p, duplicate, _ in met if not duplicate]
    series, by_series, unplaced = plan_series(files, masks)
    key_of = {p: info.key for info in series for p in info.paths}
    planned: list[PlannedInput] = []
    for p, duplicate, named in met:
        if duplicate:
            planned.append(PlannedInput(str(p), None, "skipped", "duplicate"))
        elif str(p) in key_of:
            planned.append(PlannedInput(str(p), key_of[str(p)], failed_as=_IN_SERIES))
        else:
            status, reason, error = left_out(p, explicit=named)
            planned.append(PlannedInput(str(p), None, status, reason, error))
    units = []
    for info in series:
        placed = tuple(str(m) for m in by_series.get(info.series_instance_uid, []))
        units.append(SeriesUnit(info.key, info, placed, _fingerprint(*info.paths, *placed)))
    return units, planned, [Failure(*f) for f in unplaced]


_IN_SERIES = "{path}: in series {message}"


def _notify(on_item: OnItem | None, where: Callable[[Any], Path]) -> Callable[..., None] | None:
    if on_item is None:
        return None

    def notify(unit: Any, outcome: Outcome[Any], payload: Any) -> None:
        skipped = outcome.ok and isinstance(payload, dict) and payload.get("skipped")
        on_item(where(unit), "skipped" if skipped else "ok" if outcome.ok else "failed")

    return notify


def _run(
    job: Callable[[Any], Any],
    units: list[Any],
    planned: list[PlannedInput],
    out: Path,
    run_hash: str,
    batch: _Batch,
    where_of: Callable[[Any], Path],
) -> ConvertResult:
    """Execute the units (resumably) and read the result back from the ledger."""
    result = ConvertResult()
    if not units:
        result.accounting, failures = account(planned, None, run_hash)
        result.failures = [(f.item_id, f.error, f.message) for f in failures]
        return result
    ledger_path = out / STATE_DIR / "ledger.sqlite"
    with open_ledger(ledger_path, fresh=batch.fresh, clean=out) as ledger:
        notify = _notify(batch.on_item, where_of)
        done = execute(job, units, ledger, run_hash, batch.where, progress=batch.progress,
                       label="files", on_result=notify)  # fmt: skip
        result.already_done = done.already_done
        result.accounting, failures = account(planned, ledger, run_hash)
        by_id = {e.item_id: e for e in entries(ledger, run_hash, [u.id for u in units])}
    for unit in units:  # in plan order
        entry = by_id.get(unit.id)
        if entry is None or not entry.ok or entry.payload.get("skipped"):
            continue
        result.converted += 1
        result.written += [out / w for w in entry.payload["written"]]
        result.warnings += [(unit.id, w) for w in entry.payload["warnings"]]
    result.failures = [(f.item_id, f.error, f.message) for f in failures]
    return result


@dataclass(frozen=True)
class _Batch:
    """How a conversion runs: where, resumed or fresh, progress shown, per-unit callback."""

    where: Where = field(default_factory=lambda: Where("serial"))
    fresh: bool = False
    progress: str = "quiet"
    on_item: OnItem | None = None


def convert(
    inputs: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    fmt: OutputFormat = "png8",
    voi: VOI | None = None,
    frames: Frames = None,
    strict: bool = False,
    where: Where = Where("serial"),
    fresh: bool = False,
    progress: str = "quiet",
    on_item: OnItem | None = None,
) -> ConvertResult:
    """Convert files and folder trees under `out_dir`, going on past bad files; resumable.

    Inside folders, files that are not DICOM and DICOM objects without pixel data (reports,
    plans, DICOMDIRs) are skipped and counted; every other error is a failure. A file named
    explicitly that cannot be converted is always a failure. ``inputs.jsonl`` and
    ``failures.jsonl`` are written beside the outputs.

    Parameters
    ----------
    fmt : {"png8", "png16", "npy"}
    voi : VOI, optional
        The display window (PNG default: the header's); NPY without one keeps modality values.
    strict : bool
        Treat a data quirk (:class:`~radprep.errors.RadprepWarning`) as a failure of that file.
    where : Where
        Where files convert (default: in this process); ``fresh`` redoes finished files.
    on_item : callable, optional
        Called as ``on_item(path, status)`` after each file (for progress display).
    """
    out = Path(out_dir)
    units, planned = plan_files(inputs, out)
    job = FileJob(str(out), fmt, voi, frames, strict)
    options = {"to": fmt, "voi": repr(voi), "frames": frames, "strict": strict}
    run_hash = options_hash("convert", options)
    batch = _Batch(where, fresh, progress, on_item)
    result = _run(job, units, planned, out, run_hash, batch, lambda u: Path(u.id))
    if units:
        _write_records(out, result)
    return result


def convert_series(
    inputs: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    fmt: str = "nifti",
    masks: Iterable[str | os.PathLike[str]] = (),
    volumes: str = "4d",
    strict: bool = False,
    where: Where = Where("serial"),
    fresh: bool = False,
    progress: str = "quiet",
    on_item: OnItem | None = None,
) -> ConvertResult:
    """Write one volume per DICOM series found under `inputs`, named without patient data.

    Each series is :func:`radprep.export.convert.convert_one_series` (its volume, and its
    masks on its grid); with masks, ``radiomics_pairs.csv`` lists the pairs for pyradiomics'
    batch mode. Every file found is accounted for: a series' files are done or fail with it;
    the others are skipped (not DICOM, no pixels, not a volume, duplicate) or fail with why.

    Parameters
    ----------
    fmt : {"nifti", "nrrd"}
    volumes : {"4d", "split"}
    strict : bool
        Treat a data quirk of a series (missing slices, tilt...) as its failure.
    where, fresh, progress, on_item
        As for :func:`convert`.
    """
    from radprep.export.nifti import RadiomicsPair, write_pairs_csv

    out = Path(out_dir)
    units, planned, unplaced = plan_volumes(inputs, out, masks)
    job = SeriesJob(str(out), fmt, volumes, strict)
    options = {"to": fmt, "volumes": volumes, "strict": strict}
    run_hash = options_hash("convert-series", options)
    batch = _Batch(where, fresh, progress, on_item)
    result = _run(job, units, planned, out, run_hash, batch, lambda u: Path(u.info.paths[0]).parent)
    result.failures += [(f.item_id, f.error, f.message) for f in unplaced]
    pairs = _pairs(out, units, run_hash) if units and masks else []
    if pairs:
        csv = out / "radiomics_pairs.csv"
        result.written.append(write_pairs_csv(
            [RadiomicsPair(i, m, None, label) for i, m, label in pairs], csv, relative_to=str(out)
        ))  # fmt: skip
    if units or result.failures:
        _write_records(out, result)
    return result


def _write_records(out: Path, result: ConvertResult) -> None:
    """``inputs.jsonl`` and ``failures.jsonl`` beside the outputs, named in `result`."""
    failures = [Failure(*f) for f in result.failures]
    result.inputs_file, result.failures_file = write_records(out, result.accounting, failures)


def _pairs(out: Path, units: list[SeriesUnit], run_hash: str) -> list[tuple[str, str, str]]:
    """The image+mask pairs of the series done, from the ledger, in plan order."""
    with open_ledger(out / STATE_DIR / "ledger.sqlite") as ledger:
        by_id = {e.item_id: e for e in entries(ledger, run_hash, [u.id for u in units])}
    pairs = []
    for unit in units:
        entry = by_id.get(unit.id)
        if entry is not None and entry.ok:
            pairs += [(str(out / i), str(out / m), label) for i, m, label in entry.payload["pairs"]]
    return pairs
