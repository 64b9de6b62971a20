"""DICOM to PNG or NPY per file, and series to NIfTI/NRRD volumes: one unit of each.

The batch around them (planning, resume, workers, accounting) is :mod:`radprep.jobs.convert`,
on the batch engine.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from radprep._limits import format_bytes, max_decoded_bytes
from radprep._validate import check_choice
from radprep.errors import (
    NotDicomError,
    RadprepError,
    SizeLimitError,
)
from radprep.export.png import FORMATS, suffix_for, write_array
from radprep.geometry import Geometry
from radprep.intensity.window import VOI
from radprep.io.dicom import Frames, read_dicom, read_header
from radprep.io.series import SeriesInfo
from radprep.types import OutputFormat

__all__ = [
    "VOLUME_FORMATS",
    "VOLUME_LAYOUTS",
    "convert_file",
    "convert_one_series",
    "iter_inputs",
    "left_out",
    "plan_series",
]

VOLUME_FORMATS = ("nifti", "nrrd")
VOLUME_LAYOUTS = ("4d", "split")
_VOLUME_SUFFIX = {"nifti": ".nii.gz", "nrrd": ".nrrd"}


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


def left_out(path: Path, *, explicit: bool) -> tuple[str, str, str]:
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


def plan_series(
    files: Sequence[Path], masks: Iterable[str | os.PathLike[str]]
) -> tuple[list[SeriesInfo], dict[str, list[Path]], list[tuple[str, str, str]]]:
    """The series among `files`, the mask files placed on each (by SeriesInstanceUID), and
    the masks that fit no series: ``(mask, error class, message)``."""
    from radprep.io.series import find_series

    series = find_series(files)
    by_series: dict[str, list[Path]] = {}
    unplaced: list[tuple[str, str, str]] = []
    for m in (Path(p) for p in masks):
        target, why = _mask_target(m, series)
        if target is None:
            unplaced.append((str(m), "InputError", f"{m}: mask not placed: {why}"))
            continue
        by_series.setdefault(target.series_instance_uid, []).append(m)
    return series, by_series, unplaced


def convert_one_series(
    info: SeriesInfo,
    masks: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    fmt: str = "nifti",
    volumes: str = "4d",
) -> tuple[list[Path], list[tuple[str, str, str]]]:
    """Write one series as a volume named without patient data, and its masks on its grid.

    The series becomes ``<out>/<key><suffix>`` (:func:`radprep.io.series.series_key`:
    modality, series number, a hash of the SeriesInstanceUID). Each mask file (a DICOM SEG,
    or a NIfTI/NRRD label file) is brought onto the series' grid and written as
    ``<key>__mask<n><suffix>`` (SEG segments as their SegmentNumber). A 4D series (time
    points, echoes, b-values; Siemens mosaics included) is one 4D file, or with
    ``volumes="split"`` one 3D file per volume, ``<key>_v0000<suffix>``...; masks are placed
    on the grid of one volume.

    Returns
    -------
    written : list of Path
    pairs : list of (image, mask, label)
        The image+mask pairs for pyradiomics' batch mode.

    Raises
    ------
    RadprepError
        For a series that cannot be read or is past the decoded-size limit.
    """
    from radprep.export.nifti import write_image
    from radprep.io.series import load_series, volume_geometry

    check_choice(fmt, VOLUME_FORMATS, name="format")
    check_choice(volumes, VOLUME_LAYOUTS, name="volumes")
    out = Path(out_dir)
    suffix = _VOLUME_SUFFIX[fmt]
    written: list[Path] = []
    _check_volume_size(info)
    image = load_series(info.paths, series_instance_uid=info.series_instance_uid).image
    grid = volume_geometry(image.geometry)
    if image.pixels.ndim == 4 and volumes == "split":
        for v, pixels in enumerate(image.pixels):
            written.append(write_image(out / f"{info.key}_v{v:04d}{suffix}", pixels, grid))
        vpath = out / f"{info.key}_v0000{suffix}"
    else:
        vpath = out / f"{info.key}{suffix}"
        written.append(write_image(vpath, image.pixels, image.geometry))
    shape3 = tuple(image.pixels.shape[-3:])
    pairs = []
    for n, m in enumerate(masks, start=1):
        labels = _mask_labels(Path(m), shape3, grid)
        mpath = out / f"{info.key}__mask{n}{suffix}"
        written.append(write_image(mpath, labels, grid))
        pairs.append((str(vpath), str(mpath), f"{info.key}__mask{n}"))
    return written, pairs
