"""Volume geometry steps: the body's 3D bounding box, crops to it, and 2D slices out of a volume.

The body is what lies above a threshold (``-500`` HU suits CT: air is about -1000, fat -100;
Otsu's threshold otherwise), largest 3D connected component (the table, tubes and noise drop
out). nnU-Net crops to the nonzero region the same way before anything else.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np

from radprep._lazy import sitk
from radprep._validate import check_array, check_choice
from radprep.errors import InputError, SpecError
from radprep.geometry import Geometry

__all__ = [
    "SLICE_AXES",
    "body_bbox_3d",
    "body_mask_3d",
    "crop_box_3d",
    "slice_geometry",
    "slice_indices",
    "take_slice",
]

Box3D = tuple[int, int, int, int, int, int]
"""An inclusive 3D box ``(z0, y0, x0, z1, y1, x1)``."""

SliceAxis = Literal["axial", "coronal", "sagittal"]
SLICE_AXES: dict[str, int] = {"axial": 0, "coronal": 1, "sagittal": 2}


def body_mask_3d(
    volume: np.ndarray, /, *, threshold: float | None = -500.0, largest_only: bool = True
) -> np.ndarray:
    """Return the body of a volume as a bool mask.

    Parameters
    ----------
    volume : ndarray
        ``(slices, rows, cols)``.
    threshold : float or None
        Voxels above it are body; None: Otsu's threshold of the volume (for MR).
    largest_only : bool
        Keep the largest 3D connected component (face-connected).
    """
    check_array(volume, name="volume", ndim=(3,))
    if threshold is None:
        img = sitk.GetImageFromArray(np.ascontiguousarray(volume, dtype=np.float32))
        mask = sitk.GetArrayFromImage(sitk.OtsuThreshold(img, 0, 1, 256)).astype(bool)
    else:
        mask = volume > threshold
    if largest_only and mask.any():
        cc = sitk.ConnectedComponent(sitk.GetImageFromArray(mask.view(np.uint8)), False)
        labels = sitk.GetArrayFromImage(sitk.RelabelComponent(cc, sortByObjectSize=True))
        mask = labels == 1
    return mask


def body_bbox_3d(
    volume: np.ndarray,
    /,
    *,
    threshold: float | None = -500.0,
    margin_px: int | tuple[int, int, int] = 0,
) -> Box3D:
    """Return the inclusive 3D box of the body (see :func:`body_mask_3d`), plus a margin.

    Raises
    ------
    InputError
        If nothing is above the threshold.
    """
    mask = body_mask_3d(volume, threshold=threshold)
    if not mask.any():
        raise InputError(
            f"no voxel above the body threshold {threshold}; lower it or use threshold=None (Otsu)"
        )
    margins = (margin_px,) * 3 if isinstance(margin_px, int) else tuple(margin_px)
    if len(margins) != 3 or any(int(m) < 0 for m in margins):
        raise SpecError(f"margin_px must be >= 0, one value or three, got {margin_px!r}")
    lo, hi = [], []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.flatnonzero(mask.any(axis=other))
        lo.append(max(0, int(idx[0]) - int(margins[axis])))
        hi.append(min(volume.shape[axis] - 1, int(idx[-1]) + int(margins[axis])))
    return (lo[0], lo[1], lo[2], hi[0], hi[1], hi[2])


def crop_box_3d(volume: np.ndarray, /, box: Box3D) -> np.ndarray:
    """Return the inclusive `box` of a volume (spatial axes first; channels kept)."""
    z0, y0, x0, z1, y1, x1 = (int(v) for v in box)
    if not (
        0 <= z0 <= z1 < volume.shape[0]
        and 0 <= y0 <= y1 < volume.shape[1]
        and 0 <= x0 <= x1 < volume.shape[2]
    ):
        raise SpecError(f"box {list(box)} is not inside the volume of shape {volume.shape[:3]}")
    return volume[z0 : z1 + 1, y0 : y1 + 1, x0 : x1 + 1]


def slice_indices(n: int, index: int | Literal["middle", "all"]) -> list[int]:
    """Return the slice numbers `index` means along an axis of `n` slices.

    ``"middle"``: ``n // 2``; ``"all"``: every slice; an int (negative counts from the end).
    """
    if index == "middle":
        return [n // 2]
    if index == "all":
        return list(range(n))
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise SpecError(f"index={index!r} is not valid; give 'middle', 'all' or a slice number")
    i = int(index) + (n if int(index) < 0 else 0)
    if not 0 <= i < n:
        raise SpecError(f"slice {index} does not exist; the axis has {n} slices (from 0)")
    return [i]


def take_slice(volume: np.ndarray, /, index: int, *, axis: SliceAxis = "axial") -> np.ndarray:
    """Return one 2D slice ``(rows, cols[, channels])`` of a ``(slices, rows, cols[, c])`` volume.

    ``axial`` takes ``volume[i]``, ``coronal`` ``volume[:, i]``, ``sagittal`` ``volume[:, :, i]``
    (the names assume an axial acquisition; the axes are array axes 0, 1, 2).
    """
    check_choice(axis, tuple(SLICE_AXES), name="axis")
    a = SLICE_AXES[axis]
    (i,) = slice_indices(volume.shape[a], index)
    return np.ascontiguousarray(np.take(volume, i, axis=a))


def slice_geometry(geometry: Geometry, index: int, *, axis: SliceAxis = "axial") -> Geometry:
    """Return the 2D geometry of a slice: in-plane spacing, the slice's own frame.

    A 2D geometry has no room for the third dimension: origin and direction are those of the
    slice plane itself (zero, identity), as for a single DICOM image; the slice's place in the
    volume is kept in the history (see :class:`radprep.transforms.volume.SliceVolume`).
    """
    check_choice(axis, tuple(SLICE_AXES), name="axis")
    a = SLICE_AXES[axis]
    spacing = tuple(s for k, s in enumerate(geometry.spacing) if k != a)
    return replace(
        Geometry(spacing=spacing), unit=geometry.unit, spacing_source=geometry.spacing_source
    )
