"""Spatial transforms: image and masks move together (masks by nearest), geometry follows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from radprep._validate import check_choice, check_positive
from radprep.errors import InputError, SpecError
from radprep.sample import Sample
from radprep.spatial._box import take_box
from radprep.spatial.crop import (
    OVERSIZE_POLICIES,
    OversizePolicy,
    crop_square_keep_roi,
    crop_to_bbox,
    crop_to_foreground,
)
from radprep.spatial.orient import SIDES, Side, flip, flip_to_laterality
from radprep.spatial.pad import ALIGNS, Align, pad_to_square
from radprep.spatial.resize import (
    FITS,
    INTERPOLATIONS,
    Fit,
    Interpolation,
    fit_shape,
    resize_letterbox,
    resize_mask,
)
from radprep.transforms.base import (
    Transform,
    checked_tuple,
    mask_names,
    need_grey,
    register_alias,
)

__all__ = [
    "CropSquareKeepROI",
    "CropToBBox",
    "CropToForeground",
    "FlipToLaterality",
    "PadToSquare",
    "Resize",
    "Rot90",
]


def _margin(value: Any, name: str) -> int | tuple[int, int]:
    if isinstance(value, (list, tuple)):
        pair = checked_tuple(value, name=name, length=2)
        for v in pair:
            check_positive(v, name=name, allow_zero=True)
        return int(pair[0]), int(pair[1])
    check_positive(value, name=name, allow_zero=True)
    return int(value)


@dataclass(frozen=True, kw_only=True)
class CropSquareKeepROI(Transform):
    """Crop a square (by default short side x short side) that keeps the ROI masks.

    See :func:`radprep.spatial.crop_square_keep_roi`. `masks` names the ROI masks (their
    union); None uses every mask; a sample without ROI pixels gets the centred square.
    """

    op: ClassVar[str] = "crop_square_keep_roi"
    pixel_options: ClassVar[tuple[str, ...]] = ("side",)
    masks: tuple[str, ...] | None = None
    side: int | None = None
    oversize: OversizePolicy = "centre"
    fill: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "masks", mask_names(self.masks))
        check_choice(self.oversize, OVERSIZE_POLICIES, name="oversize")
        if self.side is not None:
            check_positive(self.side, name="side")

    def apply(self, sample: Sample, **params: Any) -> Sample:
        roi = sample.roi_mask(self.masks)
        pixels, crop = crop_square_keep_roi(
            sample.image.pixels,
            roi if roi is not None and roi.any() else None,
            side=self.side,
            oversize=self.oversize,
            fill=self.fill,
        )
        step = self.step(box=crop.box, roi_cut_px=crop.roi_cut_px)
        return sample.take_box(crop.box, fill=self.fill, step=step, pixels=pixels)


@dataclass(frozen=True, kw_only=True)
class CropToBBox(Transform):
    """Crop a box (given, or around the ROI masks) plus a margin in pixels or millimetres.

    ``margin_mm`` uses the image's spacing and needs one in millimetres.
    """

    op: ClassVar[str] = "crop_to_bbox"
    pixel_options: ClassVar[tuple[str, ...]] = ("margin_px",)
    bbox: tuple[int, int, int, int] | None = None
    masks: tuple[str, ...] | None = None
    margin_px: int | tuple[int, int] = 0
    margin_mm: float | None = None

    def __post_init__(self) -> None:
        if self.bbox is not None:
            box = checked_tuple(self.bbox, name="bbox", length=4)
            object.__setattr__(self, "bbox", tuple(int(v) for v in box))
            if self.masks is not None:
                raise SpecError("give bbox or masks, not both")
        object.__setattr__(self, "masks", mask_names(self.masks))
        object.__setattr__(self, "margin_px", _margin(self.margin_px, "margin_px"))
        if self.margin_mm is not None:
            check_positive(self.margin_mm, name="margin_mm", allow_zero=True)
            if self.margin_px != 0:
                raise SpecError("give margin_px or margin_mm, not both")

    def at_scale(self, scale: float) -> CropToBBox:
        """Also map `bbox` (inclusive, file pixels) onto the reduced pixels that cover it."""
        scaled = super().at_scale(scale)
        if scale == 1 or self.bbox is None:
            return scaled
        y0, x0, y1, x1 = self.bbox
        box = (
            int(y0 // scale),
            int(x0 // scale),
            int(-(-(y1 + 1) // scale)) - 1,
            int(-(-(x1 + 1) // scale)) - 1,
        )
        object.__setattr__(scaled, "bbox", box)
        return scaled

    def apply(self, sample: Sample, **params: Any) -> Sample:
        geometry = sample.image.geometry
        if self.bbox is not None:
            target: Any = self.bbox
        else:
            target = sample.roi_mask(self.masks)
            if target is None or not target.any():
                raise InputError(
                    f"sample {sample.id!r} has no ROI pixel to crop to; give bbox or add masks"
                )
        spacing = None
        if self.margin_mm is not None:
            if geometry.unit != "mm":
                raise InputError(
                    f"sample {sample.id!r} has no pixel spacing (PixelSpacing (0028,0030) and "
                    "ImagerPixelSpacing (0018,1164) absent); margin_mm needs it, use margin_px"
                )
            spacing = geometry.spacing
        pixels, box = crop_to_bbox(
            sample.image.pixels,
            target,
            margin_px=self.margin_px,
            margin_mm=self.margin_mm,
            spacing_mm=spacing,
        )
        return sample.take_box(box, step=self.step(box=box), pixels=pixels)


@dataclass(frozen=True, kw_only=True)
class CropToForeground(Transform):
    """Crop an image or a volume to the box of its foreground plus a margin.

    The foreground lies above `threshold` (in the image's values; None: Otsu's threshold),
    largest connected component. For CT volumes ``threshold: -500`` keeps the body (the former
    ``crop_to_body`` op, which still builds this one with that default).
    """

    op: ClassVar[str] = "crop_to_foreground"
    pixel_options: ClassVar[tuple[str, ...]] = ("margin_px",)
    threshold: float | None = None
    margin_px: int | tuple[int, ...] = 0

    def __post_init__(self) -> None:
        if isinstance(self.margin_px, (list, tuple)):
            values = checked_tuple(self.margin_px, name="margin_px")
            if len(values) not in (2, 3):
                raise SpecError(f"margin_px needs 1, 2 or 3 values, got {list(values)}")
            for v in values:
                check_positive(v, name="margin_px", allow_zero=True)
            object.__setattr__(self, "margin_px", tuple(int(v) for v in values))
        else:
            check_positive(self.margin_px, name="margin_px", allow_zero=True)
            object.__setattr__(self, "margin_px", int(self.margin_px))
        if self.threshold is not None:
            object.__setattr__(self, "threshold", float(self.threshold))

    def apply(self, sample: Sample, **params: Any) -> Sample:
        need_grey(sample, self.op)
        n = sample.image.geometry.ndim
        if isinstance(self.margin_px, tuple) and len(self.margin_px) != n:
            raise InputError(
                f"margin_px has {len(self.margin_px)} values but sample {sample.id!r} has {n} axes"
            )
        pixels, box = crop_to_foreground(
            sample.image.pixels, threshold=self.threshold, margin_px=self.margin_px
        )
        cut = tuple(slice(box[k], box[n + k] + 1) for k in range(n))
        return sample.map_spatial(
            pixels,
            mask_op=lambda m: m[cut],
            geometry=sample.image.geometry.crop(box[:n]),
            step=self.step(box=list(box)),
        )


def _body_threshold(options: dict[str, Any]) -> dict[str, Any]:
    """``crop_to_body`` defaulted to -500 (HU: above air, below fat)."""
    return {"threshold": -500.0, **options}


register_alias("crop_to_body", "crop_to_foreground", _body_threshold)


@dataclass(frozen=True, kw_only=True)
class PadToSquare(Transform):
    """Pad the short side so that the image is square (masks padded with 0)."""

    op: ClassVar[str] = "pad_to_square"
    fill: float = 0.0
    align: Align = "centre"

    def __post_init__(self) -> None:
        check_choice(self.align, ALIGNS, name="align")

    def apply(self, sample: Sample, **params: Any) -> Sample:
        pixels, box = pad_to_square(sample.image.pixels, fill=self.fill, align=self.align)
        return sample.take_box(box, fill=self.fill, step=self.step(box=box), pixels=pixels)


@dataclass(frozen=True, kw_only=True)
class Resize(Transform):
    """Resize to `size`: stretched, letterboxed (aspect kept, padded), or by the shortest side.

    Images are anti-aliased when shrinking (area averaging); masks use nearest neighbour.
    """

    op: ClassVar[str] = "resize"
    resamples: ClassVar[bool] = True
    size: int | tuple[int, int]
    fit: Fit = "stretch"
    interpolation: Interpolation = "auto"
    fill: float = 0.0
    align: Align = "centre"

    def __post_init__(self) -> None:
        check_choice(self.fit, FITS, name="fit")
        check_choice(self.interpolation, INTERPOLATIONS, name="interpolation")
        check_choice(self.align, ALIGNS, name="align")
        if isinstance(self.size, (list, tuple)):
            object.__setattr__(self, "size", checked_tuple(self.size, name="size", length=2))
        fit_shape((1, 1), self.size, self.fit)  # validates size against fit

    def apply(self, sample: Sample, **params: Any) -> Sample:
        if self.fit != "letterbox":
            new = fit_shape(sample.image.spatial_shape, self.size, self.fit)
            return sample.resize(new, interpolation=self.interpolation, step=self.step(shape=new))
        old = sample.image.spatial_shape
        pixels, letterbox = resize_letterbox(
            sample.image.pixels,
            self.size,
            interpolation=self.interpolation,
            fill=self.fill,
            align=self.align,
        )
        scaled, box = letterbox.scaled_shape, letterbox.box
        return sample.map_spatial(
            pixels,
            mask_op=lambda m: take_box(resize_mask(m, scaled), box, fill=0),
            geometry=sample.image.geometry.resize(old, scaled).crop(box[:2]),
            step=self.step(scaled_shape=scaled, box=box),
        )


LateralitySource = Literal["auto", "header", "labels", "detect"]
LATERALITY_SOURCES: tuple[LateralitySource, ...] = ("auto", "header", "labels", "detect")


@dataclass(frozen=True, kw_only=True)
class FlipToLaterality(Transform):
    """Mirror images (and masks) so that every chest wall is on the `chest_wall` side.

    `source` says where the laterality comes from: ``"header"`` (ImageLaterality, in
    ``image.meta.laterality``), ``"labels"`` (``labels[label_key]``, e.g. CBIS-DDSM's LEFT/RIGHT),
    ``"detect"`` (the side with more tissue), or ``"auto"``: header, then labels, then detect.
    """

    op: ClassVar[str] = "flip_to_laterality"
    chest_wall: Side = "left"
    source: LateralitySource = "auto"
    label_key: str = "laterality"

    def __post_init__(self) -> None:
        check_choice(self.chest_wall, SIDES, name="chest_wall")
        check_choice(self.source, LATERALITY_SOURCES, name="source")

    def _laterality(self, sample: Sample) -> tuple[str | None, str]:
        header = sample.image.meta.laterality
        label = sample.labels.get(self.label_key)
        if self.source in ("header", "auto") and header:
            return header, "header"
        if self.source in ("labels", "auto") and label:
            return str(label), "labels"
        if self.source == "header":
            raise InputError(
                f"sample {sample.id!r} has no ImageLaterality (0020,0062) or Laterality "
                "(0020,0060); use source='labels', 'detect' or 'auto'"
            )
        if self.source == "labels":
            raise InputError(
                f"sample {sample.id!r} has no label {self.label_key!r}; "
                "use source='header', 'detect' or 'auto'"
            )
        return None, "detect"

    def apply(self, sample: Sample, **params: Any) -> Sample:
        laterality, found_in = self._laterality(sample)
        pixels, flipped = flip_to_laterality(
            sample.image.pixels, laterality, chest_wall=self.chest_wall
        )
        step = self.step(flipped=flipped, laterality=laterality, laterality_from=found_in)
        cols = sample.image.spatial_shape[1]
        geometry = sample.image.geometry
        return sample.map_spatial(
            pixels,
            mask_op=(lambda m: flip(m, 1)) if flipped else (lambda m: m),
            geometry=geometry.flip(1, cols) if flipped else geometry,
            step=step,
        )


@dataclass(frozen=True, kw_only=True)
class Rot90(Transform):
    """Rotate image and masks by `k` quarter turns counter-clockwise."""

    op: ClassVar[str] = "rot90"
    k: int = 1

    def __post_init__(self) -> None:
        if int(self.k) != self.k:
            raise SpecError(f"k must be a whole number of quarter turns, got {self.k!r}")
        object.__setattr__(self, "k", int(self.k))

    def apply(self, sample: Sample, **params: Any) -> Sample:
        return sample.rot90(self.k, step=self.step())
