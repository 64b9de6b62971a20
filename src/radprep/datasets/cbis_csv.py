"""CBIS-DDSM's four case-description CSVs, read with TCIA's exact schema and its quirks.

``breast density`` in the calc files and ``breast_density`` in the mass files, CRLF rows,
newlines inside quoted paths, ``N/A``/``NA``; out-of-range values are listed as the row's
problems, not dropped. :mod:`radprep.datasets.cbis_ddsm` turns the rows into items.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radprep.errors import SpecError

__all__ = ["CSV_FILES", "PATHOLOGIES", "CaseRow", "parse_case_path", "read_case_csv"]

CSV_FILES = {
    "mass_case_description_train_set.csv": ("mass", "train"),
    "mass_case_description_test_set.csv": ("mass", "test"),
    "calc_case_description_train_set.csv": ("calcification", "train"),
    "calc_case_description_test_set.csv": ("calcification", "test"),
}
PATHOLOGIES = ("MALIGNANT", "BENIGN", "BENIGN_WITHOUT_CALLBACK")
_MISSING = {"", "N/A", "NA", "NAN", "NONE", "NULL"}
# The two spellings TCIA uses for the same columns, mapped to one name.
_COLUMN_ALIASES = {
    "breast density": "breast_density",
    "breast_density": "breast_density",
    "left or right breast": "laterality",
    "image view": "view",
    "abnormality id": "abnormality_id",
    "abnormality type": "abnormality_type",
    "calc type": "calc_type",
    "calc distribution": "calc_distribution",
    "mass shape": "mass_shape",
    "mass margins": "mass_margins",
    "image file path": "image_path",
    "cropped image file path": "crop_path",
    "roi mask file path": "mask_path",
}
_RANGES = {"breast_density": (1, 4), "assessment": (0, 5), "subtlety": (1, 5)}
_CASE = re.compile(r"^(Mass|Calc)-(Training|Test)_(P_\d+)_(LEFT|RIGHT)_(CC|MLO)(?:_(\d+))?$")


@dataclass(frozen=True)
class CaseRow:
    """One abnormality as a CSV row describes it (values cleaned, problems listed)."""

    patient_id: str
    abnormality_id: int
    abnormality_type: str
    official_split: str
    laterality: str
    view: str
    pathology: str
    labels: Mapping[str, Any]
    image_path: str
    crop_path: str
    mask_path: str
    problems: tuple[str, ...] = ()

    @property
    def image_case(self) -> str:
        """The full image's case folder, e.g. ``Mass-Training_P_00001_LEFT_CC``."""
        return self.image_path.split("/", 1)[0]

    @property
    def roi_case(self) -> str:
        """The ROI folder, e.g. ``Mass-Training_P_00001_LEFT_CC_1``."""
        return (self.mask_path or self.crop_path).split("/", 1)[0]


def parse_case_path(path: str) -> dict[str, str] | None:
    """Split a CBIS-DDSM case folder name into its parts (or None if it is not one)."""
    m = _CASE.match(path.split("/", 1)[0].strip())
    if not m:
        return None
    kind, split, patient, side, view, roi = m.groups()
    return {
        "abnormality_type": "mass" if kind == "Mass" else "calcification",
        "official_split": "train" if split == "Training" else "test",
        "patient_id": patient,
        "laterality": side,
        "view": view,
        "roi_number": roi or "",
    }


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    v = " ".join(value.split())  # also removes the newlines TCIA left inside quoted paths
    return None if v.upper() in _MISSING else v


def _number(value: str | None, name: str, problems: list[str]) -> int | None:
    v = _clean(value)
    if v is None:
        return None
    try:
        n = int(float(v))
    except ValueError:
        problems.append(f"{name}={v!r} is not a number")
        return None
    lo, hi = _RANGES.get(name, (None, None))
    if lo is not None and not (lo <= n <= hi):  # type: ignore[operator]
        problems.append(f"{name}={n} is outside {lo}..{hi}")
    return n


_NEEDED = (
    "patient_id",
    "laterality",
    "view",
    "abnormality_id",
    "pathology",
    "image_path",
    "mask_path",
)


def _path(value: str | None) -> str:
    return (_clean(value) or "").replace("\\", "/")


def _case_row(get: Mapping[str, str | None], kind: str, split: str) -> CaseRow:
    """One CSV row (columns under their one name) as a CaseRow, its problems listed."""
    problems: list[str] = []
    pathology = (_clean(get.get("pathology")) or "").upper()
    if pathology not in PATHOLOGIES:
        problems.append(f"pathology={pathology!r} is not one of {', '.join(PATHOLOGIES)}")
    labels = {
        "abnormality_type": kind,
        "pathology": pathology,
        "assessment": _number(get.get("assessment"), "assessment", problems),
        "breast_density": _number(get.get("breast_density"), "breast_density", problems),
        "subtlety": _number(get.get("subtlety"), "subtlety", problems),
        "calc_type": _clean(get.get("calc_type")),
        "calc_distribution": _clean(get.get("calc_distribution")),
        "mass_shape": _clean(get.get("mass_shape")),
        "mass_margins": _clean(get.get("mass_margins")),
    }
    return CaseRow(
        patient_id=_clean(get["patient_id"]) or "",
        abnormality_id=_number(get.get("abnormality_id"), "abnormality_id", problems) or 1,
        abnormality_type=kind,
        official_split=split,
        laterality=(_clean(get["laterality"]) or "").upper(),
        view=(_clean(get["view"]) or "").upper(),
        pathology=pathology,
        labels=labels,
        image_path=_path(get["image_path"]),
        crop_path=_path(get.get("crop_path")),
        mask_path=_path(get["mask_path"]),
        problems=tuple(problems),
    )


def read_case_csv(path: str | Path) -> list[CaseRow]:
    """Read one CBIS-DDSM case-description CSV (mass or calc, train or test).

    Raises
    ------
    SpecError
        If the file name is not one of :data:`CSV_FILES` or a required column is missing.
    """
    p = Path(path)
    if p.name not in CSV_FILES:
        raise SpecError(
            f"{p.name}: not a CBIS-DDSM case file; expected one of {', '.join(CSV_FILES)}"
        )
    kind, split = CSV_FILES[p.name]
    with open(p, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = {(h or "").strip().lower(): h for h in reader.fieldnames or []}
        names = {_COLUMN_ALIASES.get(k, k): v for k, v in header.items()}
        missing = [n for n in _NEEDED if n not in names]
        if missing:
            raise SpecError(
                f"{p.name}: missing column(s) {', '.join(missing)}; is this a CBIS-DDSM CSV?"
            )
        return [_case_row({k: raw.get(v) for k, v in names.items()}, kind, split) for raw in reader]
