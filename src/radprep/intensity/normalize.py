"""Normalisation: z-score, min-max and percentile clipping, each optionally inside a mask.

Statistics come from the pixels inside the mask (all pixels without one); the mapping is applied
to every pixel, and `outside`, when given, overwrites the pixels outside the mask (nnU-Net sets
them to 0 when it normalises inside the foreground). Output is float32.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from radprep._dtype import as_float32
from radprep._validate import check_array, check_positive, check_range
from radprep.errors import InputError, SpecError

__all__ = ["CTStats", "ct_foreground_stats", "ct_normalize", "minmax", "percentile_clip", "zscore"]


def _inside(image: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the pixel values the statistics use, and the mask as bool (None without one)."""
    if mask is None:
        return image, None
    if tuple(mask.shape) != tuple(image.shape[: mask.ndim]) or mask.ndim not in (2, 3):
        raise InputError(
            f"mask has shape {mask.shape} but the image is {image.shape}; "
            "masks must share the image's grid"
        )
    keep = mask if mask.dtype == bool else mask != 0
    if not keep.any():
        raise InputError("mask is empty: no pixel to compute the statistics from")
    return image[keep], keep


def _finish(out: np.ndarray, keep: np.ndarray | None, outside: float | None) -> np.ndarray:
    if keep is not None and outside is not None:
        out[~keep] = outside
    return out


def zscore(
    image: np.ndarray,
    /,
    *,
    mask: np.ndarray | None = None,
    outside: float | None = None,
    eps: float = 1e-8,
) -> np.ndarray:
    """Subtract the mean and divide by the standard deviation (of the pixels inside `mask`).

    Parameters
    ----------
    image : ndarray
        Any numeric image.
    mask : ndarray, optional
        2D mask on the image's grid; the statistics use its nonzero pixels only.
    outside : float, optional
        Value written outside the mask (nnU-Net: 0); by default they are normalised too.
    eps : float
        Floor of the standard deviation, so a constant image gives zeros, not NaN.

    Returns
    -------
    ndarray of float32
    """
    check_array(image)
    check_positive(eps, name="eps")
    values, keep = _inside(image, mask)
    mean = float(np.mean(values, dtype=np.float64))
    std = max(float(np.std(values, dtype=np.float64)), float(eps))
    out = (as_float32(image) - np.float32(mean)) / np.float32(std)
    return _finish(out, keep, outside)


def minmax(
    image: np.ndarray,
    /,
    *,
    mask: np.ndarray | None = None,
    out_range: tuple[float, float] = (0.0, 1.0),
    outside: float | None = None,
) -> np.ndarray:
    """Map the min..max (inside `mask`) linearly onto `out_range`.

    Pixels outside the mask may fall outside `out_range`; they are not clipped. A constant
    image maps to ``out_range[0]``.

    Raises
    ------
    SpecError
        If `out_range` is not (low, high) with low < high.
    """
    check_array(image)
    lo_out, hi_out = (float(v) for v in out_range)
    if not hi_out > lo_out:
        raise SpecError(f"out_range={out_range!r} is empty; give (low, high) with low < high")
    values, keep = _inside(image, mask)
    lo, hi = float(np.min(values)), float(np.max(values))
    scale = (hi_out - lo_out) / (hi - lo) if hi > lo else 0.0
    out = (as_float32(image) - np.float32(lo)) * np.float32(scale) + np.float32(lo_out)
    return _finish(out, keep, outside)


