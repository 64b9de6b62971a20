"""The frames of one series on one grid: sorted along the normal, checked (missing slices, uneven
spacing, gantry tilt), the volume's geometry, and resampling onto a regular, orthogonal grid.

Used by :mod:`radprep.io.series`, which finds the series and decodes the frames.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydicom.dataset import Dataset

from radprep.errors import InputError
from radprep.geometry import Geometry
from radprep.io.frames import (
    POS_TOL_MM,
    Frame,
    drop_duplicates,
    fallback_dz,
    frames_of,
    keep_consistent,
    split_volumes,
)

__all__ = [
    "IRREGULAR_POLICIES",
    "TILT_POLICIES",
    "Irregular",
    "Tilt",
    "series_key",
    "volume_geometry",
]

Irregular = Literal["warn", "resample", "error"]
Tilt = Literal["resample", "keep", "error"]
IRREGULAR_POLICIES: tuple[Irregular, ...] = ("warn", "resample", "error")
TILT_POLICIES: tuple[Tilt, ...] = ("resample", "keep", "error")

_TILT_MIN_DEG = 0.01  # below this, an in-plane drift is rounding in the DS strings


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


def _unlocated(uid: str, frames: list[Frame], total: int, issues: list[str], where: str) -> _Plan:
    """Frames without positions: stacked in InstanceNumber order, geometry unknown."""
    first = frames[0]
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


def _pixel_spacing(
    frames: list[Frame], where: str, issues: list[str]
) -> tuple[float, float] | None:
    """The first slice's PixelSpacing; differing or missing spacings are issues."""
    ps_set = {f.pixel_spacing for f in frames}
    if len(ps_set) > 1:
        issues.append(
            f"{where}: PixelSpacing (0028,0030) differs between slices "
            f"({', '.join(sorted(map(str, ps_set)))}); used the first slice's"
        )
    ps = frames[0].pixel_spacing
    if ps is None:
        issues.append(f"{where}: no PixelSpacing (0028,0030); in-plane spacing taken as 1 mm")
    return ps


def _spacing(
    frames: list[Frame], dist: np.ndarray
) -> tuple[float, tuple[float, float], np.ndarray]:
    """The median slice distance, the smallest and largest, and every step."""
    if len(frames) == 1:
        dz = fallback_dz(frames[0].ds, frames[0].frame or 0)
        return dz, (dz, dz), np.zeros(0)
    steps = np.diff(dist)
    return float(np.median(steps)), (float(steps.min()), float(steps.max())), steps


def _check_irregular(
    where: str,
    steps: np.ndarray,
    dz: float,
    spacings: tuple[float, float],
    irregular: Irregular,
    issues: list[str],
) -> tuple[int, bool]:
    """Missing slices and uneven spacing: how many missing, and whether any was found."""
    n = len(steps) + 1
    tol = max(0.01 * dz, POS_TOL_MM)
    gaps = steps > 1.5 * dz
    missing = int(sum(round(s / dz) - 1 for s in steps[gaps])) if n > 1 else 0
    uneven = bool(n > 2 and np.any(np.abs(steps[~gaps] - dz) > tol))
    if not (missing > 0 or uneven):
        return missing, False
    what = []
    if missing:
        what.append(f"{missing} slice(s) missing (gaps of up to {spacings[1]:.4g} mm)")
    if uneven:
        what.append(f"uneven spacing ({spacings[0]:.4g} to {spacings[1]:.4g} mm)")
    msg = (
        f"{where}: {' and '.join(what)} along the normal by ImagePositionPatient "
        f"(0020,0032), median {dz:.4g} mm"
    )
    done = ("resampled onto a regular grid", "stacked as read with the median spacing")
    _error_or_note(msg, irregular, "use irregular='resample' or 'warn'", done, issues)
    return missing, True


def _tilt(positions: np.ndarray, dist: np.ndarray, normal: np.ndarray) -> tuple[np.ndarray, float]:
    """Each slice's in-plane drift from the first, and the gantry tilt it makes, degrees."""
    drift = positions - positions[0]
    in_plane = drift - np.outer(drift @ normal, normal)
    if len(positions) < 2:
        return in_plane, 0.0
    along = float(dist[-1] - dist[0])
    return in_plane, math.degrees(math.atan2(float(np.linalg.norm(in_plane[-1])), along))


