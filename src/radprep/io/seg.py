"""Masks from DICOM SEG objects and from NIfTI/NRRD label files, brought onto an image's grid.

A DICOM Segmentation (PS3.3 A.51, C.8.20) stores each segment as frames, each frame placed by its
functional groups (PlanePositionSequence, PlaneOrientationSequence, PixelMeasuresSequence) and
tied to its segment by SegmentIdentificationSequence > ReferencedSegmentNumber (0062,000B).
Frames are read with pydicom (BINARY frames come unpacked to 0/1; FRACTIONAL ones are thresholded
at half of MaximumFractionalValue), stacked along their normal into the SEG's own volume, and
resampled by nearest neighbour onto the target grid with SimpleITK. A label file (NIfTI ``.nii``
/ ``.nii.gz``, NRRD ``.nrrd`` / ``.nhdr``, anything SimpleITK reads) goes the same way. highdicom
would read the frames just as well; pydicom alone keeps the dependency list short.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pydicom

from radprep._dicom import functional_group_value
from radprep._lazy import sitk
from radprep.errors import InputError, NotDicomError, RadprepWarning
from radprep.geometry import Geometry
from radprep.roi.mask import frames_to_slices
from radprep.spatial.itk import from_sitk
from radprep.spatial.resample import resample_to_grid

__all__ = ["SegSegment", "label_file_to_grid", "read_label_file", "read_seg", "seg_to_grid"]

PathLike = str | os.PathLike[str]
_SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


@dataclass(frozen=True, eq=False)
class SegSegment:
    """One segment of a DICOM SEG on the SEG's own grid.

    Attributes
    ----------
    number : int
        SegmentNumber (0062,0004).
    label : str
        SegmentLabel (0062,0005).
    name : str
        `label` made safe for a mask or file name (lower case, ``_`` for other characters).
    mask : ndarray of bool
        ``(slices, rows, cols)`` on `geometry`.
    geometry : Geometry
    """

    number: int
    label: str
    name: str
    mask: np.ndarray
    geometry: Geometry


def _safe_name(label: str, number: int) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", label.strip().lower()).strip("_")
    return name or f"segment_{number}"


_fg = functional_group_value


def _floats(value: Any, n: int, what: str, where: str) -> np.ndarray:
    try:
        arr = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.zeros(0)
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise InputError(f"{where}: {what} is missing or not {n} numbers; the SEG cannot be placed")
    return arr


def _read_seg_dataset(path: PathLike) -> pydicom.Dataset:
    """Read `path`, checking that it is a DICOM Segmentation."""
    where = os.fspath(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ds = pydicom.dcmread(path)
    except pydicom.errors.InvalidDicomError:
        raise NotDicomError(f"{where}: not a DICOM file; a DICOM SEG was expected") from None
    if str(ds.get("SOPClassUID", "")) != _SEG_CLASS:
        raise InputError(
            f"{where}: SOPClassUID (0008,0016) is {ds.get('SOPClassUID', 'missing')}, not "
            "Segmentation Storage; give a DICOM SEG, or a NIfTI/NRRD label file"
        )
    return ds


def _seg_frames(ds: pydicom.Dataset) -> np.ndarray:
    """Return the SEG's frames as bool ``(frames, rows, cols)`` (FRACTIONAL cut at half)."""
    frames = ds.pixel_array
    if frames.ndim == 2:
        frames = frames[None]
    if str(ds.get("SegmentationType", "BINARY")).upper() == "FRACTIONAL":
        top = float(ds.get("MaximumFractionalValue", 255) or 255)
        return frames >= top / 2.0
    return frames != 0


def _slice_step(ds: pydicom.Dataset, planes: np.ndarray) -> float:
    """The distance between slices: from the frames, else the header, else 1 mm."""
    between = _fg(ds, "PixelMeasuresSequence", "SpacingBetweenSlices", 0)
    thickness = _fg(ds, "PixelMeasuresSequence", "SliceThickness", 0)
    if len(planes) > 1:
        return float(np.min(np.diff(planes)))
    if between not in (None, "") and float(between) > 0:
        return float(between)
    if thickness not in (None, "") and float(thickness) > 0:
        return float(thickness)
    return 1.0


def _seg_grid(ds: pydicom.Dataset, n_frames: int, where: str) -> tuple[Geometry, list[int], int]:
    """Place the frames: the SEG's geometry, each frame's slice index and the slice count.

    Raises
    ------
    InputError
        If a frame has no position, orientation or spacing, or frames do not share one grid.
    """
    ori = _floats(
        _fg(ds, "PlaneOrientationSequence", "ImageOrientationPatient", 0),
        6,
        "ImageOrientationPatient (0020,0037)",
        where,
    )
    row_cos = ori[:3] / np.linalg.norm(ori[:3])
    col_cos = ori[3:] / np.linalg.norm(ori[3:])
    normal = np.cross(row_cos, col_cos)
    normal /= np.linalg.norm(normal)
    ps = _floats(
        _fg(ds, "PixelMeasuresSequence", "PixelSpacing", 0), 2, "PixelSpacing (0028,0030)", where
    )
    positions = np.stack(
        [
            _floats(
                _fg(ds, "PlanePositionSequence", "ImagePositionPatient", f),
                3,
                f"ImagePositionPatient (0020,0032) of frame {f}",
                where,
            )
            for f in range(n_frames)
        ]
    )
    dist = positions @ normal
    dz = _slice_step(ds, np.unique(np.round(dist, 3)))
    first = int(np.argmin(dist))
    origin = positions[first]
    # Every frame must share the in-plane grid of the first: only its distance may differ.
    for f in range(n_frames):
        rel = positions[f] - origin
        off = (float(rel @ col_cos) / ps[0], float(rel @ row_cos) / ps[1])
        if max(abs(off[0]), abs(off[1])) > 1e-3:
            raise InputError(
                f"{where}: frame {f} is shifted in-plane by {off} pixels from frame {first} "
                "(ImagePositionPatient (0020,0032)); SEGs whose frames do not share one grid are "
                "not supported"
            )
    geometry = Geometry(
        spacing=(dz, float(ps[0]), float(ps[1])),
        origin=tuple(float(v) for v in origin),
        direction=tuple(np.column_stack([normal, col_cos, row_cos]).ravel()),
        spacing_source="PixelSpacing",
    )
    slice_of = [round((float(d) - float(dist.min())) / dz) for d in dist]
    return geometry, slice_of, round((float(dist.max()) - float(dist.min())) / dz) + 1