def percentile_clip(
    image: np.ndarray,
    /,
    *,
    lower: float = 0.5,
    upper: float = 99.5,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Clip to the `lower` and `upper` percentiles (nnU-Net's 0.5 and 99.5) inside `mask`.

    Returns
    -------
    ndarray of float32
        The clipped values, not rescaled (follow with :func:`zscore` or :func:`minmax`).

    Raises
    ------
    SpecError
        If the percentiles are outside 0..100 or ``lower > upper``.
    """
    check_array(image)
    check_range(lower, 0, 100, name="lower")
    check_range(upper, 0, 100, name="upper")
    if lower > upper:
        raise SpecError(f"lower={lower} is above upper={upper}; need lower <= upper")
    values, _ = _inside(image, mask)
    lo, hi = np.percentile(values, [lower, upper])
    return np.clip(as_float32(image), np.float32(lo), np.float32(hi))


@dataclass(frozen=True)
class CTStats:
    """Foreground intensity statistics, as nnU-Net's dataset fingerprint keeps them.

    Attributes
    ----------
    lower, upper : float
        The clipping bounds: percentiles of the foreground values (nnU-Net: 0.5 and 99.5).
    mean, std : float
        Mean and standard deviation of the foreground values (before clipping).
    """

    lower: float
    upper: float
    mean: float
    std: float

    def to_list(self) -> list[float]:
        """Return ``[lower, upper, mean, std]``, the form recipes give."""
        return [self.lower, self.upper, self.mean, self.std]


def _foreground_values(image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    check_array(image, ndim=(2, 3))
    if mask is None:
        return image.ravel()
    if tuple(mask.shape) != tuple(image.shape):
        raise InputError(
            f"mask has shape {mask.shape} but the image is {image.shape}; "
            "masks must share the image's grid"
        )
    keep = mask if mask.dtype == bool else mask != 0
    if not keep.any():
        raise InputError("mask is empty: no foreground voxel to compute the statistics from")
    return image[keep]


def ct_foreground_stats(
    pairs: Iterable[tuple[np.ndarray, np.ndarray | None]],
    /,
    *,
    lower: float = 0.5,
    upper: float = 99.5,
) -> CTStats:
    """Return the foreground statistics of a set of CT images, as nnU-Net's fingerprint does.

    Parameters
    ----------
    pairs : iterable of (image, mask)
        Images in Hounsfield units with their foreground (label > 0) masks, 2D or 3D; a mask of
        None uses every voxel.
    lower, upper : float
        Percentiles of the clipping bounds.

    Raises
    ------
    InputError
        If there is no foreground voxel at all.
    """
    check_range(lower, 0, 100, name="lower")
    check_range(upper, 0, 100, name="upper")
    if lower > upper:
        raise SpecError(f"lower={lower} is above upper={upper}; need lower <= upper")
    chunks = [
        _foreground_values(image, mask).astype(np.float64, copy=False) for image, mask in pairs
    ]
    if not chunks:
        raise InputError("no image given: the statistics need at least one (image, mask) pair")
    values = np.concatenate(chunks)
    lo, hi = np.percentile(values, [lower, upper])
    return CTStats(float(lo), float(hi), float(np.mean(values)), float(np.std(values)))


def ct_normalize(
    image: np.ndarray,
    /,
    *,
    mask: np.ndarray | None = None,
    stats: CTStats | None = None,
    lower: float = 0.5,
    upper: float = 99.5,
    eps: float = 1e-8,
) -> np.ndarray:
    """Clip to foreground percentiles, then z-score with the foreground mean and std (nnU-Net).

    nnU-Net's ``CTNormalization`` takes the 0.5 and 99.5 percentiles, mean and standard
    deviation of the foreground (labelled) voxels over the whole training set, clips every
    image to the percentiles and z-scores it. Give those dataset statistics as `stats`
    (:func:`ct_foreground_stats`), or let them come from this image's `mask`.

    Parameters
    ----------
    image : ndarray
        2D or 3D, Hounsfield units.
    mask : ndarray, optional
        The foreground on the image's grid (used when `stats` is None); all voxels without one.
    stats : CTStats, optional
        Dataset-level statistics; `mask`, `lower` and `upper` are then unused.
    lower, upper : float
        Percentiles of the clipping bounds.
    eps : float
        Floor of the standard deviation.

    Returns
    -------
    ndarray of float32
    """
    check_positive(eps, name="eps")
    if stats is None:
        stats = ct_foreground_stats([(image, mask)], lower=lower, upper=upper)
    else:
        check_array(image, ndim=(2, 3))
    if stats.lower > stats.upper:
        raise SpecError(f"stats lower={stats.lower} is above upper={stats.upper}")
    out = np.clip(as_float32(image), np.float32(stats.lower), np.float32(stats.upper))
    out -= np.float32(stats.mean)
    out /= np.float32(max(stats.std, float(eps)))
    return out