def _check_tilt(where: str, tilt_deg: float, tilt: Tilt, issues: list[str]) -> bool:
    """Gantry tilt: whether there is one (an issue, or an error under ``"error"``)."""
    if not tilt_deg > _TILT_MIN_DEG:
        return False
    msg = (
        f"{where}: gantry tilt of {tilt_deg:.3g} degrees (ImagePositionPatient (0020,0032) "
        "drifts in-plane from slice to slice)"
    )
    done = (
        "resampled onto an orthogonal grid",
        "kept with a sheared direction (axis 0 along the stacking direction)",
    )
    _error_or_note(msg, tilt, "use tilt='resample' or 'keep'", done, issues)
    return True


def _error_or_note(
    msg: str, policy: str, hint: str, done: tuple[str, str], issues: list[str]
) -> None:
    """A geometry quirk under its policy: ``"error"`` raises with `hint`; otherwise the quirk
    and what was done (`done`: if resampled, if kept) join `issues`."""
    if policy == "error":
        raise InputError(f"{msg}; {hint}")
    issues.append(f"{msg}; {done[0] if policy == 'resample' else done[1]}")


def _plan(members: list[tuple[Path, Dataset]], uid: str, irregular: Irregular, tilt: Tilt) -> _Plan:
    frames = [f for p, ds in members for f in frames_of(p, ds)]
    issues: list[str] = []
    total = len(frames)
    frames = keep_consistent(drop_duplicates(frames, issues), issues)
    first = frames[0]
    where = f"series {series_key(uid, str(first.ds.get('Modality', '')))}"
    if not all(f.position is not None and f.orientation is not None for f in frames):
        return _unlocated(uid, frames, total, issues, where)
    assert first.orientation is not None
    row_cos, col_cos, normal = _axes(first.orientation, where, issues)
    frames.sort(key=lambda f: float(f.position @ normal))  # split_volumes orders each plane
    # Several frames at every position: a 4D series (time, echo, b-value).
    volumes, volume_axis = split_volumes(
        frames, np.asarray([float(f.position @ normal) for f in frames]), where, issues
    )
    frames = volumes[0]
    dist = np.asarray([float(f.position @ normal) for f in frames])
    ps = _pixel_spacing(frames, where, issues)
    positions = np.stack([f.position for f in frames])  # type: ignore[misc]
    dz, spacings, steps = _spacing(frames, dist)
    missing, irregular_found = _check_irregular(where, steps, dz, spacings, irregular, issues)
    in_plane, tilt_deg = _tilt(positions, dist, normal)
    tilted = _check_tilt(where, tilt_deg, tilt, issues)
    origin, axis0, dz, regrid = _grid(
        positions,
        dist,
        in_plane,
        normal,
        dz,
        regrid_z=irregular_found and irregular == "resample",
        regrid_xy=tilted and tilt == "resample",
        sheared=tilted and tilt == "keep",
        regular=not irregular_found,
    )
    if regrid is not None:
        regrid.update(row_cos=row_cos, col_cos=col_cos, pixel_spacing=ps or (1.0, 1.0))
    geometry = Geometry(
        spacing=(dz, *(ps or (1.0, 1.0))),
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


def _grid(
    positions: np.ndarray,
    dist: np.ndarray,
    in_plane: np.ndarray,
    normal: np.ndarray,
    dz: float,
    *,
    regrid_z: bool,
    regrid_xy: bool,
    sheared: bool,
    regular: bool,
) -> tuple[np.ndarray, np.ndarray, float, dict[str, Any] | None]:
    """The output grid: origin, axis-0 direction, slice spacing, and _regrid's arguments
    (positions along the normal; the caller adds the in-plane ones) when resampling."""
    n = len(positions)
    along = float(dist[-1] - dist[0])
    origin = positions[0].copy()
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
        }
        return origin, normal, spacing0, regrid
    if n > 1:
        if sheared:
            step = (positions[-1] - positions[0]) / (n - 1)
            dz = float(np.linalg.norm(step))
            return origin, step / dz, dz, None
        if regular:
            dz = along / (n - 1)
    return origin, normal, dz, None
