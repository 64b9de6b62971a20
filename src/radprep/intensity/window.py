"""The VOI stage (PS3.3 C.11.2) and inversion (C.7.6.3.1.2, C.11.6): modality values to display.

Display values are "higher is brighter" whatever the source: MONOCHROME1 and Presentation LUT
Shape INVERSE are inverted after the VOI. They are float32 in [0, 1], or quantised straight to
uint8/uint16 when asked (the quantisation is folded into the same table, one pass per image).

The window arithmetic is pydicom's (:func:`~pydicom.pixels.processing.apply_windowing` for LINEAR,
LINEAR_EXACT and SIGMOID; :func:`~pydicom.pixels.processing.apply_voi` for the VOI LUT Sequence),
evaluated once per possible value for integer input.
"""

from __future__ import annotations

import functools
import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_voi as _pydicom_apply_voi
from pydicom.pixels.processing import apply_windowing

from radprep._validate import check_choice, check_range
from radprep.errors import InvalidAttributeError, RadprepWarning, SpecError
from radprep.image import ImageMeta
from radprep.intensity._lut import apply_pointwise
from radprep.intensity.modality import lut_dataset
from radprep.types import VOIFunction

__all__ = [
    "CT_PRESETS",
    "VOI",
    "ResolvedVOI",
    "apply_voi",
    "resolve_voi",
    "value_range",
    "window_values",
]

VOIMode = Literal["header", "window", "preset", "auto", "minmax", "none"]
VOI_MODES: tuple[VOIMode, ...] = ("header", "window", "preset", "auto", "minmax", "none")
VOI_FUNCTIONS: tuple[VOIFunction, ...] = ("LINEAR", "LINEAR_EXACT", "SIGMOID")

# Common CT display windows in Hounsfield units (centre, width), as radiologists use them
# (Radiopaedia, "Windowing (CT)"); brain, subdural and bone as radprep's three-window default.
CT_PRESETS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "subdural": (80.0, 200.0),
    "stroke": (40.0, 40.0),
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "abdomen": (50.0, 400.0),
    "liver": (30.0, 150.0),
    "bone": (600.0, 2800.0),
}

OutDtype = Literal["float32", "uint8", "uint16"]
_OUT_MAX = {"float32": 1.0, "uint8": 255.0, "uint16": 65535.0}


