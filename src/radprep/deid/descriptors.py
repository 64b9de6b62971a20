"""Clean Descriptors: the identifying values of a data set, and its descriptions scrubbed of them
(by the one redactor, :mod:`radprep.deid.redact`)."""

from __future__ import annotations

from collections.abc import Iterable

from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from radprep.deid.elements import _values
from radprep.deid.profile import load_profile
from radprep.deid.redact import (
    DICOM_TOKEN,
    MIN_LENGTH,
    Redactor,
    date_forms,
    description_patterns,
    name_forms,
)

__all__ = ["description_redactor", "identifying_values", "scrub_text"]


def identifying_values(ds: Dataset) -> list[str]:
    """Return the identifying values of a data set: what Clean Descriptors scrubs from text.

    Every value of a name, ID, date or other text attribute that Table E.1-1 does not keep and
    that is not itself a description (at any depth, private elements included), the parts of
    person names, and each date in its common written forms. Values shorter than 3 characters
    are left out (they would match anywhere).
    """
    found: set[str] = set()
    profile = load_profile()

    def walk(d: Dataset) -> None:
        for raw in d.elements():
            tag = raw.tag
            if tag >> 16 in (0x0002, 0x7FE0):
                continue
            elem = d[tag]
            if elem.VR == "SQ":
                for item in elem.value or []:
                    walk(item)
                continue
            if elem.VR not in ("PN", "LO", "SH", "LT", "ST", "UT", "UC", "DA", "DT", "AE"):
                continue
            entry = profile.lookup(tag) if not BaseTag(tag).is_private else profile.private
            if entry is None or entry.basic == "K" or "clean_descriptors" in entry.options:
                continue  # descriptions are what gets cleaned, not what identifies
            for v in _values(elem):
                text = str(v).strip("\x00 ")
                if not text:
                    continue
                found.add(text)
                if elem.VR == "PN":
                    found.update(name_forms(text))
                if elem.VR in ("DA", "DT"):
                    found.update(date_forms(text[:8]))

    walk(ds)
    return sorted((v for v in found if len(v) >= MIN_LENGTH), key=len, reverse=True)


def scrub_text(text: str, identifiers: Iterable[str], max_len: int | None = None) -> str:
    """Remove identifying values, dates and ID-like tokens from a description.

    Parameters
    ----------
    text : str
        The description.
    identifiers : iterable of str
        Values to remove where they stand as whole tokens (case-insensitive, longest first;
        see :class:`radprep.deid.redact.Redactor`).
    max_len : int, optional
        The VR's maximum length; the result is cut to it.
    """
    return description_redactor(identifiers, max_len)(text)


def description_redactor(identifiers: Iterable[str], max_len: int | None = None) -> Redactor:
    """The redactor of DICOM descriptions: `identifiers`, written dates and ID-like tokens
    become ``***``; the result is cut to `max_len`."""
    return Redactor(
        identifiers, patterns=description_patterns(), token=DICOM_TOKEN, max_len=max_len
    )
