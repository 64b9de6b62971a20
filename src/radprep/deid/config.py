"""`DeidConfig`: the options of a de-identification run (the ``deid:`` section of a recipe).

Options are named as in PS3.15 Annex E (E.3). The default is the one for ML use: the Basic
Profile with Retain Longitudinal Temporal Information with Modified Dates and Retain Patient
Characteristics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from radprep._validate import PSEUDONYM_HASH_FIELD, check_pseudonym_format
from radprep.deid.profile import OptionName

__all__ = [
    "DeidConfig",
    "PixelOcr",
    "PixelRegion",
    "PixelText",
    "QuarantinePolicy",
    "check_id_format",
    "check_name_format",
]

QuarantinePolicy = Literal["report", "hold"]
PixelOcr = Literal["all", "suspect", "off"]
PixelText = Literal["overlay_modalities", "all", "phi"]


class PixelRegion(BaseModel):
    """Rectangles of burned-in text to blank on the images of one device at one image size.

    Attributes
    ----------
    manufacturer : str
        Manufacturer (0008,0070), compared case-insensitively after stripping spaces.
    model : str or None
        ManufacturerModelName (0008,1090); None matches every model of the manufacturer.
    rows, columns : int
        Rows (0028,0010) and Columns (0028,0011) of the images the rectangles apply to.
    rectangles : list of (y0, x0, y1, x1)
        Inclusive pixel boxes (rows y0..y1, columns x0..x1), blanked in every frame.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    manufacturer: str
    model: str | None = None
    rows: int = Field(gt=0)
    columns: int = Field(gt=0)
    rectangles: tuple[tuple[int, int, int, int], ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _inside(self) -> PixelRegion:
        for y0, x0, y1, x1 in self.rectangles:
            if not (0 <= y0 <= y1 < self.rows and 0 <= x0 <= x1 < self.columns):
                raise ValueError(
                    f"rectangle {(y0, x0, y1, x1)} is not inside a {self.rows} x {self.columns} "
                    "image; give inclusive (y0, x0, y1, x1) with 0 <= y0 <= y1 < rows and "
                    "0 <= x0 <= x1 < columns"
                )
        return self

    def matches(self, manufacturer: str, model: str, rows: int, columns: int) -> bool:
        """Return True when this region applies to an image of that device and size."""
        return (
            self.manufacturer.strip().casefold() == manufacturer.strip().casefold()
            and (self.model is None or self.model.strip().casefold() == model.strip().casefold())
            and (self.rows, self.columns) == (rows, columns)
        )


class DeidConfig(BaseModel):
    """De-identification options (PS3.15 Annex E), validated once, immutable.

    Attributes
    ----------
    retain_longitudinal_modified_dates : bool
        Retain Longitudinal Temporal Information with Modified Dates (default on): dates and
        date-times are shifted by a whole number of days per patient, derived from the keyed
        hash of the original PatientID, so intervals survive.
    retain_longitudinal_full_dates : bool
        Retain Longitudinal Temporal Information with Full Dates (dates kept as they are).
        Exclusive with the modified-dates option.
    retain_patient_characteristics : bool
        Retain Patient Characteristics (default on): sex, age (over 89 becomes ``090Y``),
        size, weight, smoking and pregnancy status.
    retain_device_identity, retain_institution_identity, retain_uids, retain_safe_private : bool
        The Retain options of PS3.15 E.3 (default off).
    clean_descriptors : bool
        Clean Descriptors: descriptions are kept but scrubbed of every identifying value found
        in the same data set and of date and ID patterns (default off: they are removed).
    clean_structured_content : bool
        Clean Structured Content: an SR's ContentSequence keeps its tree and its dates follow
        the dates option (default off: the Basic Profile's D, dates become dummies too). Either
        way names and text are replaced by dummies and UIDs by their keyed mapping.
    patient_id_format, accession_number_format : str
        Format of the keyed pseudonyms that replace PatientID and AccessionNumber; ``{hash:N}``
        is the first N characters of the keyed hash (base 32, N from 6 to 52).
    date_shift_max_days : int
        Dates move back by 1 to this many days (a per-patient whole-day shift).
    pixel_cleaning : list of PixelRegion
        Where burned-in text sits, by manufacturer, model and image size. Matching images are
        blanked there (and marked BurnedInAnnotation NO).
    pixel_ocr : {"all", "suspect", "off"}
        Which images are read for burned-in text (:mod:`radprep.deid.pixels`): ``all`` (the
        default), ``suspect`` (overlay modalities and images whose header suggests burned-in
        text), ``off`` (none: images whose header suggests burned-in text are quarantined
        unless a `pixel_cleaning` region applies).
    pixel_text : {"overlay_modalities", "all", "phi"}
        Which text read is cleaned when none of it is PHI (PHI text always is, with all the
        text of its image): ``overlay_modalities`` (US, SC, OT, XA, RF and images whose header
        suggests burned-in text), ``all``, or ``phi`` (only images holding PHI text).
    quarantine : {"report", "hold"}
        What happens to an image that needs pixel review: ``report`` (not written, listed in
        the audit) or ``hold`` (its header-de-identified copy is written under
        `quarantine_dir`, outside the output tree, for a person to check).
    quarantine_dir : Path or None
        Where ``hold`` writes; required with ``hold``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    retain_longitudinal_modified_dates: bool = True
    retain_longitudinal_full_dates: bool = False
    retain_patient_characteristics: bool = True
    retain_device_identity: bool = False
    retain_institution_identity: bool = False
    retain_uids: bool = False
    retain_safe_private: bool = False
    clean_descriptors: bool = False
    clean_structured_content: bool = False
    patient_id_format: str = "P{hash:10}"
    accession_number_format: str = "A{hash:10}"
    date_shift_max_days: int = Field(default=3652, ge=1, le=36500)
    pixel_cleaning: tuple[PixelRegion, ...] = ()
    pixel_ocr: PixelOcr = "all"
    pixel_text: PixelText = "overlay_modalities"
    quarantine: QuarantinePolicy = "report"
    quarantine_dir: Path | None = None

    @field_validator("patient_id_format", "accession_number_format")
    @classmethod
    def _has_hash(cls, fmt: str) -> str:
        check_id_format(fmt)
        return fmt

    @model_validator(mode="after")
    def _consistent(self) -> DeidConfig:
        if self.retain_longitudinal_full_dates and self.retain_longitudinal_modified_dates:
            raise ValueError(
                "retain_longitudinal_full_dates and retain_longitudinal_modified_dates exclude "
                "each other; set one of them to false"
            )
        if self.quarantine == "hold" and self.quarantine_dir is None:
            raise ValueError("quarantine 'hold' needs quarantine_dir (a folder outside the output)")
        if _formatted_length(self.accession_number_format) > 16:
            raise ValueError(
                f"accession_number_format {self.accession_number_format!r} gives more than the "
                "16 characters AccessionNumber (0008,0050) holds (VR SH); shorten it"
            )
        return self

    def options_used(self) -> tuple[str, ...]:
        """Return the names of the options that are on, in the order of PS3.15 E.3."""
        # The profile's option names are in the standard's order; this config has a subset.
        return tuple(n for n in get_args(OptionName) if getattr(self, n, False))


def _formatted_length(fmt: str) -> int:
    (n,) = PSEUDONYM_HASH_FIELD.findall(fmt)
    return len(PSEUDONYM_HASH_FIELD.sub("", fmt)) + int(n or 10)


def check_name_format(fmt: str) -> None:
    """Raise ValueError unless `fmt` is a pseudonym format that is also a safe file name.

    See :func:`radprep._validate.check_pseudonym_format` (with ``file_name=True``).
    """
    check_pseudonym_format(fmt, file_name=True)


def check_id_format(fmt: str) -> None:
    """Raise ValueError unless `fmt` holds one ``{hash:N}`` field and nothing else to format."""
    check_pseudonym_format(fmt)
