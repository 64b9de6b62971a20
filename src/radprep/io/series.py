"""DICOM series to volumes: group by SeriesInstanceUID, sort along the slice normal, check, stack.

A series is a set of 2D frames: one per classic single-frame instance, or the frames of enhanced
multi-frame objects, whose positions come from their per-frame (or shared) functional groups
(PS3.3 C.7.6.16: PlanePositionSequence, PlaneOrientationSequence, PixelMeasuresSequence).

The frames are sorted by ``ImagePositionPatient · normal``, the normal being the cross product of
the two ImageOrientationPatient (0020,0037) cosines, and the volume's geometry is exact in the
radprep convention for ``(slices, rows, cols)`` arrays:

- spacing ``(slice, row, col)``: the distance between slice planes along the normal, then
  PixelSpacing (0028,0030) as given (row spacing first);
- origin: the ImagePositionPatient (0020,0032) of the first sorted slice;
- direction: columns ``(normal, column cosine, row cosine)`` - array axis 1 (rows) advances along
  the second IOP triplet, axis 2 (cols) along the first.

What is checked, and reported (a :class:`SeriesReport`, and a :class:`RadprepWarning` per issue):
frames of other sizes or orientations mixed in (the largest consistent group is kept), repeated
positions, missing slices and uneven spacing (kept as read, resampled onto a regular grid, or an
error: ``irregular=``), and gantry tilt (slices shifted in-plane as they advance: resampled onto
an orthogonal grid, as dcm2niix does, or kept as a sheared geometry: ``tilt=``).

Several frames at every position make a 4D series (fMRI time points, echoes, b-values): the
frames of one position are ordered by TemporalPositionIndex / TemporalPositionIdentifier,
EchoNumbers, AcquisitionNumber and InstanceNumber, and the volume is ``(volumes, slices, rows,
cols)`` with a 4-axis geometry whose axis 0 is the volume axis (RepetitionTime in seconds for a
time series, 1 otherwise). Siemens mosaics are un-tiled into their slices first
(:mod:`radprep.io.mosaic`), each placed at its own position; :mod:`radprep.io.frames` reads
the frames and groups them into volumes.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydicom.dataset import Dataset

from radprep._validate import check_choice
from radprep.errors import InputError, RadprepError, RadprepWarning, SpecError
from radprep.geometry import Geometry
from radprep.image import AppliedStep, Image
from radprep.io.dicom import read_header
from radprep.io.frames import (
    POS_TOL_MM,
    Frame,
    decode_frames,
    drop_duplicates,
    fallback_dz,
    frames_of,
    int_or_none,
    keep_consistent,
    number,
    split_volumes,
)

__all__ = [
    "IRREGULAR_POLICIES",
    "TILT_POLICIES",
    "SeriesInfo",
    "SeriesReport",
    "SeriesVolume",
    "find_series",
    "load_series",
    "read_series",
    "series_key",
    "series_slice_count",
    "volume_geometry",
]

Irregular = Literal["warn", "resample", "error"]
Tilt = Literal["resample", "keep", "error"]
IRREGULAR_POLICIES: tuple[Irregular, ...] = ("warn", "resample", "error")
TILT_POLICIES: tuple[Tilt, ...] = ("resample", "keep", "error")

# Objects that carry no image volume even when they carry pixel data.
_NOT_VOLUMES = {"SEG", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "SR", "PR", "KO", "DOC", "REG"}
_TILT_MIN_DEG = 0.01  # below this, an in-plane drift is rounding in the DS strings


@dataclass(frozen=True)
class SeriesInfo:
    """One series found under a folder: what it is and which files hold it (no patient data).

    Attributes
    ----------
    series_instance_uid : str
    study_instance_uid : str
    modality : str
    series_number : int or None
    paths : tuple of str
        The files of the series, sorted.
    n_frames : int
        Frames over all its files.
    patient_id : str
        For patient-level splits only; never used in names.
    """

    series_instance_uid: str
    study_instance_uid: str = ""
    modality: str = ""
    series_number: int | None = None
    paths: tuple[str, ...] = ()
    n_frames: int = 0
    patient_id: str = ""

    @property
    def key(self) -> str:
        """A file-name-safe name without patient data: see :func:`series_key`."""
        return series_key(self.series_instance_uid, self.modality, self.series_number)


def series_key(uid: str, modality: str = "", series_number: int | None = None) -> str:
    """Return a name for a series without patient data: ``<modality>_<number>_<hash8>``.

    The hash is the first 8 hex digits of SHA-256 of the SeriesInstanceUID, so two series with
    the same number never collide and the UID itself (which may be traced back) is not shown.
    """
    digest = hashlib.sha256(uid.encode()).hexdigest()[:8]
    parts = [
        p
        for p in (
            (modality or "").strip().upper(),
            "" if series_number is None else f"s{int(series_number)}",
        )
        if p
    ]
    clean = "".join(c if c.isalnum() or c in "-_" else "_" for c in "_".join(parts))
    return f"{clean}_{digest}" if clean else digest


@dataclass(frozen=True)
class SeriesReport:
    """What assembling a series found and did.

    Attributes
    ----------
    series_instance_uid : str
    n_slices : int
        Slices in the volume as read (before any resampling).
    n_dropped : int
        Frames left out: other sizes or orientations, repeated positions.
    missing_slices : int
        Slices missing from gaps in the positions (a gap of k spacings counts k - 1).
    slice_spacings : (float, float)
        The smallest and largest distance between neighbouring slices, mm.
    gantry_tilt_deg : float
        Angle between the slice stacking direction and the slice normal.
    resampled : bool
        True when the volume was interpolated onto a regular, orthogonal grid.
    issues : tuple of str
        One sentence per problem, as warned.
    n_volumes : int
        Volumes in the series (time points, echoes, b-values); 1 for a plain 3D series.
    volume_axis : str
        What the volumes step through: ``"time"``, ``"echo"`` or ``"b-value"``; ``""`` for 3D.
    """

    series_instance_uid: str = ""
    n_slices: int = 0
    n_dropped: int = 0
    missing_slices: int = 0
    slice_spacings: tuple[float, float] = (0.0, 0.0)
    gantry_tilt_deg: float = 0.0
    resampled: bool = False
    issues: tuple[str, ...] = ()
    n_volumes: int = 1
    volume_axis: str = ""

    @property
    def ok(self) -> bool:
        """True when nothing was wrong."""
        return not self.issues

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description."""
        return {
            "series_instance_uid": self.series_instance_uid,
            "n_slices": self.n_slices,
            "n_dropped": self.n_dropped,
            "missing_slices": self.missing_slices,
            "slice_spacings": list(self.slice_spacings),
            "gantry_tilt_deg": self.gantry_tilt_deg,
            "resampled": self.resampled,
            "issues": list(self.issues),
            "n_volumes": self.n_volumes,
            "volume_axis": self.volume_axis,
        }