@dataclass(frozen=True)
class VOI:
    """Which values of interest to show, and how.

    Parameters
    ----------
    mode : {"header", "window", "preset", "auto", "minmax", "none"}
        ``header``: the file's VOI LUT Sequence item or window number `index` (the VOI LUT
        Sequence is preferred when both are present, as pydicom does; with neither, min-max
        with a warning). ``window``: `center`/`width` given here. ``preset``: a named CT window
        (:data:`CT_PRESETS`). ``auto``: a window over the `percentiles` of the image.
        ``minmax``: the image's full range. ``none``: keep modality values.
    index : int
        Which header window or VOI LUT (0-based).
    center, width : float
        For ``window``.
    function : {"LINEAR", "LINEAR_EXACT", "SIGMOID"}
        The VOI LUT Function for ``window`` (the header's own for ``header``).
    preset : str
        For ``preset``.
    percentiles : (float, float)
        For ``auto``.
    """

    mode: VOIMode = "header"
    index: int = 0
    center: float | None = None
    width: float | None = None
    function: VOIFunction = "LINEAR"
    preset: str | None = None
    percentiles: tuple[float, float] = (0.5, 99.5)

    def __post_init__(self) -> None:
        check_choice(self.mode, VOI_MODES, name="window mode")
        check_choice(self.function, VOI_FUNCTIONS, name="VOI function")
        if self.mode == "window":
            if self.center is None or self.width is None:
                raise SpecError("a window needs both a centre and a width, e.g. '40,400'")
            _check_width(self.width, self.function, source="the window you gave")
        if self.mode == "preset":
            check_choice(self.preset, tuple(CT_PRESETS), name="window preset")
        if self.mode == "header" and self.index < 0:
            raise SpecError(f"header window index must be >= 0, got {self.index}")
        lo, hi = self.percentiles
        check_range(lo, 0.0, 100.0, name="lower percentile")
        check_range(hi, 0.0, 100.0, name="upper percentile")
        if lo >= hi:
            raise SpecError(f"percentiles must rise, got {lo} and {hi}")

    @classmethod
    def parse(cls, text: str) -> VOI:
        """Parse the CLI form of a VOI choice.

        ``header`` or ``header:N``; ``C,W`` or ``C,W,FUNCTION`` (e.g. ``40,400`` or
        ``40,400,SIGMOID``); a preset name (``lung``); ``auto`` or ``auto:P1,P2``; ``minmax``;
        ``none``.

        Raises
        ------
        SpecError
            With the accepted forms listed.
        """
        t = text.strip()
        low = t.lower()
        if low == "header":
            return cls("header")
        if m := re.fullmatch(r"header:(\d+)", low):
            return cls("header", index=int(m.group(1)))
        if low in CT_PRESETS:
            return cls("preset", preset=low)
        if low in ("auto", "minmax", "none"):
            return cls(low)  # type: ignore[arg-type]
        if m := re.fullmatch(r"auto:([-+0-9.eE]+),([-+0-9.eE]+)", low):
            return cls("auto", percentiles=(float(m.group(1)), float(m.group(2))))
        parts = [p.strip() for p in t.split(",")]
        if len(parts) in (2, 3):
            try:
                center, width = float(parts[0]), float(parts[1])
            except ValueError:
                pass
            else:
                func = parts[2].upper() if len(parts) == 3 else "LINEAR"
                return cls("window", center=center, width=width, function=func)  # type: ignore[arg-type]
        presets = ", ".join(CT_PRESETS)
        raise SpecError(
            f"window {text!r} is not understood; use header, header:N, C,W, C,W,FUNCTION, auto, "
            f"auto:P1,P2, minmax, none, or a preset ({presets})"
        )

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-serialisable parameters that matter for this mode."""
        out: dict[str, object] = {"mode": self.mode}
        if self.mode == "header":
            out["index"] = self.index
        elif self.mode == "window":
            out.update(center=self.center, width=self.width, function=self.function)
        elif self.mode == "preset":
            out["preset"] = self.preset
        elif self.mode == "auto":
            out["percentiles"] = list(self.percentiles)
        return out


@dataclass(frozen=True)
class ResolvedVOI:
    """A VOI choice made concrete for one image: a window, a VOI LUT item, or nothing."""

    kind: Literal["window", "lut", "none"]
    center: float = 0.0
    width: float = 0.0
    function: VOIFunction = "LINEAR"
    lut_index: int = 0
    source: str = ""

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-serialisable description recorded in the image's history."""
        if self.kind == "window":
            return {
                "kind": "window",
                "center": self.center,
                "width": self.width,
                "function": self.function,
                "source": self.source,
            }
        if self.kind == "lut":
            return {"kind": "lut", "index": self.lut_index, "source": self.source}
        return {"kind": "none", "source": self.source}


def _check_width(width: float, function: str, *, source: str) -> None:
    # PS3.3 C.11.2.1.2.1: LINEAR needs width >= 1; C.11.2.1.3: LINEAR_EXACT and SIGMOID > 0.
    bound = 1.0 if function == "LINEAR" else 0.0
    ok = width >= 1.0 if function == "LINEAR" else width > 0.0
    if not (np.isfinite(width) and ok):
        rel = ">= 1" if bound else "> 0"
        msg = (
            f"WindowWidth (0028,1051) is {width:g} in {source}; "
            f"{function} windowing needs width {rel}"
        )
        if source.startswith("the window you gave"):
            raise SpecError(msg + "; give a larger width")
        raise InvalidAttributeError(
            msg + "; choose another window (--window auto, C,W or a preset)"
        )


_MINMAX_DTYPES = (np.uint8, np.uint16, np.int16, np.float32)


def value_range(values: np.ndarray) -> tuple[float, float]:
    """Return the finite minimum and maximum of `values` (one pass for 2D images)."""
    # OpenCV finds both in one pass where numpy makes two; the same numbers either way, so it is
    # used when a pipeline has loaded it already, and `radprep info` does not pay its import.
    cv2 = sys.modules.get("cv2")
    if cv2 is not None and values.ndim == 2 and values.dtype in _MINMAX_DTYPES:
        lo, hi, _, _ = cv2.minMaxLoc(values)
        return float(lo), float(hi)
    finite = values if values.dtype.kind in "ui" else values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 0.0
    return float(finite.min()), float(finite.max())