def read_seg(path: PathLike) -> list[SegSegment]:
    """Read every segment of a DICOM SEG as a mask on the SEG's own grid.

    Raises
    ------
    NotDicomError
        If the file is not DICOM.
    InputError
        If it is not a Segmentation (SOPClassUID (0008,0016) 1.2.840.10008.5.1.4.1.1.66.4), or
        a frame has no position, orientation or pixel spacing.
    """
    ds = _read_seg_dataset(path)
    frames = _seg_frames(ds)
    n_frames = int(ds.get("NumberOfFrames") or 1)
    geometry, slice_of, n_slices = _seg_grid(ds, n_frames, os.fspath(path))
    seg_of = []
    for f in range(n_frames):
        ident = _fg(ds, "SegmentIdentificationSequence", "ReferencedSegmentNumber", f)
        seg_of.append(int(ident) if ident is not None else 1)
    info = {
        int(item.SegmentNumber): str(item.get("SegmentLabel", ""))
        for item in ds.get("SegmentSequence", [])
    }
    numbers = sorted(set(seg_of) | set(info))
    masks = frames_to_slices(frames, slice_of, seg_of, numbers, n_slices=n_slices)
    out = []
    used: set[str] = set()
    for number in numbers:
        label = info.get(number, "")
        name = _safe_name(label, number)
        if name in used:
            name = f"{name}_{number}"
        used.add(name)
        out.append(SegSegment(number, label, name, masks[number], geometry))
    return out


def seg_to_grid(
    path: PathLike,
    /,
    shape: Sequence[int],
    geometry: Geometry,
    *,
    segments: Sequence[int | str] | None = None,
) -> dict[str, np.ndarray]:
    """Return a DICOM SEG's segments as bool masks on an image's grid.

    Parameters
    ----------
    path : str or PathLike
        The SEG file.
    shape : sequence of int
        The image's spatial shape ``(slices, rows, cols)``.
    geometry : Geometry
        The image's geometry (from :func:`radprep.io.series.read_series`).
    segments : sequence of int or str, optional
        Which segments (SegmentNumber or name); all by default.

    Returns
    -------
    dict of str to ndarray
        Segment name -> bool mask ``shape``; a segment falling wholly outside the grid warns.
    """
    out = {}
    chosen = list(read_seg(path))
    if segments is not None:
        wanted = {str(s) for s in segments}
        chosen = [s for s in chosen if str(s.number) in wanted or s.name in wanted]
        if not chosen:
            raise InputError(f"{os.fspath(path)}: no segment among {sorted(wanted)}")
    for seg in chosen:
        mask = resample_to_grid(
            seg.mask.view(np.uint8), seg.geometry, shape, geometry, interpolation="nearest"
        ).astype(bool)
        if seg.mask.any() and not mask.any():
            warnings.warn(
                f"{os.fspath(path)}: segment {seg.number} ({seg.label or 'no label'}) falls "
                "outside the image's grid (do both share a FrameOfReferenceUID (0020,0052)?)",
                RadprepWarning,
                stacklevel=2,
            )
        out[seg.name] = mask
    return out


def read_label_file(path: PathLike) -> tuple[np.ndarray, Geometry]:
    """Read a NIfTI or NRRD (any SimpleITK format) label image: array and geometry.

    Raises
    ------
    InputError
        If SimpleITK cannot read it.
    """
    try:
        img = sitk.ReadImage(os.fspath(path))
    except RuntimeError as e:
        first = str(e).strip().splitlines()[-1] if str(e).strip() else "unreadable"
        raise InputError(
            f"{os.fspath(path)}: not a label image SimpleITK can read ({first[:200]})"
        ) from None
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"{os.fspath(path)}: a label image has one value per voxel, not vectors")
    return from_sitk(img)


def label_file_to_grid(
    path: PathLike,
    /,
    shape: Sequence[int],
    geometry: Geometry,
) -> np.ndarray:
    """Return a label file's labels on an image's grid (nearest neighbour, 0 outside it).

    Returns
    -------
    ndarray
        Integer labels, ``shape``; the file's integer type (uint8 for 0/1 masks).
    """
    labels, label_geo = read_label_file(path)
    if labels.ndim != geometry.ndim:
        raise InputError(
            f"{os.fspath(path)}: a {labels.ndim}D label image cannot go onto a "
            f"{geometry.ndim}D image grid"
        )
    if labels.dtype.kind == "f":
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise InputError(f"{os.fspath(path)}: label values are not whole numbers")
        labels = labels.astype(np.int32)
    out = resample_to_grid(labels, label_geo, shape, geometry, interpolation="nearest")
    if labels.any() and not out.any():
        warnings.warn(
            f"{os.fspath(path)}: no label falls on the image's grid; check that both images "
            "share one patient frame",
            RadprepWarning,
            stacklevel=2,
        )
    return out
