"""The 2D frames a series is made of, and how they group into volumes.

A frame is one plane of pixels with its place: a single-frame instance, one frame of an
enhanced multi-frame object (its per-frame or shared functional groups, PS3.3 C.7.6.16), or one
slice of a Siemens mosaic (:mod:`radprep.io.mosaic`). :mod:`radprep.io.series` sorts them along
the slice normal; here they are read from headers, checked for size and orientation, grouped
into volumes when several share each position (time points, echoes, b-values), and decoded.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from radprep.errors import InputError
from radprep.image import ImageMeta
from radprep.intensity.modality import apply_modality
from radprep.io.dicom import _fg_value, decode_stored, meta_from_dataset
from radprep.io.mosaic import Mosaic, mosaic_of, untile

__all__ = [
    "POS_TOL_MM",
    "Frame",
    "decode_frames",
    "drop_duplicates",
    "fallback_dz",
    "frames_of",
    "int_or_none",
    "keep_consistent",
    "number",
    "split_volumes",
    "vector",
]

POS_TOL_MM = 1e-3  # positions closer than this along the normal are the same plane


@dataclass
class Frame:
    """One plane of pixels and where it is (no pixels until decoded)."""

    path: str
    ds: Dataset
    frame: int | None  # None: a single-frame instance
    rows: int
    cols: int
    position: np.ndarray | None
    orientation: np.ndarray | None
    pixel_spacing: tuple[float, float] | None
    instance: int
    meta: ImageMeta = field(default_factory=ImageMeta)
    mosaic: Mosaic | None = None
    tile: int = 0  # the slice of a mosaic

    @property
    def label(self) -> str:
        if self.mosaic is not None:
            return f"{self.path} mosaic slice {self.tile}"
        return self.path if self.frame is None else f"{self.path} frame {self.frame}"


def int_or_none(value: Any) -> int | None:
    """Return `value` as an int, or None when it is empty or not a number."""
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def vector(value: Any, n: int) -> np.ndarray | None:
    """Return `value` as `n` finite floats, or None when it is not that."""
    try:
        vals = [float(v) for v in value] if value is not None else []
    except (TypeError, ValueError):
        return None
    if len(vals) != n or not all(math.isfinite(v) for v in vals):
        return None
    return np.asarray(vals, dtype=np.float64)


def _mosaic_frames(path: Path, ds: Dataset, mosaic: Mosaic) -> list[Frame]:
    """One frame per slice of a mosaic, each at its own position (see :mod:`.mosaic`)."""
    ipp = vector(ds.get("ImagePositionPatient"), 3)
    iop = vector(ds.get("ImageOrientationPatient"), 6)
    ps = vector(ds.get("PixelSpacing"), 2)
    pixel_spacing = (float(ps[0]), float(ps[1])) if ps is not None and all(ps > 0) else None
    meta = replace(meta_from_dataset(ds), rows=mosaic.rows, columns=mosaic.cols)
    positions: list[np.ndarray | None] = [None] * mosaic.n_images
    if ipp is not None and iop is not None and pixel_spacing is not None:
        row_cos, col_cos = iop[:3], iop[3:]
        normal = np.cross(row_cos, col_cos) * mosaic.normal_sign
        dr, dc = mosaic.first_slice_offset(int(ds.Rows), int(ds.Columns))
        first = ipp + dr * pixel_spacing[0] * col_cos + dc * pixel_spacing[1] * row_cos
        dz = fallback_dz(ds, 0)
        positions = [first + k * dz * normal for k in range(mosaic.n_images)]
    return [
        Frame(
            path=str(path),
            ds=ds,
            frame=None,
            rows=mosaic.rows,
            cols=mosaic.cols,
            position=positions[k],
            orientation=iop,
            pixel_spacing=pixel_spacing,
            instance=int_or_none(ds.get("InstanceNumber")) or 0,
            meta=meta,
            mosaic=mosaic,
            tile=k,
        )
        for k in range(mosaic.n_images)
    ]


def frames_of(path: Path, ds: Dataset) -> list[Frame]:
    """Return the frames of one instance: itself, its frames, or its mosaic's slices."""
    mosaic = mosaic_of(ds, str(path))
    if mosaic is not None:
        return _mosaic_frames(path, ds, mosaic)
    n = int(ds.get("NumberOfFrames") or 1)
    multi = n > 1 or "PerFrameFunctionalGroupsSequence" in ds
    out = []
    for f in range(n):
        pos = vector(_fg_value(ds, "PlanePositionSequence", "ImagePositionPatient", f), 3)
        ori = vector(_fg_value(ds, "PlaneOrientationSequence", "ImageOrientationPatient", f), 6)
        ps = vector(_fg_value(ds, "PixelMeasuresSequence", "PixelSpacing", f), 2)
        out.append(
            Frame(
                path=str(path),
                ds=ds,
                frame=f if multi else None,
                rows=int(ds.get("Rows", 0) or 0),
                cols=int(ds.get("Columns", 0) or 0),
                position=pos,
                orientation=ori,
                pixel_spacing=(float(ps[0]), float(ps[1]))
                if ps is not None and all(ps > 0)
                else None,
                instance=int_or_none(ds.get("InstanceNumber")) or 0,
                meta=meta_from_dataset(ds, frame=f),
            )
        )
    return out


