"""Mark a de-identified data set as such (PS3.15 E.1.1, PS3.3 C.7.1.1, CID 7050)."""

from __future__ import annotations

from functools import lru_cache

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from radprep.deid.config import DeidConfig

__all__ = ["CID_7050", "earlier_method_codes", "mark_deidentified", "method_codes"]

# CID 7050 "De-identification Method" (coding scheme DCM): code value -> code meaning.
CID_7050: dict[str, str] = {
    "113100": "Basic Application Confidentiality Profile",
    "113101": "Clean Pixel Data Option",
    "113102": "Clean Recognizable Visual Features Option",
    "113103": "Clean Graphics Option",
    "113104": "Clean Structured Content Option",
    "113105": "Clean Descriptors Option",
    "113106": "Retain Longitudinal Temporal Information Full Dates Option",
    "113107": "Retain Longitudinal Temporal Information Modified Dates Option",
    "113108": "Retain Patient Characteristics Option",
    "113109": "Retain Device Identity Option",
    "113110": "Retain UIDs Option",
    "113111": "Retain Safe Private Option",
    "113112": "Retain Institution Identity Option",
}

_OPTION_CODES: dict[str, str] = {
    "clean_structured_content": "113104",
    "clean_descriptors": "113105",
    "retain_longitudinal_full_dates": "113106",
    "retain_longitudinal_modified_dates": "113107",
    "retain_patient_characteristics": "113108",
    "retain_device_identity": "113109",
    "retain_uids": "113110",
    "retain_safe_private": "113111",
    "retain_institution_identity": "113112",
}


def method_codes(config: DeidConfig, *, pixels_cleaned: bool = False) -> list[str]:
    """Return the CID 7050 code values of the profile and of each option used."""
    codes = ["113100"]
    if pixels_cleaned:
        codes.append("113101")
    codes += [_OPTION_CODES[name] for name in config.options_used()]
    return sorted(codes)


def earlier_method_codes(source: Dataset) -> list[str]:
    """Return the CID 7050 codes an earlier de-identification recorded in `source`.

    Only items coded ``DCM`` with a code value of CID 7050 count: anything else in the earlier
    sequence (free text, local codes) is not carried over.
    """
    found: list[str] = []
    if 0x00120064 not in source._dict:
        return found
    try:
        items = source.get("DeidentificationMethodCodeSequence") or []
        for item in items:
            code = str(item.get("CodeValue", "") or "").strip()
            scheme = str(item.get("CodingSchemeDesignator", "") or "").strip()
            if scheme == "DCM" and code in CID_7050 and code not in found:
                found.append(code)
    except Exception:  # an unreadable earlier sequence is not carried over
        return []
    return found


def mark_deidentified(
    ds: Dataset,
    config: DeidConfig,
    *,
    pixels_cleaned: bool = False,
    tool: str = "radprep",
    earlier: list[str] | tuple[str, ...] = (),
) -> list[str]:
    """Set PatientIdentityRemoved, DeidentificationMethod and its code sequence on `ds`.

    Also LongitudinalTemporalInformationModified (0028,0303): MODIFIED when dates were shifted,
    UNMODIFIED when kept in full, REMOVED otherwise. `ds` is the new data set being built.
    `earlier` holds the codes of an earlier de-identification of the same data (see
    :func:`earlier_method_codes`): they come first in DeidentificationMethodCodeSequence and
    this run's codes are appended (PS3.3 C.12.1.1.7: the sequence describes every method
    applied).

    Returns
    -------
    list of str
        The code values of DeidentificationMethodCodeSequence, in order.
    """
    ours = tuple(method_codes(config, pixels_cleaned=pixels_cleaned))
    codes = tuple(earlier) + tuple(c for c in ours if c not in earlier)
    if config.retain_longitudinal_modified_dates:
        longitudinal = "MODIFIED"
    elif config.retain_longitudinal_full_dates:
        # Dates kept as they came: modified still, if an earlier de-identification shifted them.
        longitudinal = "MODIFIED" if "113107" in earlier else "UNMODIFIED"
    else:
        longitudinal = "REMOVED"
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is not None and little is not None:
        # The same few elements on every file: encoded once, added as raw bytes.
        ds._dict.update(_encoded_marks(tool, ours, codes, longitudinal, implicit, little))
    else:
        for elem in _marks(tool, ours, codes, longitudinal):
            ds.add(elem)
    return list(codes)


def _marks(
    tool: str, ours: tuple[str, ...], codes: tuple[str, ...], longitudinal: str
) -> list[DataElement]:
    items = []
    for code in codes:
        item = Dataset()
        item.CodeValue = code
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = CID_7050[code]
        items.append(item)
    # DeidentificationMethod is LO (64 characters a value): one value for the tool, one per code.
    method = [f"{tool}: PS3.15 Table E.1-1 with options"] + [CID_7050[c][:64] for c in ours]
    return [
        DataElement(0x00120062, "CS", "YES"),  # PatientIdentityRemoved
        DataElement(0x00120063, "LO", method),  # DeidentificationMethod
        DataElement(0x00120064, "SQ", Sequence(items)),  # DeidentificationMethodCodeSequence
        DataElement(0x00280303, "CS", longitudinal),  # LongitudinalTemporalInformationModified
    ]


@lru_cache(maxsize=256)
def _encoded_marks(
    tool: str,
    ours: tuple[str, ...],
    codes: tuple[str, ...],
    longitudinal: str,
    implicit: bool,
    little: bool,
) -> dict[BaseTag, RawDataElement]:
    from radprep.deid.writer import encode_elements

    found = {}
    for elem in _marks(tool, ours, codes, longitudinal):
        value = encode_elements(elem, implicit, little)
        found[BaseTag(elem.tag)] = RawDataElement(
            BaseTag(elem.tag), elem.VR, len(value), value, 0, implicit, little
        )
    return found