@dataclass(frozen=True, eq=False)
class SeriesVolume:
    """A series read as a volume, with the report of what was found."""

    image: Image
    report: SeriesReport


# -- finding series ---------------------------------------------------------------------------


def _files(source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    items = [Path(source)] if isinstance(source, (str, os.PathLike)) else [Path(p) for p in source]
    out: list[Path] = []
    for item in items:
        if item.is_dir():
            for root, dirs, files in os.walk(item):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                out.extend(Path(root) / f for f in sorted(files) if not f.startswith("."))
        elif item.exists():
            out.append(item)
        else:
            raise InputError(f"{item}: no such file or folder")
    return out


def _headers(paths: Sequence[Path]) -> list[tuple[Path, Dataset]]:
    out = []
    for p in paths:
        try:
            ds = read_header(p)
        except RadprepError:
            continue  # not DICOM, or unreadable: not part of any series
        if "Rows" not in ds or str(ds.get("Modality", "")).upper() in _NOT_VOLUMES:
            continue
        out.append((p, ds))
    return out


def find_series(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> list[SeriesInfo]:
    """Return the image series under a folder (or among files), grouped by SeriesInstanceUID.

    Files that are not DICOM, and objects that are not images of a volume (SEG, RT, SR,
    presentation states), are left out. Series are sorted by (modality, series number, UID).
    """
    groups: dict[str, list[tuple[Path, Dataset]]] = {}
    for path, ds in _headers(_files(source)):
        groups.setdefault(str(ds.get("SeriesInstanceUID", "") or ""), []).append((path, ds))
    out = []
    for uid, members in groups.items():
        first = members[0][1]
        out.append(
            SeriesInfo(
                series_instance_uid=uid,
                study_instance_uid=str(first.get("StudyInstanceUID", "") or ""),
                modality=str(first.get("Modality", "") or ""),
                series_number=int_or_none(first.get("SeriesNumber")),
                paths=tuple(sorted(str(p) for p, _ in members)),
                n_frames=sum(int(ds.get("NumberOfFrames") or 1) for _, ds in members),
                patient_id=str(first.get("PatientID", "") or ""),
            )
        )
    return sorted(out, key=lambda s: (s.modality, s.series_number or 0, s.series_instance_uid))


# -- frames and their geometry ----------------------------------------------------------------


def _axes(orientation: np.ndarray, where: str, issues: list[str]) -> tuple[np.ndarray, ...]:
    row_cos = orientation[:3] / np.linalg.norm(orientation[:3])
    col_cos = orientation[3:] / np.linalg.norm(orientation[3:])
    if abs(float(row_cos @ col_cos)) > 1e-3:
        issues.append(
            f"{where}: ImageOrientationPatient (0020,0037) cosines are not orthogonal "
            f"(dot product {float(row_cos @ col_cos):.4f}); used as given"
        )
    normal = np.cross(row_cos, col_cos)
    normal /= np.linalg.norm(normal)
    return row_cos, col_cos, normal


def volume_geometry(geometry: Geometry) -> Geometry:
    """Return the 3D geometry of one volume of a 4D series' geometry (axis 0 dropped)."""
    if geometry.ndim != 4:
        return geometry
    m = geometry.matrix[:3, 1:]
    return Geometry(
        spacing=geometry.spacing[1:],
        origin=geometry.origin[:3],
        direction=tuple(m.ravel()),
        unit=geometry.unit,
        spacing_source=geometry.spacing_source,
    )


def _with_volume_axis(geometry: Geometry, spacing: float) -> Geometry:
    """Add a leading volume axis (world axis 4, at 0) to a 3D geometry."""
    m = np.zeros((4, 4))
    m[:3, 1:] = geometry.matrix
    m[3, 0] = 1.0
    return Geometry(
        spacing=(spacing, *geometry.spacing),
        origin=(*geometry.origin, 0.0),
        direction=tuple(m.ravel()),
        unit=geometry.unit,
        spacing_source=geometry.spacing_source,
    )


# -- pixels -----------------------------------------------------------------------------------


def _shift_plane(plane: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """Sample `plane` at (row + dy, col + dx), linear, 0 outside."""
    if abs(dy) < 1e-6 and abs(dx) < 1e-6:
        return plane
    m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], dtype=np.float32)
    return cv2.warpAffine(
        plane,
        m,
        (plane.shape[1], plane.shape[0]),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )


def _regrid(
    volume: np.ndarray,
    positions: np.ndarray,
    dist: np.ndarray,
    *,
    origin: np.ndarray,
    spacing: float,
    n_out: int,
    row_cos: np.ndarray,
    col_cos: np.ndarray,
    pixel_spacing: tuple[float, float],
) -> np.ndarray:
    """Interpolate slices at irregular positions onto planes ``origin + k * spacing * normal``.

    Along the normal: linear between the two neighbouring slices. In the plane: each slice is
    shifted by its offset from the target grid (gantry tilt), linear.
    """
    out = np.zeros((n_out, *volume.shape[1:]), dtype=np.float32)
    d0 = float(dist[0])
    for k in range(n_out):
        t = d0 + k * spacing
        j = int(np.clip(np.searchsorted(dist, t, side="right") - 1, 0, len(dist) - 1))
        j1 = min(j + 1, len(dist) - 1)
        span = float(dist[j1] - dist[j])
        w = 0.0 if span <= 0 else float(np.clip((t - dist[j]) / span, 0.0, 1.0))
        acc = np.zeros(volume.shape[1:], dtype=np.float32)
        for idx, weight in ((j, 1.0 - w), (j1, w)):
            if weight <= 0:
                continue
            rel = origin - positions[idx]
            dy = float(rel @ col_cos) / pixel_spacing[0]
            dx = float(rel @ row_cos) / pixel_spacing[1]
            acc += np.float32(weight) * _shift_plane(volume[idx], dy, dx)
        out[k] = acc
    return out


# -- assembling -------------------------------------------------------------------------------


def _select(
    groups: dict[str, list[tuple[Path, Dataset]]], uid: str | None
) -> tuple[str, list[tuple[Path, Dataset]]]:
    if not groups:
        raise InputError("no DICOM image series found (no file with Rows (0028,0010))")
    if uid is not None:
        if uid not in groups:
            raise SpecError(
                f"series_instance_uid {uid!r} is not among the {len(groups)} series found; "
                "list them with radprep.io.series.find_series"
            )
        return uid, groups[uid]
    if len(groups) > 1:
        raise SpecError(
            f"{len(groups)} series found (SeriesInstanceUID (0020,000E) differs); "
            "give series_instance_uid, or list them with radprep.io.series.find_series"
        )
    return next(iter(groups.items()))


@dataclass
class _Plan:
    """Everything decided from the headers: which frames, in which order, on which grid."""

    uid: str
    frames: list[Frame]
    n_total: int
    geometry: Geometry
    issues: list[str]
    spacings: tuple[float, float]
    missing: int = 0
    tilt_deg: float = 0.0
    regrid: dict[str, Any] | None = None  # _regrid's arguments when resampling
    volumes: list[list[Frame]] = field(default_factory=list)  # frames per volume
    volume_axis: str = ""

    @property
    def n_out(self) -> int:
        return len(self.frames) if self.regrid is None else int(self.regrid["n_out"])


def _plan(members: list[tuple[Path, Dataset]], uid: str, irregular: Irregular, tilt: Tilt) -> _Plan:
    frames = [f for p, ds in members for f in frames_of(p, ds)]
    issues: list[str] = []
    total = len(frames)
    frames = keep_consistent(drop_duplicates(frames, issues), issues)
    first = frames[0]
    where = f"series {series_key(uid, str(first.ds.get('Modality', '')))}"
    located = all(f.position is not None and f.orientation is not None for f in frames)
    if not located:
        frames.sort(key=lambda f: (f.instance, f.path, f.frame or 0))
        dz = fallback_dz(first.ds, first.frame or 0)
        issues.append(
            f"{where}: no ImagePositionPatient (0020,0032) / ImageOrientationPatient (0020,0037) "
            "on every frame; slices stacked in InstanceNumber order with SpacingBetweenSlices or "
            "SliceThickness as the spacing, origin and direction unknown"
        )
        ps0 = first.pixel_spacing or (1.0, 1.0)
        geometry = Geometry(
            spacing=(dz, *ps0),
            unit="mm" if first.pixel_spacing else "px",
            spacing_source="PixelSpacing" if first.pixel_spacing else "none",
        )
        return _Plan(uid, frames, total, geometry, issues, (dz, dz), volumes=[frames])
    assert first.orientation is not None
    row_cos, col_cos, normal = _axes(first.orientation, where, issues)
    frames.sort(key=lambda f: float(f.position @ normal))  # split_volumes orders each plane
    dist = np.asarray([float(f.position @ normal) for f in frames])
    # Several frames at every position: a 4D series (time, echo, b-value).
    volumes, volume_axis = split_volumes(frames, dist, where, issues)
    frames = volumes[0]
    dist = np.asarray([float(f.position @ normal) for f in frames])
    ps_set = {f.pixel_spacing for f in frames}
    if len(ps_set) > 1:
        issues.append(
            f"{where}: PixelSpacing (0028,0030) differs between slices "
            f"({', '.join(sorted(map(str, ps_set)))}); used the first slice's"
        )
    ps = first.pixel_spacing
    if ps is None:
        issues.append(f"{where}: no PixelSpacing (0028,0030); in-plane spacing taken as 1 mm")
    pixel_spacing = ps or (1.0, 1.0)
    positions = np.stack([f.position for f in frames])  # type: ignore[misc]
    n = len(frames)
    if n == 1:
        dz = fallback_dz(first.ds, first.frame or 0)
        spacings = (dz, dz)
        steps = np.zeros(0)
    else:
        steps = np.diff(dist)
        spacings = (float(steps.min()), float(steps.max()))
        dz = float(np.median(steps))
    tol = max(0.01 * dz, POS_TOL_MM)
    gaps = steps > 1.5 * dz
    missing = int(sum(round(s / dz) - 1 for s in steps[gaps])) if n > 1 else 0
    uneven = bool(n > 2 and np.any(np.abs(steps[~gaps] - dz) > tol))
    irregular_found = missing > 0 or uneven
    drift = positions - positions[0]
    in_plane = drift - np.outer(drift @ normal, normal)
    along = float(dist[-1] - dist[0])
    tilt_deg = (
        math.degrees(math.atan2(float(np.linalg.norm(in_plane[-1])), along)) if n > 1 else 0.0
    )
    tilted = tilt_deg > _TILT_MIN_DEG
    if irregular_found:
        what = []
        if missing:
            what.append(f"{missing} slice(s) missing (gaps of up to {spacings[1]:.4g} mm)")
        if uneven:
            what.append(f"uneven spacing ({spacings[0]:.4g} to {spacings[1]:.4g} mm)")
        msg = (
            f"{where}: {' and '.join(what)} along the normal by ImagePositionPatient "
            f"(0020,0032), median {dz:.4g} mm"
        )
        if irregular == "error":
            raise InputError(msg + "; use irregular='resample' or 'warn'")
        done = (
            "resampled onto a regular grid"
            if irregular == "resample"
            else "stacked as read with the median spacing"
        )
        issues.append(f"{msg}; {done}")
    if tilted:
        msg = (
            f"{where}: gantry tilt of {tilt_deg:.3g} degrees (ImagePositionPatient (0020,0032) "
            "drifts in-plane from slice to slice)"
        )
        if tilt == "error":
            raise InputError(msg + "; use tilt='resample' or 'keep'")
        done = (
            "resampled onto an orthogonal grid"
            if tilt == "resample"
            else "kept with a sheared direction (axis 0 along the stacking direction)"
        )
        issues.append(f"{msg}; {done}")
    regrid_z = irregular_found and irregular == "resample"
    regrid_xy = tilted and tilt == "resample"
    origin = positions[0].copy()
    axis0 = normal
    regrid = None
    if regrid_z or regrid_xy:
        if regrid_xy:
            origin = origin + in_plane.mean(axis=0)  # keep the content centred
        spacing0 = dz if regrid_z else along / max(n - 1, 1)
        n_out = round(along / spacing0) + 1
        regrid = {
            "positions": positions,
            "dist": dist,
            "origin": origin,
            "spacing": spacing0,
            "n_out": n_out,
            "row_cos": row_cos,
            "col_cos": col_cos,
            "pixel_spacing": pixel_spacing,
        }
        dz = spacing0
    elif n > 1:
        if tilted and tilt == "keep":
            step = (positions[-1] - positions[0]) / (n - 1)
            dz = float(np.linalg.norm(step))
            axis0 = step / dz
        elif not irregular_found:
            dz = along / (n - 1)
    geometry = Geometry(
        spacing=(dz, *pixel_spacing),
        origin=tuple(float(v) for v in origin),
        direction=tuple(np.column_stack([axis0, col_cos, row_cos]).ravel()),
        spacing_source="PixelSpacing" if ps else "none",
    )
    return _Plan(
        uid,
        frames,
        total,
        geometry,
        issues,
        spacings,
        missing,
        tilt_deg,
        regrid,
        volumes,
        volume_axis,
    )


def _group(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    series_instance_uid: str | None,
) -> tuple[str, list[tuple[Path, Dataset]]]:
    groups: dict[str, list[tuple[Path, Dataset]]] = {}
    for path, ds in _headers(_files(source)):
        groups.setdefault(str(ds.get("SeriesInstanceUID", "") or ""), []).append((path, ds))
    return _select(groups, series_instance_uid)


def series_slice_count(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    /,
    *,
    series_instance_uid: str | None = None,
    irregular: Irregular = "warn",
    tilt: Tilt = "resample",
) -> int:
    """Return how many slices :func:`load_series` would give, from the headers alone."""
    check_choice(irregular, IRREGULAR_POLICIES, name="irregular")
    check_choice(tilt, TILT_POLICIES, name="tilt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RadprepWarning)
        uid, members = _group(source, series_instance_uid)
        return _plan(members, uid, irregular, tilt).n_out


def load_series(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    /,
    *,
    series_instance_uid: str | None = None,
    irregular: Irregular = "warn",
    tilt: Tilt = "resample",
    slice_index: int | None = None,
    volume_index: int | None = None,
) -> SeriesVolume:
    """Assemble one series into a volume and report what was found.

    Parameters
    ----------
    source : path or iterable of paths
        A folder (searched recursively), or files; non-DICOM files are ignored.
    series_instance_uid : str, optional
        Which series, when the source holds several.
    irregular : {"warn", "resample", "error"}
        Missing slices or uneven spacing: stack the slices as read (the spacing is then the
        median and positions between are approximate) with a warning; interpolate linearly
        onto a regular grid at the median spacing; or raise.
    tilt : {"resample", "keep", "error"}
        Gantry tilt (slices shifted in-plane as they advance): interpolate onto an orthogonal
        grid (as dcm2niix does); keep the slices with an exact but sheared direction (axis 0
        along the stacking direction; NIfTI cannot store it); or raise.
    slice_index : int, optional
        Decode only this slice of the volume (a ``(1, rows, cols)`` volume whose geometry is
        the slice's place in the whole); every slice by default.
    volume_index : int, optional
        Of a 4D series (time points, echoes, b-values), read only this volume (a 3D volume);
        every volume by default.

    Returns
    -------
    SeriesVolume
        ``image.pixels`` float32 modality values ``(slices, rows, cols)``, or ``(volumes,
        slices, rows, cols)`` for a 4D series, whose geometry then has 4 axes (axis 0: the
        volume axis, :func:`volume_geometry` gives the spatial one); ``report``.

    Raises
    ------
    InputError
        No image series, a colour series, or an irregular or tilted series under ``"error"``.
    SpecError
        Several series and no `series_instance_uid`, a bad policy name, or a slice or volume
        that does not exist.
    """
    check_choice(irregular, IRREGULAR_POLICIES, name="irregular")
    check_choice(tilt, TILT_POLICIES, name="tilt")
    uid, members = _group(source, series_instance_uid)
    plan = _plan(members, uid, irregular, tilt)
    geometry = plan.geometry
    if slice_index is not None and not 0 <= slice_index < plan.n_out:
        raise SpecError(f"slice {slice_index} does not exist; the series has {plan.n_out} slices")
    n_volumes = len(plan.volumes)
    if volume_index is not None and not 0 <= volume_index < n_volumes:
        raise SpecError(
            f"volume {volume_index} does not exist; the series has {n_volumes} volume(s)"
        )
    volumes = plan.volumes if volume_index is None else [plan.volumes[volume_index]]
    if plan.regrid is not None:
        stack = decode_frames([f for vol in volumes for f in vol])
        stack = stack.reshape(len(volumes), -1, *stack.shape[1:])
        volume = np.stack([_regrid(v, **plan.regrid) for v in stack])
        if slice_index is not None:
            volume = volume[:, slice_index : slice_index + 1]
    else:
        chosen = [vol if slice_index is None else [vol[slice_index]] for vol in volumes]
        volume = decode_frames([f for vol in chosen for f in vol])
        volume = volume.reshape(len(chosen), -1, *volume.shape[1:])
    if slice_index is not None:
        geometry = geometry.crop((slice_index, 0, 0))
    if len(volumes) > 1:
        tr = number(plan.frames[0].ds.get("RepetitionTime"))
        step = tr / 1000.0 if plan.volume_axis == "time" and tr > 0 else 1.0
        geometry = _with_volume_axis(geometry, step)
    else:
        volume = volume[0]
    for msg in plan.issues:
        warnings.warn(msg, RadprepWarning, stacklevel=2)
    first = plan.frames[0]
    meta = replace(
        first.meta,
        number_of_frames=int(np.prod(volume.shape[:-2])),
        rows=int(volume.shape[-2]),
        columns=int(volume.shape[-1]),
        rescale_slope=None,
        rescale_intercept=None,
        sop_instance_uid=None,
        modality_lut=None,
    )
    report = SeriesReport(
        series_instance_uid=uid,
        n_slices=len(plan.frames),
        n_dropped=plan.n_total - sum(len(v) for v in plan.volumes),
        missing_slices=plan.missing,
        slice_spacings=(float(plan.spacings[0]), float(plan.spacings[1])),
        gantry_tilt_deg=float(plan.tilt_deg),
        resampled=plan.regrid is not None,
        issues=tuple(plan.issues),
        n_volumes=n_volumes,
        volume_axis=plan.volume_axis,
    )
    params: dict[str, Any] = {
        "files": len({f.path for vol in volumes for f in vol}),
        "slices": len(plan.frames),
        "volumes": len(volumes),
        "irregular": irregular,
        "tilt": tilt,
        "issues": len(plan.issues),
        "resampled": report.resampled,
    }
    if slice_index is not None:
        params["slice_index"] = int(slice_index)
    if volume_index is not None:
        params["volume_index"] = int(volume_index)
    history = (
        AppliedStep("read_series", params),
        AppliedStep("modality_lut", {"mode": "rescale per slice"}),
    )
    return SeriesVolume(Image(volume, geometry, meta, history), report)


def read_series(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    /,
    *,
    series_instance_uid: str | None = None,
    irregular: Irregular = "warn",
    tilt: Tilt = "resample",
    volume_index: int | None = None,
) -> Image:
    """Assemble one series into a volume Image; see :func:`load_series` for the options.

    Returns
    -------
    Image
        float32 modality values (Hounsfield units for CT) shaped ``(slices, rows, cols)``, or
        ``(volumes, slices, rows, cols)`` for a 4D series.
    """
    return load_series(
        source,
        series_instance_uid=series_instance_uid,
        irregular=irregular,
        tilt=tilt,
        volume_index=volume_index,
    ).image
