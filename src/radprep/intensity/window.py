"""The VOI stage (PS3.3 C.11.2) and inversion (C.7.6.3.1.2, C.11.6): modality values to display.

Display values are "higher is brighter" whatever the source: MONOCHROME1 and Presentation LUT
Shape INVERSE are inverted after the VOI. They are float32 in [0, 1], or quantised straight to
uint8/uint16 when asked (the quantisation is folded into the same table, one pass per image).

The window arithmetic is pydicom's (:func:`~pydicom.pixels.processing.apply_windowing` for LINEAR,
LINEAR_EXACT and SIGMOID; :func:`~pydicom.pixels.processing.apply_voi` for the VOI LUT Sequence),
evaluated once per possible value for integer input. The VOI choices and their resolution for one
image live in :mod:`radprep.intensity.voi` (re-exported here).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_voi as _pydicom_apply_voi
from pydicom.pixels.processing import apply_windowing

from radprep._validate import check_choice
from radprep.errors import InvalidAttributeError
from radprep.image import ImageMeta
from radprep.intensity._lut import apply_pointwise
from radprep.intensity.modality import lut_dataset
from radprep.intensity.voi import (
    CT_PRESETS,
    VOI,
    VOI_FUNCTIONS,
    VOI_MODES,
    ResolvedVOI,
    _check_width,
    resolve_voi,
    value_range,
)
from radprep.types import VOIFunction

__all__ = [
    "CT_PRESETS",
    "VOI",
    "VOI_FUNCTIONS",
    "VOI_MODES",
    "ResolvedVOI",
    "apply_voi",
    "display_function",
    "resolve_voi",
    "value_range",
    "window_values",
]

OutDtype = Literal["float32", "uint8", "uint16"]
_OUT_MAX = {"float32": 1.0, "uint8": 255.0, "uint16": 65535.0}


@functools.lru_cache(maxsize=256)
def _window_setup(meta: ImageMeta, r: ResolvedVOI) -> tuple[Dataset, float, float]:
    """The data set pydicom's apply_windowing reads, and its output range (cached: every slice
    of a series shares them)."""
    ds = lut_dataset(meta)
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.WindowCenter = r.center
    ds.WindowWidth = r.width
    ds.VOILUTFunction = r.function
    with np.errstate(over="ignore"):
        ends = apply_windowing(np.array([-1e300, 1e300]), ds)
    return ds, float(ends[0]), float(ends[1])


def _lut_dataset(meta: ImageMeta, index: int) -> Dataset:
    lut = meta.voi_luts[index]
    n_entries = lut.descriptor[0] or 65536
    if lut.data.size < n_entries:
        raise InvalidAttributeError(
            f"VOILUTSequence (0028,3010) item {index} has {lut.data.size} LUTData entries but its "
            f"LUTDescriptor says {n_entries}; the VOI LUT does not fit; use --window auto or C,W"
        )
    ds = Dataset()
    item = Dataset()
    item.LUTDescriptor = list(lut.descriptor)
    item.LUTData = [int(v) for v in lut.data[:n_entries]]
    item["LUTData"].VR = "US"
    ds.VOILUTSequence = [item]
    return ds


def display_function(
    meta: ImageMeta, r: ResolvedVOI, out_dtype: OutDtype = "float32"
) -> Callable[[np.ndarray], np.ndarray]:
    """Return the pointwise map from modality values to display values for a resolved VOI.

    The map is pydicom's window or VOI LUT, scaled to [0, 1], inverted for MONOCHROME1 or
    Presentation LUT Shape INVERSE, then scaled and rounded to `out_dtype`.
    """
    invert = meta.inverted
    scale = _OUT_MAX[out_dtype]
    dtype = np.dtype(out_dtype)

    if r.kind == "window":
        ds, y_min, y_max = _window_setup(meta, r)

        def core(x: np.ndarray) -> np.ndarray:
            with np.errstate(over="ignore"):
                y = apply_windowing(x, ds)
            return (y - y_min) / (y_max - y_min)

    elif r.kind == "lut":
        ds = _lut_dataset(meta, r.lut_index)
        bits = meta.voi_luts[r.lut_index].descriptor[2]
        full = float((1 << bits) - 1)

        def core(x: np.ndarray) -> np.ndarray:
            if x.dtype.kind == "f":
                x = np.rint(x).astype(np.int32)
            return _pydicom_apply_voi(x, ds, 0).astype(np.float64) / full

    else:
        full = float((1 << meta.bits_stored) - 1) if meta.is_color else 1.0

        def core(x: np.ndarray) -> np.ndarray:
            return x.astype(np.float64) / full

    def fn(x: np.ndarray) -> np.ndarray:
        v = core(x)
        if invert and r.kind != "none":
            v = 1.0 - v
        if dtype.kind == "f":
            return v.astype(dtype)
        return np.rint(np.clip(v, 0.0, 1.0) * scale).astype(dtype)

    return fn


def window_values(
    values: np.ndarray,
    /,
    center: float,
    width: float,
    *,
    function: VOIFunction = "LINEAR",
    out_dtype: OutDtype = "float32",
) -> np.ndarray:
    """Apply one VOI window to modality values (e.g. HU), onto [0, 1]; no inversion.

    The arithmetic is pydicom's ``apply_windowing`` (PS3.3 C.11.2.1.2 LINEAR, C.11.2.1.3
    LINEAR_EXACT and SIGMOID), as in :func:`apply_voi`.

    Raises
    ------
    SpecError
        If `width` is not valid for `function` (LINEAR needs >= 1, the others > 0).
    """
    check_choice(function, VOI_FUNCTIONS, name="VOI function")
    _check_width(width, function, source="the window you gave")
    r = ResolvedVOI("window", float(center), float(width), function, source="given")
    return apply_pointwise(values, display_function(ImageMeta(), r, out_dtype))


def apply_voi(
    values: np.ndarray,
    meta: ImageMeta,
    voi: VOI | ResolvedVOI,
    *,
    out_dtype: OutDtype = "float32",
) -> tuple[np.ndarray, ResolvedVOI]:
    """Map modality values to display values ("higher is brighter").

    Parameters
    ----------
    values : ndarray
        Modality values (stored values when the Modality LUT is the identity).
    meta : ImageMeta
        Photometric interpretation, Presentation LUT Shape and the header's VOI.
    voi : VOI or ResolvedVOI
        What to show.
    out_dtype : {"float32", "uint8", "uint16"}
        float32 in [0, 1], or quantised to the full range of an unsigned type.

    Returns
    -------
    display : ndarray
        Same shape as `values`. With ``mode="none"``, `values` unchanged (colour images are
        scaled to [0, 1] of their bit depth).
    resolved : ResolvedVOI
        The concrete window or LUT used, for the record.
    """
    check_choice(out_dtype, tuple(_OUT_MAX), name="out_dtype")
    r = voi if isinstance(voi, ResolvedVOI) else resolve_voi(values, meta, voi)
    if r.kind == "none" and not meta.is_color:
        return values, r
    fn = display_function(meta, r, out_dtype)
    return apply_pointwise(values, fn), r