def _percentile_window(values: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    # A regular subsample is plenty for a display window and keeps this cheap on 13 MP images.
    step = max(1, int(np.sqrt(values.size / 2_000_000)))
    sample = values[..., ::step, ::step] if values.ndim >= 2 else values
    p_lo, p_hi = np.percentile(sample, [lo, hi])
    return float(p_lo), float(p_hi)


def resolve_voi(values: np.ndarray, meta: ImageMeta, voi: VOI) -> ResolvedVOI:
    """Make a VOI choice concrete for one image.

    Parameters
    ----------
    values : ndarray
        The image's modality values (used only by ``auto`` and ``minmax``, and by ``header``
        when it falls back to min-max).
    meta : ImageMeta
        The header's windows and VOI LUTs.
    voi : VOI
        The choice.

    Returns
    -------
    ResolvedVOI

    Raises
    ------
    InvalidAttributeError
        If the header's window at `index` has an unusable width.
    SpecError
        If `index` asks for a window the header does not have.
    """
    if voi.mode == "none" or meta.is_color:
        return ResolvedVOI("none", source="none" if voi.mode == "none" else "colour image")
    if voi.mode == "window":
        assert voi.center is not None and voi.width is not None
        return ResolvedVOI("window", voi.center, voi.width, voi.function, source="given")
    if voi.mode == "preset":
        assert voi.preset is not None
        if meta.modality not in (None, "CT"):
            warnings.warn(
                f"CT window preset {voi.preset!r} applied to a {meta.modality} image, whose values "
                "are not Hounsfield units",
                RadprepWarning,
                stacklevel=2,
            )
        c, w = CT_PRESETS[voi.preset]
        return ResolvedVOI("window", c, w, "LINEAR", source=f"preset:{voi.preset}")
    if voi.mode == "header":
        if meta.voi_luts:
            if voi.index >= len(meta.voi_luts):
                raise SpecError(
                    f"VOILUTSequence (0028,3010) has {len(meta.voi_luts)} item(s); "
                    f"there is no VOI LUT {voi.index}"
                )
            return ResolvedVOI("lut", lut_index=voi.index, source="header VOILUTSequence")
        if meta.window_centers and meta.window_widths:
            n = min(len(meta.window_centers), len(meta.window_widths))
            if voi.index >= n:
                raise SpecError(
                    f"the header has {n} window(s) in WindowCenter (0028,1050); "
                    f"there is no window {voi.index}"
                )
            func = (meta.voi_lut_function or "LINEAR").upper()
            if func not in VOI_FUNCTIONS:
                warnings.warn(
                    f"VOILUTFunction (0028,1056) {func!r} is not defined by the standard; "
                    "used LINEAR",
                    RadprepWarning,
                    stacklevel=2,
                )
                func = "LINEAR"
            c, w = meta.window_centers[voi.index], meta.window_widths[voi.index]
            _check_width(w, func, source="the header")
            return ResolvedVOI("window", c, w, func, source="header window")  # type: ignore[arg-type]
        warnings.warn(
            "no window in the header (WindowCenter (0028,1050), VOILUTSequence (0028,3010)); "
            "used the image's min-max range",
            RadprepWarning,
            stacklevel=2,
        )
        lo, hi = value_range(values)
        return _exact_window(lo, hi, source="min-max (no header window)")
    if voi.mode == "minmax":
        lo, hi = value_range(values)
        return _exact_window(lo, hi, source="min-max")
    lo, hi = _percentile_window(values, *voi.percentiles)
    return _exact_window(lo, hi, source=f"auto:{voi.percentiles[0]:g},{voi.percentiles[1]:g}")


def _exact_window(lo: float, hi: float, *, source: str) -> ResolvedVOI:
    # LINEAR_EXACT with c = (lo + hi) / 2 and w = hi - lo maps lo to 0 and hi to full scale.
    width = max(hi - lo, 1e-6)
    return ResolvedVOI("window", (lo + hi) / 2.0, width, "LINEAR_EXACT", source=source)


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
