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
the frames and groups them into volumes, :mod:`radprep.io.series_find` finds the series and
:mod:`radprep.io.series_grid` sorts, checks and places the frames (names re-exported here).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from radprep._validate import check_choice
from radprep.errors import RadprepWarning, SpecError
from radprep.geometry import Geometry
from radprep.image import AppliedStep, Image, ImageMeta
from radprep.io.frames import decode_frames, number
from radprep.io.series_find import SeriesInfo, _group, find_series
from radprep.io.series_grid import (
    IRREGULAR_POLICIES,
    TILT_POLICIES,
    Irregular,
    Tilt,
    _Plan,
    _plan,
    _regrid,
    _with_volume_axis,
    series_key,
    volume_geometry,
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


# -- assembling -------------------------------------------------------------------------------


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
    volume, volumes = _decode(plan, slice_index, volume_index)
    volume, geometry = _placed(plan, volume, slice_index)
    for msg in plan.issues:
        warnings.warn(msg, RadprepWarning, stacklevel=2)
    chosen = {"slice_index": slice_index, "volume_index": volume_index}
    history = _history(plan, volumes, {"irregular": irregular, "tilt": tilt}, chosen)
    image = Image(volume, geometry, _meta(plan, volume), history)
    return SeriesVolume(image, _report(plan))


def _placed(
    plan: _Plan, volume: np.ndarray, slice_index: int | None
) -> tuple[np.ndarray, Geometry]:
    """The decoded volumes and their geometry: the slice's place when one slice was read; a
    leading volume axis (RepetitionTime in seconds for a time series) for several volumes."""
    geometry = plan.geometry
    if slice_index is not None:
        geometry = geometry.crop((slice_index, 0, 0))
    if volume.shape[0] == 1:
        return volume[0], geometry
    tr = number(plan.frames[0].ds.get("RepetitionTime"))
    step = tr / 1000.0 if plan.volume_axis == "time" and tr > 0 else 1.0
    return volume, _with_volume_axis(geometry, step)


def _history(
    plan: _Plan, volumes: list[list[Any]], policies: dict[str, str], chosen: dict[str, Any]
) -> tuple[AppliedStep, ...]:
    """The read_series step (what was read, the policies, what was chosen) and the rescale."""
    params: dict[str, Any] = {
        "files": len({f.path for vol in volumes for f in vol}),
        "slices": len(plan.frames),
        "volumes": len(volumes),
        **policies,
        "issues": len(plan.issues),
        "resampled": plan.regrid is not None,
    }
    params.update({k: int(v) for k, v in chosen.items() if v is not None})
    return (
        AppliedStep("read_series", params),
        AppliedStep("modality_lut", {"mode": "rescale per slice"}),
    )


def _meta(plan: _Plan, volume: np.ndarray) -> ImageMeta:
    """The first frame's facts, with the volume's shape and no per-slice rescale or UID."""
    return replace(
        plan.frames[0].meta,
        number_of_frames=int(np.prod(volume.shape[:-2])),
        rows=int(volume.shape[-2]),
        columns=int(volume.shape[-1]),
        rescale_slope=None,
        rescale_intercept=None,
        sop_instance_uid=None,
        modality_lut=None,
    )


def _decode(
    plan: _Plan, slice_index: int | None, volume_index: int | None
) -> tuple[np.ndarray, list[list[Any]]]:
    """Decode the chosen volumes (and slice) of a plan: ``(volumes, slices, rows, cols)``."""
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
        return volume, volumes
    chosen = [vol if slice_index is None else [vol[slice_index]] for vol in volumes]
    volume = decode_frames([f for vol in chosen for f in vol])
    return volume.reshape(len(chosen), -1, *volume.shape[1:]), volumes


def _report(plan: _Plan) -> SeriesReport:
    return SeriesReport(
        series_instance_uid=plan.uid,
        n_slices=len(plan.frames),
        n_dropped=plan.n_total - sum(len(v) for v in plan.volumes),
        missing_slices=plan.missing,
        slice_spacings=(float(plan.spacings[0]), float(plan.spacings[1])),
        gantry_tilt_deg=float(plan.tilt_deg),
        resampled=plan.regrid is not None,
        issues=tuple(plan.issues),
        n_volumes=len(plan.volumes),
        volume_axis=plan.volume_axis,
    )


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
