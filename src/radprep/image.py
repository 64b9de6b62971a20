"""The Image type: pixels, where they are, the DICOM facts the pipeline needs, and what was done."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from radprep.geometry import Geometry
from radprep.types import IntensityState

__all__ = ["LUT", "AppliedStep", "Image", "ImageMeta"]


@dataclass(frozen=True)
class AppliedStep:
    """One operation applied to an image: its name and JSON-serialisable parameters."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"name": ..., "params": {...}}``."""
        return {"name": self.name, "params": dict(self.params)}


@dataclass(frozen=True, eq=False)
class LUT:
    """A DICOM lookup table (PS3.3 C.11.1 / C.11.2): descriptor, data and explanation.

    Parameters
    ----------
    descriptor : tuple of int
        (number of entries, first stored value mapped, bits per entry); 0 entries means 65536.
    data : ndarray
        The table, uint16.
    explanation : str
        The LUTExplanation, if any.
    """

    descriptor: tuple[int, int, int]
    data: np.ndarray
    explanation: str = ""


@dataclass(frozen=True)
class ImageMeta:
    """The small, typed set of DICOM facts the pipeline needs.

    Attribute names follow pydicom keywords where one exists. No patient name, ID or date is
    kept here; UIDs are, for provenance (de-identification maps them).
    """

    modality: str | None = None
    photometric_interpretation: str = "MONOCHROME2"
    samples_per_pixel: int = 1
    bits_allocated: int = 16
    bits_stored: int = 16
    pixel_representation: int = 0
    rows: int = 0
    columns: int = 0
    number_of_frames: int = 1
    transfer_syntax_uid: str = ""
    laterality: str | None = None
    view_position: str | None = None
    window_centers: tuple[float, ...] = ()
    window_widths: tuple[float, ...] = ()
    window_explanations: tuple[str, ...] = ()
    voi_lut_function: str | None = None
    voi_luts: tuple[LUT, ...] = ()
    rescale_slope: float | None = None
    rescale_intercept: float | None = None
    rescale_type: str | None = None
    modality_lut: LUT | None = None
    presentation_lut_shape: str | None = None
    presentation_intent_type: str | None = None
    sop_class_uid: str | None = None
    sop_instance_uid: str | None = None
    series_instance_uid: str | None = None
    study_instance_uid: str | None = None
    intensity: IntensityState = "modality"
    decoder: str | None = None  # what decoded the pixels ("native", "imagecodecs-htj2k", ...)

    @property
    def is_color(self) -> bool:
        """True for RGB, YBR_* and PALETTE COLOR sources."""
        return not self.photometric_interpretation.startswith("MONOCHROME")

    @property
    def inverted(self) -> bool:
        """True when low values display bright: MONOCHROME1, or Presentation LUT Shape INVERSE."""
        return (
            self.photometric_interpretation == "MONOCHROME1"
            or (self.presentation_lut_shape or "").upper() == "INVERSE"
        )

    def summary(self) -> dict[str, Any]:
        """Return the JSON-serialisable facts (LUT data left out, their sizes kept)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "voi_luts":
                value = [
                    {"descriptor": list(lut.descriptor), "explanation": lut.explanation}
                    for lut in value
                ]
            elif name == "modality_lut":
                value = None if value is None else {"descriptor": list(value.descriptor)}
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out


@dataclass(frozen=True, eq=False)
class Image:
    """Pixels with their geometry, DICOM facts and history.

    Parameters
    ----------
    pixels : ndarray
        ``(rows, cols)``, ``(frames, rows, cols)``, or with a trailing channel axis of 3 for colour.
    geometry : Geometry
        Spacing, origin and direction of the spatial axes.
    meta : ImageMeta
        DICOM facts; ``meta.intensity`` says what the values mean.
    history : tuple of AppliedStep
        The operations applied since reading, oldest first.
    """

    pixels: np.ndarray
    geometry: Geometry
    meta: ImageMeta = field(default_factory=ImageMeta)
    history: tuple[AppliedStep, ...] = ()

    @property
    def shape(self) -> tuple[int, ...]:
        """The pixel array's shape."""
        return tuple(self.pixels.shape)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """The shape of the spatial axes only (channels dropped)."""
        return tuple(self.pixels.shape[: self.geometry.ndim])

    def evolve(
        self,
        pixels: np.ndarray,
        step: AppliedStep,
        *,
        geometry: Geometry | None = None,
        **meta_changes: Any,
    ) -> Image:
        """Return a new Image with new pixels, one more history step, and optional changes."""
        meta = replace(self.meta, **meta_changes) if meta_changes else self.meta
        return Image(
            pixels=pixels,
            geometry=self.geometry if geometry is None else geometry,
            meta=meta,
            history=(*self.history, step),
        )
