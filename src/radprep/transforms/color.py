"""Colour transforms: pseudo-colour (+ YCbCr), CT windows as channels, grey to RGB (image only).

Each works on a 2D image or a 3D volume alike. The former volume-only names ``pseudocolor_volume``
and ``window_channels`` still build these ops in recipes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from radprep.color.channels import grey_to_rgb
from radprep.color.pseudocolor import colormap_lut, pseudocolor
from radprep.color.windows import DEFAULT_WINDOWS, resolve_windows, window_stack
from radprep.errors import InputError, SpecError
from radprep.sample import Sample
from radprep.transforms.base import Transform, checked_tuple, need_grey, register_alias

__all__ = ["GreyToRGB", "PseudoColor", "WindowStack"]


@dataclass(frozen=True, kw_only=True)
class PseudoColor(Transform):
    """Grey -> colour LUT (OpenCV or matplotlib name) -> optionally YCbCr, uint8 RGB/YCbCr.

    On a volume, ``in_range: image`` takes one grey range for all slices (colours compare
    across slices).
    """

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
        need_grey(sample, self.op)
        pixels = pseudocolor(
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
class WindowStack(Transform):
    """CT windows (preset names or ``[center, width]``) stacked as channels, float32 in [0, 1]."""

    op: ClassVar[str] = "window_stack"
    windows: tuple[str | tuple[float, float], ...] = DEFAULT_WINDOWS

    def __post_init__(self) -> None:
        raw = checked_tuple(self.windows, name="windows")
        resolve_windows(raw)  # fails here on a bad preset or pair
        norm = tuple(w.lower() if isinstance(w, str) else (float(w[0]), float(w[1])) for w in raw)
        object.__setattr__(self, "windows", norm)

    def apply(self, sample: Sample, **params: Any) -> Sample:
        need_grey(sample, self.op)
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
class GreyToRGB(Transform):
    """Copy a grey image into three channels."""

    op: ClassVar[str] = "grey_to_rgb"

    def apply(self, sample: Sample, **params: Any) -> Sample:
        return sample.with_pixels(
            grey_to_rgb(sample.image.pixels), self.step(), samples_per_pixel=3
        )


def _volume_range(options: dict[str, Any]) -> dict[str, Any]:
    """``pseudocolor_volume`` took ``in_range: null`` (its default) for the volume's range."""
    if options.get("in_range") is None:
        options = {**options, "in_range": "image"}
    return options


register_alias("window_channels", "window_stack")
register_alias("pseudocolor_volume", "pseudocolor", _volume_range)