def _orientation_key(o: np.ndarray | None) -> tuple[float, ...] | None:
    return None if o is None else tuple(round(float(v), 3) for v in o)


def keep_consistent(frames: list[Frame], issues: list[str]) -> list[Frame]:
    """Keep the largest group of one size and orientation; say what was dropped."""
    key = [(f.rows, f.cols, _orientation_key(f.orientation)) for f in frames]
    counts = Counter(key)
    if len(counts) == 1:
        return frames
    best = max(counts, key=lambda k: (counts[k], -key.index(k)))
    kept = [f for f, k in zip(frames, key, strict=True) if k == best]
    others = ", ".join(
        f"{n} of {k[0]}x{k[1]}" + ("" if k[2] == best[2] else f" oriented {list(k[2] or [])}")
        for k, n in counts.items()
        if k != best
    )
    issues.append(
        f"mixed sizes or orientations (Rows/Columns (0028,0010)/(0028,0011), "
        f"ImageOrientationPatient (0020,0037)): kept {len(kept)} frames of {best[0]}x{best[1]} "
        f"oriented {list(best[2] or [])}, dropped {others}; split the series if both are wanted"
    )
    return kept


def number(value: Any) -> float:
    """Return `value` as a float, 0 when it is empty or not a number."""
    try:
        return float(value) if value not in (None, "") else 0.0
    except (TypeError, ValueError):
        return 0.0


def _volume_kind(f: Frame) -> tuple[float, float, float]:
    """(temporal position, echo, b-value) of a frame: what tells its volume apart."""
    ds, fr = f.ds, f.frame or 0
    temporal = _fg_value(ds, "FrameContentSequence", "TemporalPositionIndex", fr)
    if temporal in (None, ""):
        temporal = ds.get("TemporalPositionIdentifier")
    echo = ds.get("EchoNumbers")
    if echo in (None, "") or "PerFrameFunctionalGroupsSequence" in ds:
        echo = _fg_value(ds, "MREchoSequence", "EffectiveEchoTime", fr) or echo
    if isinstance(echo, (list, tuple)) or (hasattr(echo, "__len__") and not isinstance(echo, str)):
        echo = echo[0] if len(echo) else None
    b_value = _fg_value(ds, "MRDiffusionSequence", "DiffusionBValue", fr)
    if b_value in (None, "") and f.mosaic is not None:
        b_value = f.mosaic.b_value
    return number(temporal), number(echo), number(b_value)


def _volume_key(f: Frame) -> tuple[Any, ...]:
    """Order of the frames at one position: the volume they belong to, then acquisition order."""
    acquisition = number(f.ds.get("AcquisitionNumber"))
    return (*_volume_kind(f), acquisition, f.instance, f.path, f.frame or 0)


