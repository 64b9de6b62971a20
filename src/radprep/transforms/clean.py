"""Cleaning transforms: border residue, burned-in labels, the pectoral muscle, CLAHE (image
only)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from radprep._validate import check_choice, check_positive
from radprep.clean.border import remove_border_residue
from radprep.clean.breast import breast_mask, keep_breast
from radprep.clean.contrast import clahe
from radprep.clean.foreground import foreground_mask
from radprep.clean.labels import remove_labels
from radprep.clean.pectoral import pectoral_mask
from radprep.errors import RadprepWarning
from radprep.sample import Sample
from radprep.transforms.base import Transform, checked_tuple

__all__ = ["CLAHE", "RemoveBorderResidue", "RemoveLabels", "RemovePectoral"]

KeepMask = Literal["foreground", "breast"]
KEEP_MASKS: tuple[KeepMask, ...] = ("foreground", "breast")


def _keep_mask(pixels: np.ndarray, kind: str) -> np.ndarray:
    """Return the region a cleaning step must not touch: the breast or the foreground."""
    return breast_mask(pixels) if kind == "breast" else foreground_mask(pixels)


def _warn_rois_outside(sample: Sample, keep: np.ndarray, kind: str) -> int:
    """Warn, naming the sample, when ROI pixels lie outside `keep`; return how many."""
    outside = 0
    for name, m in sample.masks.items():
        roi = m > 0
        n = int(np.count_nonzero(roi & ~keep))
        if n:
            outside += n
            share = n / max(1, int(np.count_nonzero(roi)))
            warnings.warn(
                f"sample {sample.id!r}: {share:.0%} of ROI {name!r} lies outside the detected "
                f"{kind} and was set to background; check the {kind} mask or the ROI",
                RadprepWarning,
                stacklevel=3,
            )
    return outside


@dataclass(frozen=True, kw_only=True)
class RemoveBorderResidue(Transform):
    """Set maximal-value strips that touch the border to `fill` (the notebook's 255 -> 0).

    With ``keep="breast"`` the breast (:func:`radprep.clean.breast_mask`) is never touched: a
    saturated calcification at the chest wall stays; the next step that asks for the breast of
    the cleaned image gets that same mask (:func:`radprep.clean.breast.keep_breast`).
    """

    op: ClassVar[str] = "remove_border_residue"
    value: float | None = None
    tolerance: float = 0.0
    fill: float = 0.0
    keep: Literal["none", "breast"] = "none"

    def __post_init__(self) -> None:
        check_positive(self.tolerance, name="tolerance", allow_zero=True)
        check_choice(self.keep, ("none", "breast"), name="keep")

    def apply(self, sample: Sample, **params: Any) -> Sample:
        pixels = sample.image.pixels
        out = remove_border_residue(
            pixels, value=self.value, tolerance=self.tolerance, fill=self.fill
        )
        if out is not pixels and self.keep == "breast":
            breast = breast_mask(pixels)
            np.copyto(out, pixels, where=breast)
            keep_breast(out, breast)  # only pixels outside it changed: the same breast
        return sample.with_pixels(out, self.step())


@dataclass(frozen=True, kw_only=True)
class RemoveLabels(Transform):
    """Set everything outside the foreground, or the breast, to `fill`; nothing inside changes.

    ``mask="breast"`` keeps the whole breast to the skin line (:func:`radprep.clean.breast_mask`);
    ``"foreground"`` the largest component above Otsu's threshold (radiographs). An ROI reaching
    outside the kept region is set to background with the rest, with a warning naming the
    sample: either the mask or the ROI is wrong. The step records how many pixels it cleared.
    The breast is the sample's own: computed once, on the image as read, when an earlier step
    kept it (``remove_border_residue keep: breast``).
    """

    op: ClassVar[str] = "remove_labels"
    fill: float = 0.0
    mask: KeepMask = "foreground"

    def __post_init__(self) -> None:
        check_choice(self.mask, KEEP_MASKS, name="mask")

    def apply(self, sample: Sample, **params: Any) -> Sample:
        pixels = sample.image.pixels
        keep = _keep_mask(pixels, self.mask)
        outside = _warn_rois_outside(sample, keep, self.mask)
        out = remove_labels(pixels, mask=keep, fill=self.fill)
        if self.mask == "breast":
            keep_breast(out, keep)  # only pixels outside it changed: the same breast
        cleared = int(np.count_nonzero(out != pixels))
        return sample.with_pixels(out, self.step(cleared_px=cleared, roi_px_outside=outside))


@dataclass(frozen=True, kw_only=True)
class RemovePectoral(Transform):
    """Set the pectoral muscle of MLO views to `fill` (:func:`radprep.clean.pectoral_mask`).

    The view comes from the labels (``labels[view_key]``, CBIS-DDSM's ``view``) or the header's
    ViewPosition (0018,5101); other views pass unchanged. The step records the muscle's share
    of the breast.
    """

    op: ClassVar[str] = "remove_pectoral"
    fill: float = 0.0
    view_key: str = "view"

    def apply(self, sample: Sample, **params: Any) -> Sample:
        view = sample.labels.get(self.view_key) or sample.image.meta.view_position or ""
        pixels = sample.image.pixels
        if str(view).upper() != "MLO" or pixels.ndim != 2:
            return sample.with_pixels(pixels, self.step(view=str(view), removed=0.0))
        breast = breast_mask(pixels)
        muscle = pectoral_mask(pixels, breast=breast)
        out = pixels.copy()
        out[muscle] = self.fill
        share = float(np.count_nonzero(muscle)) / max(1, int(np.count_nonzero(breast)))
        return sample.with_pixels(out, self.step(view="MLO", removed=round(share, 4)))


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
