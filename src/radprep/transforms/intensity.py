"""Normalisation transforms (image only); `mask` names a sample mask to take statistics in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from radprep._validate import check_range
from radprep.errors import SpecError
from radprep.intensity.normalize import minmax, percentile_clip, zscore
from radprep.sample import Sample
from radprep.transforms.base import Transform, checked_tuple

__all__ = ["MinMax", "PercentileClip", "ZScore"]


def _mask(sample: Sample, name: str | None) -> np.ndarray | None:
    return None if name is None else sample.roi_mask(name)


@dataclass(frozen=True, kw_only=True)
class ZScore(Transform):
    """Z-score normalisation, statistics inside the named mask when given."""

    op: ClassVar[str] = "zscore"
    mask: str | None = None
    outside: float | None = None

    def apply(self, sample: Sample, **params: Any) -> Sample:
        pixels = zscore(sample.image.pixels, mask=_mask(sample, self.mask), outside=self.outside)
        return sample.with_pixels(pixels, self.step())


@dataclass(frozen=True, kw_only=True)
class MinMax(Transform):
    """Min-max normalisation onto `out_range`, statistics inside the named mask when given."""

    op: ClassVar[str] = "minmax"
    mask: str | None = None
    out_range: tuple[float, float] = (0.0, 1.0)
    outside: float | None = None

    def __post_init__(self) -> None:
        lo, hi = checked_tuple(self.out_range, name="out_range", length=2)
        if not float(hi) > float(lo):
            raise SpecError(f"out_range={self.out_range!r} is empty; give (low, high), low < high")
        object.__setattr__(self, "out_range", (float(lo), float(hi)))

    def apply(self, sample: Sample, **params: Any) -> Sample:
        pixels = minmax(
            sample.image.pixels,
            mask=_mask(sample, self.mask),
            out_range=self.out_range,
            outside=self.outside,
        )
        return sample.with_pixels(pixels, self.step())


@dataclass(frozen=True, kw_only=True)
class PercentileClip(Transform):
    """Clip to percentiles (nnU-Net's 0.5 and 99.5), inside the named mask when given."""

    op: ClassVar[str] = "percentile_clip"
    lower: float = 0.5
    upper: float = 99.5
    mask: str | None = None

    def __post_init__(self) -> None:
        check_range(self.lower, 0, 100, name="lower")
        check_range(self.upper, 0, 100, name="upper")
        if self.lower > self.upper:
            raise SpecError(f"lower={self.lower} is above upper={self.upper}; need lower <= upper")

    def apply(self, sample: Sample, **params: Any) -> Sample:
        pixels = percentile_clip(
            sample.image.pixels,
            lower=self.lower,
            upper=self.upper,
            mask=_mask(sample, self.mask),
        )
        return sample.with_pixels(pixels, self.step())
