"""Volume geometry: the body of a volume as a mask, and 2D slices out of a volume.

The body is what lies above a threshold (``-500`` HU suits CT: air is about -1000, fat -100;
Otsu's threshold otherwise), largest 3D connected component (the table, tubes and noise drop
out); :func:`radprep.spatial.crop.crop_to_foreground` crops a volume to its box, as nnU-Net crops
to the nonzero region before anything else.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np

from radprep._lazy import sitk
from radprep._validate import check_array, check_choice
from radprep.errors import SpecError
from radprep.geometry import Geometry

__all__ = [
    "SLICE_AXES",
    "body_mask_3d",
    "slice_geometry",
    "slice_indices",
    "take_slice",
]

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
