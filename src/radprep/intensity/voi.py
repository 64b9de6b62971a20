"""VOI choices (PS3.3 C.11.2): which values of interest to show, made concrete for one image.

A :class:`VOI` is what a recipe or the CLI asks for (the header's window, a given window, a CT
preset, percentiles, min-max, nothing); :func:`resolve_voi` turns it into a
:class:`ResolvedVOI` for one image (a window, a VOI LUT item, or none), which
:mod:`radprep.intensity.window` applies.
"""

from __future__ import annotations

import re
import sys
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from radprep._validate import check_choice, check_range
from radprep.errors import InvalidAttributeError, RadprepWarning, SpecError
from radprep.image import ImageMeta
from radprep.types import VOIFunction

__all__ = [
    "CT_PRESETS",
    "VOI",
    "VOI_FUNCTIONS",
    "VOI_MODES",
    "ResolvedVOI",
    "resolve_voi",
    "value_range",
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
        return _resolve_preset(meta, voi)
    if voi.mode == "header":
        return _resolve_header(values, meta, voi)
    if voi.mode == "minmax":
        lo, hi = value_range(values)
        return _exact_window(lo, hi, source="min-max")
    lo, hi = _percentile_window(values, *voi.percentiles)
    return _exact_window(lo, hi, source=f"auto:{voi.percentiles[0]:g},{voi.percentiles[1]:g}")


def _resolve_preset(meta: ImageMeta, voi: VOI) -> ResolvedVOI:
    """A named CT window; warns when the image is not CT (its values are not HU)."""
    assert voi.preset is not None
    if meta.modality not in (None, "CT"):
        warnings.warn(
            f"CT window preset {voi.preset!r} applied to a {meta.modality} image, whose values "
            "are not Hounsfield units",
            RadprepWarning,
            stacklevel=3,
        )
    c, w = CT_PRESETS[voi.preset]
    return ResolvedVOI("window", c, w, "LINEAR", source=f"preset:{voi.preset}")


def _resolve_header(values: np.ndarray, meta: ImageMeta, voi: VOI) -> ResolvedVOI:
    """The header's VOI LUT item or window number `voi.index`; min-max (warned) with neither."""
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
                f"VOILUTFunction (0028,1056) {func!r} is not defined by the standard; used LINEAR",
                RadprepWarning,
                stacklevel=3,
            )
            func = "LINEAR"
        c, w = meta.window_centers[voi.index], meta.window_widths[voi.index]
        _check_width(w, func, source="the header")
        return ResolvedVOI("window", c, w, func, source="header window")  # type: ignore[arg-type]
    warnings.warn(
        "no window in the header (WindowCenter (0028,1050), VOILUTSequence (0028,3010)); "
        "used the image's min-max range",
        RadprepWarning,
        stacklevel=3,
    )
    lo, hi = value_range(values)
    return _exact_window(lo, hi, source="min-max (no header window)")


def _exact_window(lo: float, hi: float, *, source: str) -> ResolvedVOI:
    # LINEAR_EXACT with c = (lo + hi) / 2 and w = hi - lo maps lo to 0 and hi to full scale.
    width = max(hi - lo, 1e-6)
    return ResolvedVOI("window", (lo + hi) / 2.0, width, "LINEAR_EXACT", source=source)
