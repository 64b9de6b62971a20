"""ROI transforms: occlusion of the ROI's box plus a buffer (masks unchanged)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from radprep._validate import check_choice, check_positive
from radprep.errors import InputError, SpecError
from radprep.roi.bbox import as_bbox, bboxes_from_mask
from radprep.roi.occlude import OcclusionFill, occlude_roi, occlusion_box
from radprep.sample import Sample
from radprep.transforms.base import Transform, mask_names

__all__ = ["OccludeROI"]


@dataclass(frozen=True, kw_only=True)
class OccludeROI(Transform):
    """Replace the ROI masks' box plus `buffer_px` with `fill` (0, ``"mean"`` or ``"noise"``).

    `boxes` says which boxes: ``"union"`` one box around every ROI pixel (the notebook, which
    had one abnormality per image); ``"component"`` one box per connected ROI, so that two
    lesions far apart do not black out everything between them. With ``fill="noise"`` and a
    generator passed to the call, each call draws its own seed (recorded in the history);
    otherwise `seed` is used.
    """

    op: ClassVar[str] = "occlude_roi"
    pixel_options: ClassVar[tuple[str, ...]] = ("buffer_px",)
    masks: tuple[str, ...] | None = None
    buffer_px: int = 50
    fill: OcclusionFill = 0.0
    boxes: Literal["union", "component"] = "union"
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "masks", mask_names(self.masks))
        check_choice(self.boxes, ("union", "component"), name="boxes")
        check_positive(self.buffer_px, name="buffer_px", allow_zero=True)
        if isinstance(self.fill, str) and self.fill not in ("mean", "noise"):
            raise SpecError(f"fill={self.fill!r} is not valid; choose a number, 'mean' or 'noise'")

    def make_params(self, rng: np.random.Generator) -> dict[str, Any]:
        if self.fill == "noise":
            return {"seed": int(rng.integers(0, 2**31 - 1))}
        return {}

    def apply(self, sample: Sample, **params: Any) -> Sample:
        roi = sample.roi_mask(self.masks)
        if roi is None or not roi.any():
            raise InputError(f"sample {sample.id!r} has no ROI pixel to occlude")
        shape = sample.image.pixels.shape
        boxes = [as_bbox(roi, shape)] if self.boxes == "union" else bboxes_from_mask(roi)
        seed = int(params.get("seed", self.seed))
        buffer = self.buffer_px
        pixels = sample.image.pixels
        for box in boxes:
            pixels = occlude_roi(pixels, box, buffer_px=buffer, fill=self.fill, seed=seed)
        occluded = [occlusion_box(b, shape, buffer_px=buffer) for b in boxes]
        if self.boxes == "union":
            return sample.with_pixels(pixels, self.step(seed=seed, box=occluded[0]))
        return sample.with_pixels(pixels, self.step(seed=seed, boxes=occluded))
