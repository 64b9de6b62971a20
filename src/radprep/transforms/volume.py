"""Volume transforms: resample to a spacing, N4, CT normalisation, 2D slices out of a volume.

Crops to the body, CT windows and pseudo-colour work on volumes and images alike
(``transforms/spatial.py``, ``transforms/color.py``).

Spatial steps move the image and every mask together (masks by nearest neighbour) and update the
geometry; intensity steps touch the image only. Each records what it decided (the new shape, the
crop box, the slice taken and where it lies) in the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from radprep._validate import check_choice, check_positive, check_range
from radprep.errors import InputError, SpecError
from radprep.intensity.bias import n4_bias_correction
from radprep.intensity.normalize import CTStats, ct_normalize
from radprep.sample import Sample
from radprep.spatial.resample import resample_to_spacing
from radprep.spatial.volume import (
    SLICE_AXES,
    SliceAxis,
    slice_geometry,
    slice_indices,
    take_slice,
)
from radprep.transforms.base import Transform, checked_tuple, need_grey

__all__ = [
    "CTNormalize",
    "N4Bias",
    "ResampleSpacing",
    "SliceVolume",
]


def _need_volume(sample: Sample, op: str) -> None:
    if sample.image.geometry.ndim != 3:
        raise InputError(
            f"{op} works on volumes (slices, rows, cols); sample {sample.id!r} is "
            f"{sample.image.geometry.ndim}D: read it with the series-folder source"
        )


@dataclass(frozen=True, kw_only=True)
class ResampleSpacing(Transform):
    """Resample to `spacing_mm` with SimpleITK (image linear or B-spline, masks nearest)."""

    op: ClassVar[str] = "resample_spacing"
    resamples: ClassVar[bool] = True
    spacing_mm: float | tuple[float, ...]
    interpolation: Literal["linear", "bspline"] = "linear"

    def __post_init__(self) -> None:
        check_choice(self.interpolation, ("linear", "bspline"), name="interpolation")
        if isinstance(self.spacing_mm, (list, tuple)):
            values = checked_tuple(self.spacing_mm, name="spacing_mm")
            if len(values) not in (2, 3):
                raise SpecError(f"spacing_mm needs 1, 2 or 3 values, got {list(values)}")
            object.__setattr__(self, "spacing_mm", tuple(float(v) for v in values))
            for v in self.spacing_mm:
                check_positive(v, name="spacing_mm")
        else:
            check_positive(float(self.spacing_mm), name="spacing_mm")
            object.__setattr__(self, "spacing_mm", float(self.spacing_mm))

    def apply(self, sample: Sample, **params: Any) -> Sample:
        geo = sample.image.geometry
        if geo.unit != "mm":
            raise InputError(
                f"sample {sample.id!r} has no spacing in mm (PixelSpacing (0028,0030) absent); "
                "resample_spacing needs one"
            )
        if isinstance(self.spacing_mm, tuple) and len(self.spacing_mm) != geo.ndim:
            raise InputError(
                f"spacing_mm has {len(self.spacing_mm)} values but sample {sample.id!r} has "
                f"{geo.ndim} axes"
            )
        pixels, new_geo = resample_to_spacing(
            sample.image.pixels, geo, self.spacing_mm, interpolation=self.interpolation
        )

        def mask_op(m: np.ndarray) -> np.ndarray:
            return resample_to_spacing(m, geo, self.spacing_mm, interpolation="nearest")[0]

        return sample.map_spatial(
            pixels,
            mask_op=mask_op,
            geometry=new_geo,
            step=self.step(shape=list(pixels.shape[: geo.ndim]), spacing=list(new_geo.spacing)),
        )


@dataclass(frozen=True, kw_only=True)
class N4Bias(Transform):
    """N4 bias-field correction (SimpleITK), fitted on a shrunken copy; for MR."""

    op: ClassVar[str] = "n4_bias"
    shrink_factor: int = 4
    iterations: tuple[int, ...] = (50, 50, 50, 50)
    control_points: int = 4
    mask: str | None = None

    def __post_init__(self) -> None:
        its = checked_tuple(self.iterations, name="iterations")
        if not its or any(int(v) < 1 for v in its):
            raise SpecError(f"iterations must be counts >= 1, one per level, got {list(its)}")
        object.__setattr__(self, "iterations", tuple(int(v) for v in its))
        if int(self.shrink_factor) < 1:
            raise SpecError(f"shrink_factor must be >= 1, got {self.shrink_factor}")
        if int(self.control_points) < 4:
            raise SpecError(f"control_points must be >= 4, got {self.control_points}")

    def apply(self, sample: Sample, **params: Any) -> Sample:
        need_grey(sample, self.op)
        pixels = n4_bias_correction(
            sample.image.pixels,
            mask=None if self.mask is None else sample.roi_mask(self.mask),
            geometry=sample.image.geometry,
            shrink_factor=int(self.shrink_factor),
            iterations=self.iterations,
            control_points=int(self.control_points),
        )
        return sample.with_pixels(pixels, self.step())


@dataclass(frozen=True, kw_only=True)
class CTNormalize(Transform):
    """nnU-Net's CT normalisation: clip to foreground percentiles, z-score with its mean/std.

    Give the dataset's statistics as `stats` ``[lower, upper, mean, std]`` (nnU-Net's
    fingerprint), or let them come from the sample's `mask` (all voxels without one).
    """

    op: ClassVar[str] = "ct_normalize"
    mask: str | None = None
    stats: tuple[float, float, float, float] | None = None
    lower: float = 0.5
    upper: float = 99.5

    def __post_init__(self) -> None:
        check_range(self.lower, 0, 100, name="lower")
        check_range(self.upper, 0, 100, name="upper")
        if self.lower > self.upper:
            raise SpecError(f"lower={self.lower} is above upper={self.upper}; need lower <= upper")
        if self.stats is not None:
            lo, hi, mean, std = (
                float(v) for v in checked_tuple(self.stats, name="stats", length=4)
            )
            if lo > hi or std <= 0:
                raise SpecError(
                    f"stats={list(self.stats)} must be [lower, upper, mean, std] with "
                    "lower <= upper and std > 0"
                )
            object.__setattr__(self, "stats", (lo, hi, mean, std))

    def apply(self, sample: Sample, **params: Any) -> Sample:
        need_grey(sample, self.op)
        stats = CTStats(*self.stats) if self.stats is not None else None
        pixels = ct_normalize(
            sample.image.pixels,
            mask=None if self.mask is None or stats is not None else sample.roi_mask(self.mask),
            stats=stats,
            lower=self.lower,
            upper=self.upper,
        )
        return sample.with_pixels(pixels, self.step())


@dataclass(frozen=True, kw_only=True)
class SliceVolume(Transform):
    """Take one 2D slice out of a volume (image and masks).

    `index`: a slice number (negative from the end), ``"middle"``, or ``"largest_mask"`` (the
    slice where `mask`, or the union of all masks, covers most pixels). The slice's number and
    where its first pixel lies in the volume's patient frame go into the history.
    """

    op: ClassVar[str] = "slice_volume"
    axis: SliceAxis = "axial"
    index: int | Literal["middle", "largest_mask"] = "middle"
    mask: str | None = None

    def __post_init__(self) -> None:
        check_choice(self.axis, tuple(SLICE_AXES), name="axis")
        if isinstance(self.index, str):
            check_choice(self.index, ("middle", "largest_mask"), name="index")
        elif isinstance(self.index, bool) or not isinstance(self.index, int):
            raise SpecError(
                f"index={self.index!r} must be a slice number, 'middle' or 'largest_mask'"
            )

    def _index(self, sample: Sample) -> int:
        a = SLICE_AXES[self.axis]
        n = sample.image.pixels.shape[a]
        if self.index == "largest_mask":
            m = sample.roi_mask(self.mask)
            if m is None or not np.any(m):
                raise InputError(
                    f"slice_volume index 'largest_mask': sample {sample.id!r} has no mask "
                    "pixels; give a slice number or 'middle'"
                )
            other = tuple(k for k in range(3) if k != a)
            return int(np.argmax(np.count_nonzero(m, axis=other)))
        return slice_indices(n, self.index)[0]

    def apply(self, sample: Sample, **params: Any) -> Sample:
        _need_volume(sample, self.op)
        i = self._index(sample)
        geo = sample.image.geometry
        a = SLICE_AXES[self.axis]
        start = [0, 0, 0]
        start[a] = i
        return sample.map_spatial(
            take_slice(sample.image.pixels, i, axis=self.axis),
            mask_op=lambda m: take_slice(m, i, axis=self.axis),
            geometry=slice_geometry(geo, i, axis=self.axis),
            step=self.step(
                slice=i,
                origin=[float(v) for v in geo.index_to_world(start)],
                plane_direction=[[float(v) for v in geo.matrix[:, k]] for k in range(3) if k != a],
            ),
        )
