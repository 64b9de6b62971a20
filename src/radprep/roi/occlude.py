"""Occlusion after Zeiler & Fergus: black out the ROI's box plus a buffer."""

from __future__ import annotations

from typing import Literal

import numpy as np

from radprep._validate import check_array, check_positive
from radprep.errors import SpecError
from radprep.roi.bbox import as_bbox, bbox_slices, expand_bbox
from radprep.types import BBox

__all__ = ["OcclusionFill", "occlude_roi", "occlusion_box"]

OcclusionFill = float | Literal["mean", "noise"]


def occlusion_box(roi_box: BBox, /, shape: tuple[int, ...], *, buffer_px: int = 50) -> BBox:
    """Return the inclusive box occluded for `roi_box`: grown by `buffer_px`, clipped to `shape`.

    The notebook's ``img[y0-50:y1+50, x0-50:x1+50] = 0`` stops one pixel short at the bottom
    and right (slice ends are exclusive while y1 and x1 are inclusive) and wraps around for an
    ROI near the top or left (negative starts); this box covers ``y0 - buffer .. y1 + buffer``
    inclusive, clipped.
    """
    check_positive(buffer_px, name="buffer_px", allow_zero=True)
    return expand_bbox(roi_box, int(buffer_px), shape=shape)


def occlude_roi(
    image: np.ndarray,
    /,
    roi: BBox | np.ndarray,
    *,
    buffer_px: int = 50,
    fill: OcclusionFill = 0,
    seed: int | None = 0,
) -> np.ndarray:
    """Replace the ROI's box plus a buffer with a constant, the image mean, or noise.

    Parameters
    ----------
    image : ndarray
        ``(rows, cols)`` or ``(rows, cols, channels)``.
    roi : BBox or ndarray
        The inclusive ROI box, or a mask on the image's grid (boxed with all its components).
    buffer_px : int
        Pixels added on every side of the box (the notebook's 50); clipped to the image.
    fill : float or {"mean", "noise"}
        A constant (the notebook's 0); ``"mean"``: the image's mean (per channel);
        ``"noise"``: Gaussian noise with the image's mean and standard deviation, clipped to the
        dtype's range.
    seed : int, optional
        Seed of the noise generator; the same seed gives the same noise.

    Returns
    -------
    ndarray
        A new image; only the occluded box differs from the input.

    Raises
    ------
    SpecError
        If `fill` is an unknown word, `buffer_px` is negative, or the box is malformed.
    InputError
        If a mask does not share the image's grid or is empty.
    """
    check_array(image)
    if isinstance(fill, str) and fill not in ("mean", "noise"):
        raise SpecError(f"fill={fill!r} is not valid; choose a number, 'mean' or 'noise'")
    box = occlusion_box(as_bbox(roi, image.shape), image.shape, buffer_px=buffer_px)
    out = image.copy()
    out[bbox_slices(box)] = _fill_value(image, box, fill, seed)
    return out


def _fill_value(
    image: np.ndarray, box: BBox, fill: OcclusionFill, seed: int | None
) -> float | np.ndarray:
    """What goes in the box: the constant, the image's mean (per channel) or Gaussian noise
    with its mean and standard deviation; rounded and clipped to an integer dtype's range."""
    if fill != "mean" and fill != "noise":
        return fill
    axes = (0, 1)
    mean = image.mean(axis=axes, dtype=np.float64)
    if fill == "mean":
        value = mean
    else:
        std = image.std(axis=axes, dtype=np.float64)
        rng = np.random.default_rng(seed)
        shape = (box[2] - box[0] + 1, box[3] - box[1] + 1, *image.shape[2:])
        value = rng.normal(mean, std, size=shape)
    if image.dtype.kind in "ui":
        info = np.iinfo(image.dtype)
        value = np.clip(np.rint(value), info.min, info.max)
    return value