def split_volumes(
    frames: list[Frame], dist: np.ndarray, where: str, issues: list[str]
) -> tuple[list[list[Frame]], str]:
    """Group frames sorted by position into volumes of one frame per position.

    Returns the volumes (one list of frames per volume, in position order) and what the volumes
    step through. When positions hold different numbers of frames, the first of each is kept.
    """
    starts = [0] + [i for i in range(1, len(frames)) if dist[i] - dist[i - 1] > POS_TOL_MM]
    planes = [
        sorted(frames[a:b], key=_volume_key)
        for a, b in zip(starts, [*starts[1:], len(frames)], strict=True)
    ]
    counts = Counter(len(p) for p in planes)
    if len(counts) > 1:
        issues.append(
            f"{where}: {len(frames) - len(planes)} frames repeat a position already seen, "
            f"but positions hold different numbers of frames ({', '.join(map(str, sorted(counts)))}"
            "), so they make no 4D series (duplicates or an incomplete series?); kept the first "
            "of each position"
        )
        return [[p[0] for p in planes]], ""
    n_volumes = len(planes[0])
    volumes = [[p[v] for p in planes] for v in range(n_volumes)]
    if n_volumes == 1:
        return volumes, ""
    kinds = [[_volume_kind(f) for f in vol] for vol in volumes]
    mixed = [v for v, k in enumerate(kinds) if len(set(k)) > 1]
    if mixed:
        issues.append(
            f"{where}: volume {mixed[0]} mixes frames of different TemporalPositionIdentifier "
            "(0020,0100), EchoNumbers (0018,0086) or DiffusionBValue (0018,9087) across its "
            "positions; volumes were formed in InstanceNumber order at each position"
        )
    firsts = [k[0] for k in kinds]
    axis = "time"
    if len({k[1] for k in firsts}) > 1:
        axis = "echo"
    elif len({k[2] for k in firsts}) > 1:
        axis = "b-value"
    return volumes, axis


def drop_duplicates(frames: list[Frame], issues: list[str]) -> list[Frame]:
    """Leave out a frame whose SOPInstanceUID and frame number were already seen."""
    seen: set[tuple[str, int | None, int]] = set()
    out = []
    for f in frames:
        uid = str(f.ds.get("SOPInstanceUID", "") or "")
        key = (uid, f.frame, f.tile)
        if uid and key in seen:
            continue
        seen.add(key)
        out.append(f)
    if len(out) < len(frames):
        issues.append(
            f"{len(frames) - len(out)} frames repeat a SOPInstanceUID (0008,0018) already read "
            "(the same instance in two files); kept one of each"
        )
    return out


def fallback_dz(ds: Dataset, frame: int) -> float:
    """Return SpacingBetweenSlices, else SliceThickness, else 1 (mm)."""
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        v = _fg_value(ds, "PixelMeasuresSequence", keyword, frame)
        try:
            if v not in (None, "") and float(v) > 0:
                return float(v)
        except (TypeError, ValueError):
            continue
    return 1.0


def decode_frames(frames: list[Frame]) -> np.ndarray:
    """Stack the frames' modality values (each frame rescaled by its own attributes)."""
    cache: dict[str, np.ndarray] = {}
    out = np.empty((len(frames), frames[0].rows, frames[0].cols), dtype=np.float32)
    for i, f in enumerate(frames):
        if f.meta.is_color:
            raise InputError(
                f"{f.path}: PhotometricInterpretation (0028,0004) is "
                f"{f.meta.photometric_interpretation}; only grey series make volumes"
            )
        if f.mosaic is not None:
            if f.path not in cache:
                cache.clear()
                cache[f.path] = untile(decode_stored(f.path, f.ds), f.mosaic)
            stored = cache[f.path][f.tile]
        elif f.frame is None:
            stored = decode_stored(f.path, f.ds)
        else:
            if f.path not in cache:
                cache.clear()  # frames of one file are contiguous after sorting, mostly
                cache[f.path] = decode_stored(f.path, f.ds)
            stack = cache[f.path]
            stored = stack if stack.ndim == 2 else stack[f.frame]
        out[i] = apply_modality(stored, f.meta)
    return out
