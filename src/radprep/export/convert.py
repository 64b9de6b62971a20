"""DICOM files and folders to PNG or NPY: the notebook's first step, done right.

One bad file never stops a conversion: it is recorded with its reason and the rest go on.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from radprep._limits import format_bytes, max_decoded_bytes
from radprep._validate import check_choice
from radprep.errors import (
    InputError,
    NoPixelDataError,
    NotDicomError,
    RadprepError,
    RadprepWarning,
    SizeLimitError,
)
from radprep.export.png import FORMATS, suffix_for, write_array
from radprep.geometry import Geometry
from radprep.intensity.window import VOI
from radprep.io.accounting import Accounting
from radprep.io.dicom import Frames, read_dicom, read_header
from radprep.io.series import SeriesInfo
from radprep.types import OutputFormat

__all__ = [
    "VOLUME_FORMATS",
    "VOLUME_LAYOUTS",
    "ConvertResult",
    "convert",
    "convert_file",
    "convert_series",
    "iter_inputs",
]

VOLUME_FORMATS = ("nifti", "nrrd")
VOLUME_LAYOUTS = ("4d", "split")
_VOLUME_SUFFIX = {"nifti": ".nii.gz", "nrrd": ".nrrd"}


@dataclass
class ConvertResult:
    """What a conversion did: files written, inputs that failed, inputs skipped."""

    written: list[Path] = field(default_factory=list)
    converted: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    accounting: Accounting = field(default_factory=Accounting)
    """Every input file found: done, failed (reason) or skipped (reason)."""

    @property
    def ok(self) -> bool:
        """True when no input failed."""
        return not self.failures


def iter_inputs(
    inputs: Iterable[str | os.PathLike[str]], *, exclude: Path | None = None
) -> Iterator[tuple[Path, Path, bool]]:
    """Yield ``(file, relative output stem, named explicitly)`` for files and folder trees.

    Folders are walked recursively in sorted order (hidden entries and `exclude` left out); a
    file inside a folder keeps its path relative to that folder, prefixed by the folder's name
    when several inputs are given, so that outputs never collide.
    """
    items = [Path(p) for p in inputs]
    prefix_dirs = len(items) > 1
    excl = exclude.resolve() if exclude is not None else None
    for item in items:
        if item.is_dir():
            for root, dirs, files in os.walk(item):
                rp = Path(root)
                dirs[:] = sorted(
                    d
                    for d in dirs
                    if not d.startswith(".") and (excl is None or (rp / d).resolve() != excl)
                )
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    f = rp / name
                    rel = f.relative_to(item)
                    stem = (Path(item.name) / rel) if prefix_dirs else rel
                    yield (
                        f,
                        stem.with_suffix("") if stem.suffix.lower() in (".dcm", ".dicom") else stem,
                        False,
                    )
        else:
            stem = Path(item.name)
            yield (
                item,
                stem.with_suffix("") if stem.suffix.lower() in (".dcm", ".dicom") else stem,
                True,
            )


def convert_file(
    path: str | os.PathLike[str],
    out_stem: Path,
    *,
    fmt: OutputFormat = "png8",
    voi: VOI | None = None,
    frames: Frames = None,
) -> list[Path]:
    """Convert one DICOM file; return the files written.

    PNG gets display values (`voi`, default the header's window); NPY gets display values when a
    `voi` is given and modality values (e.g. Hounsfield units, float32) otherwise. A multi-frame
    image becomes one PNG per frame (``<stem>_f0000.png``) or one NPY holding all frames.
    """
    if fmt not in FORMATS:
        raise ValueError(fmt)
    if fmt != "npy" and voi is None:
        voi = VOI("header")
    out_dtype = {"png8": "uint8", "png16": "uint16", "npy": "float32"}[fmt]
    image = read_dicom(path, frames=frames, voi=voi, out_dtype=out_dtype)  # type: ignore[arg-type]
    pixels = image.pixels
    suffix = suffix_for(fmt)
    is_stack = pixels.ndim == 4 or (
        pixels.ndim == 3 and not (image.meta.is_color and pixels.shape[-1] == 3)
    )
    if fmt == "npy" or not is_stack:
        return [write_array(out_stem.with_name(out_stem.name + suffix), pixels, fmt)]
    numbers = (
        list(range(pixels.shape[0])) if frames is None else [int(f) for f in np.atleast_1d(frames)]
    )
    return [
        write_array(out_stem.with_name(f"{out_stem.name}_f{n:04d}{suffix}"), frame, fmt)
        for n, frame in zip(numbers, pixels, strict=True)
    ]


def convert(
    inputs: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    fmt: OutputFormat = "png8",
    voi: VOI | None = None,
    frames: Frames = None,
    strict: bool = False,
    on_item: Callable[[Path, str], None] | None = None,
) -> ConvertResult:
    """Convert files and folder trees under `out_dir`, going on past bad files.

    Inside folders, files that are not DICOM and DICOM objects without pixel data (reports,
    plans, DICOMDIRs) are skipped and counted; every other error is a failure. A file named
    explicitly that cannot be converted is always a failure.

    Parameters
    ----------
    strict : bool
        Treat a data quirk (:class:`~radprep.errors.RadprepWarning`) as a failure of that file.
    on_item : callable, optional
        Called as ``on_item(path, status)`` after each file, status one of ``"ok"``,
        ``"skipped"``, ``"failed"`` (for progress display).
    """
    out = Path(out_dir)
    result = ConvertResult()
    acc = result.accounting
    for path, stem, explicit in iter_inputs(inputs, exclude=out):
        status = "ok"
        if acc.seen(path):
            # The same file reached twice (named and inside a named folder, or a link).
            acc.skipped(path, "duplicate")
            result.skipped.append((str(path), "duplicate"))
            if on_item is not None:
                on_item(path, "skipped")
            continue
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("ignore")
                warnings.simplefilter("error" if strict else "always", RadprepWarning)
                result.written.extend(
                    convert_file(path, out / stem, fmt=fmt, voi=voi, frames=frames)
                )
            result.converted += 1
            result.warnings.extend((str(path), str(w.message)) for w in caught)
            acc.done(path)
        except RadprepWarning as e:
            result.failures.append((str(path), "RadprepWarning", f"{path}: {e} (--strict)"))
            acc.failed(path, f"{path}: {e} (--strict)", "RadprepWarning")
            status = "failed"
        except (NotDicomError, NoPixelDataError) as e:
            if explicit:
                result.failures.append((str(path), type(e).__name__, str(e)))
                acc.failed(path, str(e), type(e).__name__)
                status = "failed"
            else:
                reason = "not DICOM" if isinstance(e, NotDicomError) else "no pixels"
                result.skipped.append((str(path), reason))
                acc.skipped(path, reason)
                status = "skipped"
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # one file never stops a batch, whatever it raises
            if not isinstance(e, InputError) and (
                isinstance(e.__cause__, OSError)
                or (isinstance(e, OSError) and not isinstance(e, RadprepError))
            ):
                raise  # the output cannot be written: every later file would fail the same way
            message = (
                str(e)
                if isinstance(e, RadprepError)
                else f"{path}: unexpected {type(e).__name__}: {' '.join(str(e).split())[:300]}"
            )
            result.failures.append((str(path), type(e).__name__, message))
            acc.failed(path, message, type(e).__name__)
            status = "failed"
        if on_item is not None:
            on_item(path, status)
    return result


def _mask_target(mask: Path, series: list[SeriesInfo]) -> tuple[SeriesInfo | None, str]:
    """The series a mask file belongs to, and why none when it fits none or several."""
    from radprep.io.dicom import read_header

    uid = ""
    try:
        ds = read_header(mask)
        refs = ds.get("ReferencedSeriesSequence") or []
        uid = str(refs[0].get("SeriesInstanceUID", "")) if refs else ""
    except RadprepError:
        pass  # a NIfTI/NRRD label file
    if uid:
        hits = [s for s in series if s.series_instance_uid == uid]
        return (
            (hits[0], "")
            if hits
            else (
                None,
                "its ReferencedSeriesSequence (0008,1115) names no series found under the inputs",
            )
        )
    hits = [s for s in series if s.key in mask.name or s.series_instance_uid in mask.name]
    if len(hits) == 1:
        return hits[0], ""
    if len(series) == 1:
        return series[0], ""
    return None, (
        f"{len(series)} series found and the file name names none of them; name the label file "
        "after the series key (e.g. CT_s2_1a2b3c4d.nii.gz) or its SeriesInstanceUID"
    )


def _mask_labels(mask: Path, shape: tuple[int, ...], geometry: Geometry) -> np.ndarray:
    """A mask file on a volume's grid: SEG segments as their numbers, label files as they are."""
    from radprep.io.seg import label_file_to_grid, read_seg, seg_to_grid

    low = mask.name.lower()
    if low.endswith((".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")):
        return label_file_to_grid(mask, shape, geometry)
    segments = read_seg(mask)
    masks = seg_to_grid(mask, shape, geometry)
    dtype = np.uint8 if max((s.number for s in segments), default=0) < 256 else np.uint16
    out = np.zeros(shape, dtype=dtype)
    for seg in segments:
        out[masks[seg.name]] = seg.number
    return out


def _left_out(path: Path, *, explicit: bool) -> tuple[str, str, str]:
    """Why a file is in no series: ``(status, reason, error class)``.

    Files that are not DICOM, objects without pixels and objects that are not images of a
    volume (SEG, RT, SR...) are skipped (a file named explicitly fails); a file whose header
    cannot be read fails with its one-line reason.
    """
    try:
        ds = read_header(path)
    except NotDicomError as e:
        return ("failed", str(e), "NotDicomError") if explicit else ("skipped", "not DICOM", "")
    except RadprepError as e:
        return ("failed", str(e), type(e).__name__)
    reason = "no pixels" if "Rows" not in ds else "not a volume"
    if explicit:
        return ("failed", f"{path}: {reason}: not part of any image series", "InputError")
    return ("skipped", reason, "")


def _check_volume_size(info: SeriesInfo) -> None:
    """Refuse a series whose volume would pass the decoded-size limit, before it is read.

    The volume holds float32 modality values: frames x rows x columns x samples x 4 bytes
    (see :mod:`radprep._limits`).

    Raises
    ------
    SizeLimitError
        Naming the series, its size and the limit.
    """
    ds = read_header(info.paths[0])
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    needed = info.n_frames * rows * cols * samples * 4
    limit = max_decoded_bytes()
    if needed > limit:
        raise SizeLimitError(
            f"{info.n_frames} frame(s) of Rows (0028,0010) {rows} x Columns (0028,0011) {cols} "
            f"x {samples} sample(s) need {format_bytes(needed)} as a float32 volume, past the "
            f"decoded-size limit of {format_bytes(limit)}; raise RADPREP_MAX_DECODED_BYTES if "
            "the series is genuine"
        )


def convert_series(
    inputs: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    fmt: str = "nifti",
    masks: Iterable[str | os.PathLike[str]] = (),
    volumes: str = "4d",
    strict: bool = False,
    on_item: Callable[[Path, str], None] | None = None,
) -> ConvertResult:
    """Write one volume per DICOM series found under `inputs`, named without patient data.

    Each series becomes ``<out>/<key><suffix>`` (:func:`radprep.io.series.series_key`:
    modality, series number, a hash of the SeriesInstanceUID). Each mask file (a DICOM SEG,
    attached to the series it references; or a NIfTI/NRRD label file, attached to the series
    its name names, or to the only series) is brought onto its series' grid and written as
    ``<key>__mask<n><suffix>`` (SEG segments as their SegmentNumber); with masks, a
    ``radiomics_pairs.csv`` lists the pairs for pyradiomics' batch mode.

    A 4D series (time points, echoes, b-values; Siemens mosaics included) is written as one
    4D file, or with ``volumes="split"`` as one 3D file per volume, ``<key>_v0000<suffix>``...;
    masks are placed on the grid of one volume.

    Parameters
    ----------
    fmt : {"nifti", "nrrd"}
    volumes : {"4d", "split"}
    strict : bool
        Treat a data quirk of a series (missing slices, tilt...) as its failure.
    """
    from radprep.export.nifti import RadiomicsPair, write_image, write_pairs_csv
    from radprep.io.series import find_series, load_series, volume_geometry

    check_choice(fmt, VOLUME_FORMATS, name="format")
    check_choice(volumes, VOLUME_LAYOUTS, name="volumes")
    out = Path(out_dir)
    suffix = _VOLUME_SUFFIX[fmt]
    result = ConvertResult()
    acc = result.accounting
    met: list[tuple[Path, bool]] = []  # every file found, in order, and whether met before
    files: list[Path] = []
    explicit: set[str] = set()
    for p, _, named in iter_inputs(inputs, exclude=out):
        duplicate = acc.seen(p)
        met.append((p, duplicate))
        if not duplicate:
            files.append(p)
            if named:
                explicit.add(str(p))
    series = find_series(files)
    in_series = {p for info in series for p in info.paths}
    fates: dict[str, tuple[str, str, str]] = {}  # file -> (status, reason, error class)
    for p in files:
        if str(p) not in in_series:
            fates[str(p)] = fate = _left_out(p, explicit=str(p) in explicit)
            if fate[0] == "failed":
                result.failures.append((str(p), fate[2], fate[1]))
    by_series: dict[str, list[Path]] = {}
    for m in (Path(p) for p in masks):
        target, why = _mask_target(m, series)
        if target is None:
            result.failures.append((str(m), "InputError", f"{m}: mask not placed: {why}"))
            continue
        by_series.setdefault(target.series_instance_uid, []).append(m)
    pairs = []
    for info in series:
        where = Path(info.paths[0]).parent
        status = "ok"
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("ignore")
                warnings.simplefilter("error" if strict else "always", RadprepWarning)
                _check_volume_size(info)
                image = load_series(info.paths, series_instance_uid=info.series_instance_uid).image
                grid = volume_geometry(image.geometry)
                if image.pixels.ndim == 4 and volumes == "split":
                    for v, pixels in enumerate(image.pixels):
                        vpath = out / f"{info.key}_v{v:04d}{suffix}"
                        result.written.append(write_image(vpath, pixels, grid))
                    vpath = out / f"{info.key}_v0000{suffix}"
                else:
                    vpath = out / f"{info.key}{suffix}"
                    result.written.append(write_image(vpath, image.pixels, image.geometry))
                shape3 = tuple(image.pixels.shape[-3:])
                for n, m in enumerate(by_series.get(info.series_instance_uid, []), start=1):
                    labels = _mask_labels(m, shape3, grid)
                    mpath = out / f"{info.key}__mask{n}{suffix}"
                    result.written.append(write_image(mpath, labels, grid))
                    pairs.append(
                        RadiomicsPair(str(vpath), str(mpath), None, f"{info.key}__mask{n}")
                    )
            result.converted += 1
            result.warnings.extend((info.key, str(w.message)) for w in caught)
        except RadprepWarning as e:
            result.failures.append((info.key, "RadprepWarning", f"{info.key}: {e} (--strict)"))
            status = "failed"
        except RadprepError as e:
            result.failures.append((info.key, type(e).__name__, f"{info.key}: {e}"))
            status = "failed"
        for member in info.paths:  # a series is done or fails as a whole, with all its files
            if status == "ok":
                fates[member] = ("done", "", "")
            else:
                _, error, message = result.failures[-1]
                fates[member] = ("failed", f"{member}: in series {message}", error)
        if on_item is not None:
            on_item(where, status)
    for p, duplicate in met:
        status, reason, error = ("skipped", "duplicate", "") if duplicate else fates[str(p)]
        if status == "done":
            acc.done(p)
        elif status == "failed":
            acc.failed(p, reason, error)
        else:
            acc.skipped(p, reason)
    if pairs:
        result.written.append(
            write_pairs_csv(pairs, out / "radiomics_pairs.csv", relative_to=str(out))
        )
    return result
