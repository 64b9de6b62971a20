"""PS3.15 Table E.1-1 (the Application Level Confidentiality Profile) as package data.

The table ships as ``ps3.15_table_e1-1.json`` beside this module (source and licence inside the
file and in ``LICENSE-dicom-standard-json.txt``). Each of its 621 rows names an attribute by tag
(``(gggg,eeee)``, with ``XX`` wildcards for repeating groups such as ``(50XX,XXXX)``), gives the
Basic Profile action and, for some options, the action that replaces it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Literal

__all__ = [
    "OPTION_COLUMNS",
    "OptionName",
    "Profile",
    "ProfileEntry",
    "load_profile",
]

OptionName = Literal[
    "retain_safe_private",
    "retain_uids",
    "retain_device_identity",
    "retain_institution_identity",
    "retain_patient_characteristics",
    "retain_longitudinal_full_dates",
    "retain_longitudinal_modified_dates",
    "clean_descriptors",
    "clean_structured_content",
    "clean_graphics",
]

# Option name (as in DeidConfig) -> column of the table (innolitics' key).
OPTION_COLUMNS: dict[str, str] = {
    "retain_safe_private": "rtnSafePrivOpt",
    "retain_uids": "rtnUIDsOpt",
    "retain_device_identity": "rtnDevIdOpt",
    "retain_institution_identity": "rtnInstIdOpt",
    "retain_patient_characteristics": "rtnPatCharsOpt",
    "retain_longitudinal_full_dates": "rtnLongFullDatesOpt",
    "retain_longitudinal_modified_dates": "rtnLongModifDatesOpt",
    "clean_descriptors": "cleanDescOpt",
    "clean_structured_content": "cleanStructContOpt",
    "clean_graphics": "cleanGraphOpt",
}

_PRIVATE_ROW = "(GGGG,EEEE) WHERE GGGG IS ODD"


@dataclass(frozen=True)
class ProfileEntry:
    """One row of Table E.1-1.

    Attributes
    ----------
    tag : str
        As printed in the standard, ``(0010,0010)`` or ``(50XX,XXXX)``.
    name : str
        The attribute name in the standard.
    basic : str
        The Basic Profile action: D, Z, X, K, C, U or a combined code (X/Z, X/D, Z/D, X/Z/D,
        X/Z/U*).
    options : dict
        Option name (see :data:`OPTION_COLUMNS`) -> the action under that option.
    """

    tag: str
    name: str
    basic: str
    options: dict[str, str] = field(default_factory=dict)


class Profile:
    """Table E.1-1 indexed for lookup by integer tag (exact rows first, then wildcard rows)."""

    def __init__(self, entries: list[ProfileEntry], source: str) -> None:
        self.entries = entries
        self.source = source
        self._exact: dict[int, ProfileEntry] = {}
        self._wild: list[tuple[int, int, ProfileEntry]] = []
        self.private: ProfileEntry | None = None
        for e in entries:
            if e.tag == _PRIVATE_ROW:
                self.private = e
                continue
            digits = e.tag.strip("()").replace(",", "")
            if "X" in digits.upper():
                mask = int("".join("0" if c in "xX" else "F" for c in digits), 16)
                value = int("".join("0" if c in "xX" else c for c in digits), 16)
                self._wild.append((mask, value, e))
            else:
                self._exact[int(digits, 16)] = e

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(self, tag: int) -> ProfileEntry | None:
        """Return the row naming `tag` (exact or by wildcard), or None for an unnamed attribute."""
        e = self._exact.get(tag)
        if e is not None:
            return e
        for mask, value, entry in self._wild:
            if tag & mask == value:
                return entry
        return None


@cache
def load_profile() -> Profile:
    """Load Table E.1-1 from the package data (once per process).

    Returns
    -------
    Profile
        Its 621 rows, indexed by tag.
    """
    text = resources.files("radprep.deid").joinpath("ps3.15_table_e1-1.json").read_text("utf-8")
    doc = json.loads(text)
    columns = {v: k for k, v in OPTION_COLUMNS.items()}
    entries = [
        ProfileEntry(
            tag=row["tag"],
            name=row["name"],
            basic=row["basicProfile"],
            options={columns[k]: v for k, v in row.items() if k in columns},
        )
        for row in doc["attributes"]
    ]
    return Profile(entries, doc["source"])
