"""Colour transforms: pseudo-colour (+ YCbCr), window channels, grey to RGB (image only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from radprep.color.channels import grey_to_rgb, window_channels
from radprep.color.pseudocolor import colormap_lut, pseudocolor
from radprep.errors import SpecError
from radprep.sample import Sample
from radprep.transforms.base import Transform, checked_tuple

__all__ = ["GreyToRGB", "PseudoColor", "WindowChannels"]


@dataclass(frozen=True, kw_only=True)
class PseudoColor(Transform):
    """Grey -> colour LUT (OpenCV or matplotlib name) -> optionally YCbCr, uint8 RGB/YCbCr."""

    op: ClassVar[str] = "pseudocolor"
    cmap: str = "jet"
    ycbcr: bool = False
    in_range: tuple[float, float] | Literal["dtype", "image"] = "dtype"

    def __post_init__(self) -> None:
        colormap_lut(self.cmap)  # an unknown name fails here, listing the known ones
        if isinstance(self.in_range, str):
            if self.in_range not in ("dtype", "image"):
                raise SpecError(
                    f"in_range={self.in_range!r} is not valid; choose 'dtype', 'image' or (lo, hi)"
                )
        else:
            pair = checked_tuple(self.in_range, name="in_range", length=2)
            object.__setattr__(self, "in_range", (float(pair[0]), float(pair[1])))

    def apply(self, sample: Sample, **params: Any) -> Sample:
        pixels = pseudocolor(
            sample.image.pixels, cmap=self.cmap, ycbcr=self.ycbcr, in_range=self.in_range
        )
        return sample.with_pixels(
            pixels,
            self.step(),
            photometric_interpretation="YBR_FULL" if self.ycbcr else "RGB",
            samples_per_pixel=3,
        )


@dataclass(frozen=True, kw_only=True)
class WindowChannels(Transform):
    """One LINEAR window per ``(center, width)`` stacked as channels, float32 in [0, 1]."""

    op: ClassVar[str] = "window_channels"
    windows: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        windows = checked_tuple(self.windows, name="windows")
        if not windows:
            raise SpecError("windows is empty; give at least one (center, width) pair")
        pairs = []
        for i, w in enumerate(windows):
            c, width = checked_tuple(w, name=f"windows[{i}]", length=2)
            if not float(width) >= 1:
                raise SpecError(f"windows[{i}] width {width!r} is below 1; LINEAR needs >= 1")
            pairs.append((float(c), float(width)))
        object.__setattr__(self, "windows", tuple(pairs))

    def apply(self, sample: Sample, **params: Any) -> Sample:
        pixels = window_channels(sample.image.pixels, self.windows)
        return sample.with_pixels(
            pixels, self.step(), samples_per_pixel=len(self.windows), intensity="display"
        )


@dataclass(frozen=True, kw_only=True)
class GreyToRGB(Transform):
    """Copy a grey image into three channels."""

    op: ClassVar[str] = "grey_to_rgb"

    def apply(self, sample: Sample, **params: Any) -> Sample:
        return sample.with_pixels(
            grey_to_rgb(sample.image.pixels), self.step(), samples_per_pixel=3
        )
