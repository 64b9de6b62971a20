"""NIfTI (.nii.gz) and NRRD (.nrrd) with their geometry, and the radiomics pairs CSV.

Images go through :func:`radprep.spatial.itk.to_sitk` (the one place where radprep's axis order
meets ITK's) and SimpleITK's writers, which store spacing, origin and direction: NIfTI in RAS
(SimpleITK flips ITK's LPS on writing and back on reading), NRRD in LPS (``space: left-posterior-
superior``). A trailing channel axis becomes a vector image. Bytes are the same on every run
(SimpleITK writes no time stamp), so resumed and distributed runs write identical files.

pyradiomics' batch mode reads a CSV with columns ``Image`` and ``Mask`` (and optionally
``Label``, the mask value to use); :func:`write_pairs_csv` writes one, and
:func:`pairs_from_manifest` finds the pairs a recipe run wrote.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radprep._lazy import sitk
from radprep.errors import InputError, OutputError
from radprep.geometry import Geometry
from radprep.io.write import atomic_write_bytes
from radprep.spatial.itk import to_sitk

__all__ = [
    "RadiomicsPair",
    "encode_nifti",
    "encode_nrrd",
    "pairs_from_manifest",
    "write_image",
    "write_pairs_csv",
    "write_pairs_for_run",
]

_SUFFIXES = {".nii.gz": "nifti", ".nii": "nifti", ".nrrd": "nrrd"}


def _default_geometry(array: np.ndarray) -> Geometry:
    spatial = 3 if array.ndim >= 3 else 2
    return Geometry.pixels(spatial)


def _encode(array: np.ndarray, geometry: Geometry | None, suffix: str) -> bytes:
    geo = geometry if geometry is not None else _default_geometry(array)
    arr = np.asarray(array)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    img = to_sitk(arr, geo)
    with tempfile.TemporaryDirectory(prefix="radprep-") as tmp:
        path = os.path.join(tmp, "image" + suffix)
        try:
            sitk.WriteImage(img, path, useCompression=True)
        except RuntimeError as e:
            last = str(e).strip().splitlines()[-1] if str(e).strip() else "write failed"
            raise OutputError(f"SimpleITK cannot write {suffix} ({last[:200]})") from None
        return Path(path).read_bytes()


def encode_nifti(array: np.ndarray, geometry: Geometry | None = None) -> bytes:
    """Return a gzipped NIfTI-1 file of `array` placed by `geometry` (pixel units without one)."""
    return _encode(array, geometry, ".nii.gz")


def encode_nrrd(array: np.ndarray, geometry: Geometry | None = None) -> bytes:
    """Return a gzip-encoded NRRD file of `array` placed by `geometry`."""
    return _encode(array, geometry, ".nrrd")


def write_image(
    path: str | os.PathLike[str], array: np.ndarray, geometry: Geometry | None = None
) -> Path:
    """Write `array` with its geometry atomically as NIfTI or NRRD, chosen by the suffix.

    Raises
    ------
    OutputError
        If the suffix is not ``.nii.gz``, ``.nii`` or ``.nrrd``, or writing fails.
    """
    p = Path(path)
    name = p.name.lower()
    suffix = next((s for s in _SUFFIXES if name.endswith(s)), None)
    if suffix is None:
        raise OutputError(f"{p}: name it .nii.gz, .nii or .nrrd to choose NIfTI or NRRD")
    data = encode_nrrd(array, geometry) if suffix == ".nrrd" else _encode(array, geometry, suffix)
    return atomic_write_bytes(p, data)


@dataclass(frozen=True)
class RadiomicsPair:
    """One image and its mask for pyradiomics, with the mask value that marks the ROI."""

    image: str
    mask: str
    label: int | None = None
    id: str = ""


def write_pairs_csv(
    pairs: Iterable[RadiomicsPair], path: str | os.PathLike[str], *, relative_to: str | None = None
) -> Path:
    """Write the CSV pyradiomics' batch mode reads: ``ID,Image,Mask[,Label]``.

    Parameters
    ----------
    pairs : iterable of RadiomicsPair
        In the order to list them.
    path : path
        The CSV file (written atomically).
    relative_to : str, optional
        Write paths relative to this folder (pyradiomics resolves them from its working
        folder); absolute paths by default.
    """
    rows = list(pairs)
    with_label = any(p.label is not None for p in rows)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["ID", "Image", "Mask", *(["Label"] if with_label else [])])

    def where(p: str) -> str:
        if relative_to is None:
            return str(Path(p).resolve())
        return os.path.relpath(Path(p).resolve(), Path(relative_to).resolve())

    for i, p in enumerate(rows):
        label = [] if not with_label else ["" if p.label is None else str(p.label)]
        writer.writerow([p.id or str(i), where(p.image), where(p.mask), *label])
    return atomic_write_bytes(path, buf.getvalue().encode())


def pairs_from_manifest(
    manifest: str | os.PathLike[str],
    *,
    image_output: str = "image",
    mask_output: str = "mask",
    label: int | None = 255,
) -> list[RadiomicsPair]:
    """Return the image+mask pairs a recipe run wrote, from its ``manifest.parquet``.

    Parameters
    ----------
    manifest : path
        The run's manifest; paths in it are relative to its folder.
    image_output, mask_output : str
        The output names that wrote the images and the masks.
    label : int or None
        The mask value of the ROI: recipe outputs write masks as 0/255.

    Raises
    ------
    InputError
        If either output is absent from the manifest.
    """
    import pyarrow.parquet as pq

    mpath = Path(manifest)
    table = pq.read_table(mpath, columns=["sample_id", "output", "path"]).to_pylist()
    outputs = {r["output"] for r in table}
    for name in (image_output, mask_output):
        if name not in outputs:
            raise InputError(
                f"{mpath}: no output {name!r} in the manifest (outputs: "
                f"{', '.join(sorted(outputs)) or 'none'}); name the image and mask outputs"
            )
    by_id: dict[str, dict[str, str]] = {}
    for r in table:
        by_id.setdefault(r["sample_id"], {})[r["output"]] = str(mpath.parent / r["path"])
    return [
        RadiomicsPair(paths[image_output], paths[mask_output], label, sample_id)
        for sample_id, paths in sorted(by_id.items())
        if image_output in paths and mask_output in paths
    ]


def write_pairs_for_run(
    out_dir: str | os.PathLike[str],
    *,
    image_output: str = "image",
    mask_output: str = "mask",
    name: str = "radiomics_pairs.csv",
    label: int | None = 255,
) -> Path:
    """Write ``<out_dir>/<name>`` for a finished run's image and mask outputs (relative paths)."""
    out = Path(out_dir)
    pairs = pairs_from_manifest(
        out / "manifest.parquet", image_output=image_output, mask_output=mask_output, label=label
    )
    return write_pairs_csv(pairs, out / name, relative_to=str(out))
