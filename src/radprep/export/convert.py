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

from radprep.errors import InputError, NoPixelDataError, NotDicomError, RadprepError, RadprepWarning
from radprep.export.png import FORMATS, suffix_for, write_array
from radprep.intensity.window import VOI
from radprep.io.dicom import Frames, read_dicom
from radprep.types import OutputFormat

__all__ = ["ConvertResult", "convert", "convert_file", "iter_inputs"]


@dataclass
class ConvertResult:
    """What a conversion did: files written, inputs that failed, inputs skipped."""

    written: list[Path] = field(default_factory=list)
    converted: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)

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
    for path, stem, explicit in iter_inputs(inputs, exclude=out):
        status = "ok"
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("ignore")
                warnings.simplefilter("error" if strict else "always", RadprepWarning)
                result.written.extend(
                    convert_file(path, out / stem, fmt=fmt, voi=voi, frames=frames)
                )
            result.converted += 1
            result.warnings.extend((str(path), str(w.message)) for w in caught)
        except RadprepWarning as e:
            result.failures.append((str(path), "RadprepWarning", f"{path}: {e} (--strict)"))
            status = "failed"
        except (NotDicomError, NoPixelDataError) as e:
            if explicit:
                result.failures.append((str(path), type(e).__name__, str(e)))
                status = "failed"
            else:
                result.skipped.append((str(path), type(e).__name__))
                status = "skipped"
        except (RadprepError, InputError) as e:
            result.failures.append((str(path), type(e).__name__, str(e)))
            status = "failed"
        if on_item is not None:
            on_item(path, status)
    return result
