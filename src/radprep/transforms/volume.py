"""Volume transforms: resample to a spacing, crop to the body, N4, CT normalisation, window
channels, pseudo-colour, and 2D slices out of a volume.

Spatial steps move the image and every mask together (masks by nearest neighbour) and update the
geometry; intensity steps touch the image only. Each records what it decided (the new shape, the
crop box, the slice taken and where it lies) in the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from radprep._validate import check_choice, check_positive, check_range
from radprep.color.windows import DEFAULT_WINDOWS, pseudocolor_volume, resolve_windows, window_stack
from radprep.errors import InputError, SpecError
from radprep.intensity.bias import n4_bias_correction
from radprep.intensity.normalize import CTStats, ct_normalize
from radprep.sample import Sample
from radprep.spatial.resample import resample_to_spacing
from radprep.spatial.volume import (
    SLICE_AXES,
    SliceAxis,
    body_bbox_3d,
    crop_box_3d,
    slice_geometry,
    slice_indices,
    take_slice,
)
from radprep.transforms.base import Transform, checked_tuple

__all__ = [
    "CTNormalize",
    "CropToBody",
    "N4Bias",
    "PseudoColorVolume",
    "ResampleSpacing",
    "SliceVolume",
    "WindowStack",
]


def _need_volume(sample: Sample, op: str) -> None:
    if sample.image.geometry.ndim != 3:
        raise InputError(
            f"{op} works on volumes (slices, rows, cols); sample {sample.id!r} is "
            f"{sample.image.geometry.ndim}D: read it with the series-folder source"
        )


def _grey(sample: Sample, op: str) -> None:
    if sample.image.pixels.ndim != sample.image.geometry.ndim:
        raise InputError(
            f"{op} needs grey values, but sample {sample.id!r} has a channel axis "
            f"(shape {sample.image.pixels.shape}); put {op} before window_stack or pseudocolor"
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
class CropToBody(Transform):
    """Crop a volume to the 3D box of the body (above `threshold`, largest component) + margin.

    `threshold` is in the image's values: -500 HU suits CT; None uses Otsu's threshold (MR).
    """

    op: ClassVar[str] = "crop_to_body"
    pixel_options: ClassVar[tuple[str, ...]] = ("margin_px",)
    threshold: float | None = -500.0
    margin_px: int = 0

    def __post_init__(self) -> None:
        if int(self.margin_px) < 0:
            raise SpecError(f"margin_px must be >= 0, got {self.margin_px}")

    def apply(self, sample: Sample, **params: Any) -> Sample:
        _need_volume(sample, self.op)
        _grey(sample, self.op)
        box = body_bbox_3d(
            sample.image.pixels, threshold=self.threshold, margin_px=int(self.margin_px)
        )
        return sample.map_spatial(
            crop_box_3d(sample.image.pixels, box),
            mask_op=lambda m: crop_box_3d(m, box),
            geometry=sample.image.geometry.crop(box[:3]),
            step=self.step(box=list(box)),
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
        _grey(sample, self.op)
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
        _grey(sample, self.op)
        stats = CTStats(*self.stats) if self.stats is not None else None
        pixels = ct_normalize(
            sample.image.pixels,
            mask=None
            if self.mask is None or stats is not None
            else sample.roi_mask(self.mask),
            stats=stats,
            lower=self.lower,
            upper=self.upper,
        )
        return sample.with_pixels(pixels, self.step())


@dataclass(frozen=True, kw_only=True)
class WindowStack(Transform):
    """CT windows (preset names or ``[center, width]``) stacked as channels, slice or volume."""

    op: ClassVar[str] = "window_stack"
    windows: tuple[str | tuple[float, float], ...] = DEFAULT_WINDOWS

    def __post_init__(self) -> None:
        raw = checked_tuple(self.windows, name="windows")
        resolve_windows(raw)  # fails here on a bad preset or pair
        norm = tuple(w.lower() if isinstance(w, str) else (float(w[0]), float(w[1])) for w in raw)
        object.__setattr__(self, "windows", norm)

    def apply(self, sample: Sample, **params: Any) -> Sample:
        _grey(sample, self.op)
        if sample.image.meta.intensity != "modality":
            raise InputError(
                f"window_stack needs modality values (HU), but sample {sample.id!r} holds "
                "display values; read it with window: none"
            )
        pixels = window_stack(sample.image.pixels, self.windows)
        return sample.with_pixels(
            pixels,
            self.step(resolved=[list(p) for p in resolve_windows(self.windows)]),
            samples_per_pixel=len(self.windows),
            photometric_interpretation="RGB" if len(self.windows) == 3 else "MONOCHROME2",
            intensity="display",
        )


@dataclass(frozen=True, kw_only=True)
class PseudoColorVolume(Transform):
    """Pseudo-colour every slice of a volume with one grey range (uint8 RGB or YCbCr)."""

    op: ClassVar[str] = "pseudocolor_volume"
    cmap: str = "jet"
    ycbcr: bool = False
    in_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        from radprep.color.pseudocolor import colormap_lut

        colormap_lut(self.cmap)
        if self.in_range is not None:
            lo, hi = checked_tuple(self.in_range, name="in_range", length=2)
            object.__setattr__(self, "in_range", (float(lo), float(hi)))

    def apply(self, sample: Sample, **params: Any) -> Sample:
        _need_volume(sample, self.op)
        _grey(sample, self.op)
        pixels = pseudocolor_volume(
            sample.image.pixels, cmap=self.cmap, ycbcr=self.ycbcr, in_range=self.in_range
        )
        return sample.with_pixels(
            pixels,
            self.step(),
            photometric_interpretation="YBR_FULL" if self.ycbcr else "RGB",
            samples_per_pixel=3,
            intensity="display",
        )


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
