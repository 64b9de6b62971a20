"""Cleaning transforms: border residue, burned-in labels, CLAHE (image only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from radprep._validate import check_positive
from radprep.clean.border import remove_border_residue
from radprep.clean.contrast import clahe
from radprep.clean.foreground import foreground_mask
from radprep.clean.labels import remove_labels
from radprep.sample import Sample
from radprep.transforms.base import Transform, checked_tuple

__all__ = ["CLAHE", "RemoveBorderResidue", "RemoveLabels"]


@dataclass(frozen=True, kw_only=True)
class RemoveBorderResidue(Transform):
    """Set maximal-value strips that touch the border to `fill` (the notebook's 255 -> 0)."""

    op: ClassVar[str] = "remove_border_residue"
    value: float | None = None
    tolerance: float = 0.0
    fill: float = 0.0

    def __post_init__(self) -> None:
        check_positive(self.tolerance, name="tolerance", allow_zero=True)

    def apply(self, sample: Sample, **params: Any) -> Sample:
        pixels = remove_border_residue(
            sample.image.pixels, value=self.value, tolerance=self.tolerance, fill=self.fill
        )
        return sample.with_pixels(pixels, self.step())


@dataclass(frozen=True, kw_only=True)
class RemoveLabels(Transform):
    """Set everything outside the foreground (largest bright component) to `fill`.

    With `keep_rois` (the default) every ROI pixel of the sample's masks counts as foreground,
    so a lesion at the edge of the tissue is never blanked; the step records how many pixels it
    cleared.
    """

    op: ClassVar[str] = "remove_labels"
    fill: float = 0.0
    keep_rois: bool = True

    def apply(self, sample: Sample, **params: Any) -> Sample:
        pixels = sample.image.pixels
        keep = foreground_mask(pixels)
        if self.keep_rois:
            for m in sample.masks.values():
                keep |= m > 0
        out = remove_labels(pixels, mask=keep, fill=self.fill)
        cleared = int(np.count_nonzero(out != pixels)) if out is not pixels else 0
        return sample.with_pixels(out, self.step(cleared_px=cleared))


@dataclass(frozen=True, kw_only=True)
class CLAHE(Transform):
    """Contrast-limited adaptive histogram equalisation (8-bit, 16-bit or float)."""

    op: ClassVar[str] = "clahe"
    clip_limit: float = 2.0
    tile_grid: tuple[int, int] = (8, 8)

    def __post_init__(self) -> None:
        check_positive(self.clip_limit, name="clip_limit")
        grid = checked_tuple(self.tile_grid, name="tile_grid", length=2)
        for v in grid:
            check_positive(v, name="tile_grid")
        object.__setattr__(self, "tile_grid", tuple(int(v) for v in grid))

    def apply(self, sample: Sample, **params: Any) -> Sample:
        pixels = clahe(sample.image.pixels, clip_limit=self.clip_limit, tile_grid=self.tile_grid)
        return sample.with_pixels(pixels, self.step())
