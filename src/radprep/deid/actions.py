"""Apply Table E.1-1 to a data set: every element, every sequence depth, as an allowlist.

An element is handled by the first rule that applies:

1. **Private** (odd group): removed; under Retain Safe Private only the few attributes of
   :data:`SAFE_PRIVATE` (numeric acquisition values) and their private creators are kept.
2. **Named in Table E.1-1**: the Basic Profile action, replaced by an option's action where that
   option is on (a Retain option's K over a Clean option's C; for dates the dates option
   decides). Combined codes are resolved by :data:`REQUIRED_TYPE` so that the output stays a
   valid instance of its IOD: an attribute some common IOD requires keeps its presence with the
   replacing action (Type 1: D or U*, Type 2: Z), any other is removed.
3. **Not named** (the allowlist): kept only when the images need it for ML and it cannot carry
   identity: the keywords of :data:`KEPT_KEYWORDS`, and in the technical groups of
   :data:`TECHNICAL_GROUPS` (image pixel, acquisition, geometry, functional groups, SEG, RT,
   NM/PET, coded terms) the elements whose VR is coded or numeric (:data:`CODED_OR_NUMERIC_VRS`)
   and their sequences. Unnamed instance UIDs are replaced like U; unnamed dates follow the
   dates option. Everything else, free text above all, is removed.

The actions (PS3.15 E.1.1): D a dummy consistent with the VR; Z zero length (PatientName,
PatientID and AccessionNumber get their keyed pseudonym instead, as Z/D allow); X removed; K kept;
C cleaned (dates shifted, text scrubbed, AE titles replaced, ages over 89 capped); U the keyed
UID mapping; U* (of X/Z/U*) the sequence kept with every UID inside it replaced.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from pydicom import config as _pydicom_config
from pydicom.datadict import dictionary_VM, dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from radprep.deid.config import DeidConfig
from radprep.deid.dates import cap_age, shift_da, shift_dt
from radprep.deid.profile import ProfileEntry, load_profile
from radprep.deid.redact import (
    DICOM_TOKEN,
    MIN_LENGTH,
    Redactor,
    date_forms,
    description_patterns,
    name_forms,
)
from radprep.deid.uids import map_uid, pseudonymize_id

__all__ = [
    "CLASS_UID_KEYWORDS",
    "CODED_OR_NUMERIC_VRS",
    "KEPT_KEYWORDS",
    "REQUIRED_TYPE",
    "SAFE_PRIVATE",
    "TECHNICAL_GROUPS",
    "ActionContext",
    "apply_actions",
    "resolve_action",
    "scrub_text",
]

# Combined codes are resolved by the strongest Type an attribute has in the common IODs (CT, MR,
# CR, DX, MG, US, SC, NM, PET, SEG, RT Structure Set, RT Plan, Enhanced CT/MR, SR, GSPS; PS3.3).
# Keeping an attribute's presence where only some IODs require it is always safe: its value is
# a dummy, empty, or has every UID replaced. Attributes not listed are Type 3 everywhere the
# combined code matters, and are removed.
REQUIRED_TYPE: dict[str, int] = {
    "ContentDate": 1,  # Enhanced CT/MR Image C.8.15.2/C.8.13.1, Multi-frame SC, SEG, SR
    "ContentTime": 1,
    "AcquisitionDateTime": 1,  # Enhanced CT/MR Image (1C)
    "DeviceSerialNumber": 1,  # Enhanced General Equipment C.7.5.2
    "ReferencedImageSequence": 1,  # Presentation State Relationship C.11.11 (in Referenced Series)
    "SourceImageSequence": 1,  # Derivation Image macro C.7.6.16.2.6 (in DerivationImageSequence)
    "PatientID": 2,  # Patient C.7.1.1
    "AcquisitionContextSequence": 2,  # Acquisition Context C.7.6.14
    "ContrastBolusAgent": 2,  # Contrast/Bolus C.7.6.4
    "ContentCreatorName": 2,  # Content Identification macro (SEG, GSPS) C.10.9
    "ReviewerName": 2,  # Approval C.8.8.16 (2C)
    "TreatmentMachineName": 2,  # RT Beams C.8.8.14
    "RTPlanDate": 2,  # RT General Plan C.8.8.9
    "RTPlanTime": 2,
    "OperatorsName": 2,  # RT Series C.8.8.1
    # Type 2 in SR Document Series C.17.1, but one item if present in General Series C.7.3.1:
    # kept with its item cleaned (D, UIDs mapped), which satisfies both.
    "ReferencedPerformedProcedureStepSequence": 1,
}

# Unnamed public attributes kept whatever their VR (text included): each is Type 1 or 2 in a
# common IOD, or needed to read the pixels, match pixel-cleaning regions, or use the images in ML.
KEPT_KEYWORDS: frozenset[str] = frozenset(
    {
        # SOP Common, General Series / Image, Equipment (C.12.1, C.7.3.1, C.7.6.1, C.7.5.1)
        "SpecificCharacterSet",
        "ImageType",
        "SOPClassUID",
        "Modality",
        "ConversionType",
        "PresentationIntentType",
        "Manufacturer",
        "ManufacturerModelName",
        "SoftwareVersions",
        "SecondaryCaptureDeviceManufacturer",
        "SecondaryCaptureDeviceManufacturerModelName",
        "SecondaryCaptureDeviceSoftwareVersions",
        "FrameType",
        "PixelPresentation",
        "VolumetricProperties",
        "VolumeBasedCalculationTechnique",
        "ComplexImageComponent",
        "AcquisitionContrast",
        # Acquisition text that carries the technique, not the patient
        "SequenceName",
        "PulseSequenceName",
        "ConvolutionKernel",
        "FilterType",
        "ReceiveCoilName",
        "TransmitCoilName",
        "ImagedNucleus",
        "ContrastBolusRoute",
        # Pixel presentation (C.11.1, C.11.2, C.11.6: Type 1 in Enhanced MR, DX, MG)
        "PresentationLUTShape",
        "PresentationLUTSequence",
        "WindowCenterWidthExplanation",
        "LUTExplanation",
        "RescaleType",
        "ModalityLUTType",
        "LUTLabel",
        # Coded terms (Code Sequence macro, table 8.8-1)
        "CodeValue",
        "CodingSchemeDesignator",
        "CodingSchemeVersion",
        "CodeMeaning",
        "LongCodeValue",
        "URNCodeValue",
        "MappingResource",
        "ContextIdentifier",
        "AnatomicRegionSequence",
        "AnatomicRegionModifierSequence",
        "PrimaryAnatomicStructureSequence",
        "ConceptNameCodeSequence",
        "ConceptCodeSequence",
        "MeasurementUnitsCodeSequence",
        "PurposeOfReferenceCodeSequence",
        "DerivationCodeSequence",
        "RealWorldValueMappingSequence",
        "ValueType",
        "RelationshipType",
        # Structured reports: evidence lists and measurements (PS3.3 C.17.2, C.18.1)
        "CurrentRequestedProcedureEvidenceSequence",
        "PertinentOtherEvidenceSequence",
        "PerformedProcedureCodeSequence",
        "MeasuredValueSequence",
        "ContentTemplateSequence",
        # Stacks of enhanced multi-frame images (C.7.6.16.2.2): StackID is Type 1C
        "StackID",
        # References between instances (their UIDs are replaced consistently)
        "ReferencedSeriesSequence",
        "ReferencedInstanceSequence",
        "ReferencedSOPSequence",
        "DerivationImageSequence",
        "ReferencedSOPClassUID",
        "ReferencedFrameNumber",
        # Segmentation (C.8.20.4): labels are Type 1
        "SegmentLabel",
        "SegmentAlgorithmName",
        "ContentLabel",
    }
)

# Unnamed free text that an IOD requires: emptied (Type 2) or replaced by a dummy (Type 1, 1C),
# or scrubbed under Clean Descriptors.
_TEXT_EMPTIED: frozenset[str] = frozenset(
    {
        "ContentDescription",  # Content Identification macro (SEG, GSPS): Type 2
        "PositionReferenceIndicator",  # Frame of Reference C.7.4.1: Type 2, free text
    }
)
_TEXT_DUMMIED: frozenset[str] = frozenset({"TextValue"})  # SR TEXT content items (C.17.3)

# Groups whose unnamed coded and numeric elements are kept (and whose sequences are entered).
TECHNICAL_GROUPS: frozenset[int] = frozenset(
    {
        0x0008,  # coded identification (CS), class UIDs
        0x0018,  # acquisition (PS3.6: KVP, SliceThickness, RepetitionTime, EchoTime...)
        0x0020,  # relationship and geometry (ImagePositionPatient, InstanceNumber...)
        0x0022,  # ophthalmic acquisition
        0x0028,  # image pixel, LUTs, presentation
        0x0040,  # coded content, real-world value mapping
        0x0048,  # whole slide imaging
        0x0054,  # NM / PET
        0x0062,  # segmentation
        0x0066,  # surfaces
        0x003A,  # waveform channels
        0x0070,  # presentation states (their text is removed)
        0x3004,  # RT dose
        0x3006,  # RT structure set (contours)
        0x300A,  # RT plan
        0x300C,  # RT relationships
        0x5200,  # functional groups
        0x5400,  # waveforms (ECG, ...)
        0x7FE0,  # pixel data
    }
)
# In these groups sequences are kept only by keyword (they also hold workflow sequences).
_SEQUENCES_BY_KEYWORD_ONLY = frozenset({0x0008, 0x0040})
# Bulk binary data is kept only where it is pixel-like data or LUTs.
_BINARY_GROUPS = frozenset({0x0028, 0x7FE0, 0x0066, 0x3004, 0x0048, 0x5400})

CODED_OR_NUMERIC_VRS: frozenset[str] = frozenset(
    {
        "AT",
        "CS",
        "DS",
        "FD",
        "FL",
        "IS",
        "SL",
        "SS",
        "SV",
        "UL",
        "US",
        "UV",
        "US or SS",
        "US or OW",
        "US or SS or OW",
        "OB or OW",
        "OB",
        "OD",
        "OF",
        "OL",
        "OV",
        "OW",
        "SQ",
        "UI",
        "DA",
        "DT",
        "TM",
        "AS",
    }
)
_BINARY_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "OB or OW", "US or OW", "US or SS or OW"}
)
_TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UT", "UC", "PN"})

# UIDs of kinds, not instances: kept as they are even where not standard (private SOP classes).
CLASS_UID_KEYWORDS = frozenset(
    {
        "SOPClassUID",
        "ReferencedSOPClassUID",
        "ReferencedSOPClassUIDInFile",
        "RelatedGeneralSOPClassUID",
        "OriginalSpecializedSOPClassUID",
        "TransferSyntaxUID",
        "ReferencedTransferSyntaxUIDInFile",
        "CodingSchemeUID",
        "MappingResourceUID",
        "ContextUID",
    }
)

# Retain Safe Private (PS3.15 E.3.10): private attributes known to hold numeric acquisition
# values only (a subset of the examples of Table E.3.10-1). Key: (private creator, group,
# element offset); value: (VR, meaning). Anything else private is removed.
SAFE_PRIVATE: dict[tuple[str, int, int], tuple[str, str]] = {
    ("SIEMENS MR HEADER", 0x0019, 0x0C): ("IS", "B_value"),
    ("SIEMENS MR HEADER", 0x0019, 0x0D): ("CS", "DiffusionDirectionality"),
    ("SIEMENS MR HEADER", 0x0019, 0x0E): ("FD", "DiffusionGradientDirection"),
    ("SIEMENS MR HEADER", 0x0019, 0x27): ("FD", "B_matrix"),
    ("GEMS_PARM_01", 0x0043, 0x39): ("IS", "Slop_int_6..9 (b-value)"),
    ("GEMS_ACQU_01", 0x0019, 0xBB): ("DS", "User data 20 (diffusion direction)"),
    ("GEMS_ACQU_01", 0x0019, 0xBC): ("DS", "User data 21 (diffusion direction)"),
    ("GEMS_ACQU_01", 0x0019, 0xBD): ("DS", "User data 22 (diffusion direction)"),
    ("Philips Imaging DD 001", 0x2001, 0x03): ("FL", "Diffusion B-Factor"),
    ("Philips MR Imaging DD 001", 0x2005, 0x0D): ("FL", "Scale Intercept"),
    ("Philips MR Imaging DD 001", 0x2005, 0x0E): ("FL", "Scale Slope"),
}

_DUMMY_TEXT = "ANONYMIZED"
_DUMMY: dict[str, object] = {
    "AE": "ANONYMIZED",
    "AS": "000Y",
    "CS": "ANONYMIZED",
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "DS": "0",
    "IS": "0",
    "LO": _DUMMY_TEXT,
    "LT": _DUMMY_TEXT,
    "SH": _DUMMY_TEXT,
    "ST": _DUMMY_TEXT,
    "UT": _DUMMY_TEXT,
    "UC": _DUMMY_TEXT,
    "PN": _DUMMY_TEXT,
    "UR": "urn:anonymized",
    "AT": 0,
    "FL": 0.0,
    "FD": 0.0,
    "SL": 0,
    "SS": 0,
    "SV": 0,
    "UL": 0,
    "US": 0,
    "UV": 0,
}
_MAX_LEN = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "PN": 64, "ST": 1024, "LT": 10240}

_IGNORE = _pydicom_config.IGNORE
_DATES_COLUMNS = ("retain_longitudinal_modified_dates", "retain_longitudinal_full_dates")


@dataclass
class ActionContext:
    """What applying the actions to one data set needs, and what it counts.

    Attributes
    ----------
    config : DeidConfig
        The options.
    key : bytes
        The secret key of the keyed mappings.
    shift_days : int
        This patient's whole-day date shift (used under the modified-dates option).
    source : Dataset
        The original top-level data set (where Clean Descriptors finds identifying values).
    counts : Counter
        Actions applied, by code (D, Z, X, K, C, U).
    removed : Counter
        Removed elements by reason: ``table`` (X in Table E.1-1), ``not_allowed`` (unnamed and
        not on the allowlist), ``private``.
    content : str
        Inside a ContentSequence: its action (``D`` for the Basic Profile, ``C`` under Clean
        Structured Content), which decides the content items' values; empty elsewhere.
    """

    config: DeidConfig
    key: bytes
    shift_days: int
    source: Dataset
    counts: Counter[str] = field(default_factory=Counter)
    removed: Counter[str] = field(default_factory=Counter)
    content: str = ""
    _identifiers: list[str] | None = None
    _redactors: dict[int | None, Redactor] = field(default_factory=dict)

    def identifiers(self) -> list[str]:
        """Return the identifying values of the source data set (longest first), once."""
        if self._identifiers is None:
            self._identifiers = identifying_values(self.source)
        return self._identifiers

    def redactor(self, max_len: int | None) -> Redactor:
        """The redactor of this data set's descriptions (one per maximum length), made once."""
        found = self._redactors.get(max_len)
        if found is None:
            found = self._redactors[max_len] = description_redactor(self.identifiers(), max_len)
        return found


@lru_cache(maxsize=4096)
def _keyword(tag: int) -> str:
    try:
        return keyword_for_tag(tag) or ""
    except Exception:  # pragma: no cover - pydicom's repeater lookup on odd tags
        return ""


@lru_cache(maxsize=4096)
def _dict_vr(tag: int) -> str:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return ""


def resolve_action(entry: ProfileEntry, config: DeidConfig, keyword: str) -> tuple[str, str]:
    """Return ``(action, column)``: the action for a named attribute under `config`.

    The action is one of D, Z, X, K, C, U, U*; the column says which option chose it (``basic``
    for the Basic Profile), since C means a different cleaning under each option.
    """
    opts = entry.options
    for name in _DATES_COLUMNS:
        if getattr(config, name) and name in opts:
            return opts[name], name
    chosen: tuple[str, str] | None = None
    for name, action in opts.items():
        if name in _DATES_COLUMNS or not getattr(config, name, False):
            continue
        if action == "K":
            return "K", name
        chosen = (action, name)
    if chosen is not None:
        return chosen
    return _concrete(entry.basic, keyword), "basic"


def _concrete(code: str, keyword: str) -> str:
    if "/" not in code:
        return code
    choices = code.split("/")
    required = REQUIRED_TYPE.get(keyword, 3)
    order = (
        ("U*", "D", "Z")
        if required == 1
        else ("Z", "D", "U*")
        if required == 2
        else ("X", "Z", "D")
    )
    return next(c for c in order if c in choices)


class _Flags(NamedTuple):
    """The options that decide actions: a cheap, hashable stand-in for DeidConfig."""

    retain_safe_private: bool
    retain_uids: bool
    retain_device_identity: bool
    retain_institution_identity: bool
    retain_patient_characteristics: bool
    retain_longitudinal_full_dates: bool
    retain_longitudinal_modified_dates: bool
    clean_descriptors: bool
    clean_structured_content: bool = False
    clean_graphics: bool = False


def _flags(config: DeidConfig) -> _Flags:
    return _Flags(*(getattr(config, f, False) for f in _Flags._fields))


# Per set of options: tag -> (action, column), filled as tags are met.
_TABLES: dict[_Flags, dict[int, tuple[str, str, bool]]] = {}


def _action_for(flags: _Flags, tag: int) -> tuple[str, str, bool]:
    """Return (action, column, named) for a public tag under these options (memoised)."""
    table = _TABLES.setdefault(flags, {})
    found = table.get(tag)
    if found is None:
        entry = load_profile().lookup(tag)
        if entry is not None:
            found = (*resolve_action(entry, flags, _keyword(tag)), True)  # type: ignore[arg-type]
        else:
            found = (*_unnamed_action(flags, tag), False)  # type: ignore[arg-type]
        table[tag] = found
    return found


def _unnamed_action(config: DeidConfig, tag: int) -> tuple[str, str]:
    """The allowlist: (action, column) for a public attribute Table E.1-1 does not name."""
    keyword = _keyword(tag)
    vr = _dict_vr(tag)
    group = tag >> 16
    if not keyword or not vr:
        return "X", "not_allowed"
    if vr in ("DA", "DT", "TM"):
        if not (group in TECHNICAL_GROUPS or keyword in KEPT_KEYWORDS):
            return "X", "not_allowed"
        if config.retain_longitudinal_full_dates:
            return "K", "retain_longitudinal_full_dates"
        if config.retain_longitudinal_modified_dates:
            return "C", "retain_longitudinal_modified_dates"
        return "X", "not_allowed"
    if vr == "UI":
        if keyword in CLASS_UID_KEYWORDS:
            return "K", "allowlist"
        return ("U", "allowlist") if group in TECHNICAL_GROUPS else ("X", "not_allowed")
    if keyword in _TEXT_EMPTIED or keyword in _TEXT_DUMMIED:
        if config.clean_descriptors:
            return "C", "clean_descriptors"
        return ("Z" if keyword in _TEXT_EMPTIED else "D"), "allowlist"
    if keyword in KEPT_KEYWORDS:
        return "K", "allowlist"
    if group not in TECHNICAL_GROUPS or vr not in CODED_OR_NUMERIC_VRS:
        return "X", "not_allowed"
    if vr == "SQ" and group in _SEQUENCES_BY_KEYWORD_ONLY:
        return "X", "not_allowed"
    if vr in _BINARY_VRS and group not in _BINARY_GROUPS:
        return "X", "not_allowed"
    return "K", "allowlist"


def apply_actions(ds: Dataset, ctx: ActionContext) -> Dataset:
    """Return a new data set holding what the profile keeps of `ds` (which is not changed).

    Sequences are entered at any depth; file meta is not part of `ds` (see
    :func:`radprep.deid.core.deidentify_dataset`).
    """
    out = Dataset()
    config = ctx.config
    kept_creators: set[int] = set()
    flags = _flags(config)
    encoding = ds.original_encoding
    for base_tag, raw in list(ds._dict.items()):
        tag = int(base_tag)
        group = tag >> 16
        if tag & 0xFFFF == 0 or group in (0x0000, 0x0002, 0xFFFE):
            continue  # group lengths (retired), command and file meta elements, item tags
        if group & 1:
            if config.retain_safe_private and _keep_private(ds, BaseTag(tag), kept_creators):
                out.add(_copy(ds[tag]))
                ctx.counts["C"] += 1
            else:
                ctx.counts["X"] += 1
                ctx.removed["private"] += 1
            continue
        if ctx.content and tag in _CONTENT_VALUE_TAGS:
            new_value = _content_value(ds[tag], ctx)
            if new_value is not None:
                out.add(new_value)
            continue
        action, column, named = _action_for(flags, tag)
        if action == "X":
            ctx.counts["X"] += 1
            ctx.removed["table" if named else "not_allowed"] += 1
            continue
        if (
            isinstance(raw, RawDataElement)
            and (raw.is_implicit_VR, raw.is_little_endian) == encoding
            and _dict_vr(tag) not in ("SQ", "AS", "")
        ):
            if action == "K":
                # Kept as read: the encoded bytes go out unchanged (an immutable
                # RawDataElement, shared safely, stored as the reader stores it), with no
                # decoding and re-encoding.
                out._dict[base_tag] = raw
                ctx.counts["K"] += 1
                continue
            fast = _raw_action(raw, action, column, ctx)
            if fast is not None:
                out._dict[base_tag] = fast
                ctx.counts[action] += 1
                continue
        try:
            elem = ds[tag]
        except Exception:  # a value its VR cannot hold: nothing can vouch for it, so it goes
            ctx.counts["X"] += 1
            ctx.removed["unreadable"] += 1
            continue
        new = _apply(elem, action, column, ctx)
        if new is None:
            ctx.counts["X"] += 1
            ctx.removed["table" if named else "not_allowed"] += 1
        else:
            out.add(new)
    for creator in kept_creators:
        if creator not in out and creator in ds:
            out.add(_copy(ds[creator]))
    implicit, little = encoding
    if implicit is not None and little is not None:
        # Same encoding as the source: pydicom writes the raw elements above as they are.
        out.set_original_encoding(implicit, little, ds.original_character_set)
    return out


_RAW_SPECIAL = frozenset({0x00100010, 0x00100020, 0x00080050, 0x00080201})  # names, IDs, TZ


def _raw_text(raw: RawDataElement) -> list[str] | None:
    """The values of a raw text element of a single-byte VR (UI, DA, DT), else None."""
    value = raw.value
    if value is None or raw.length == 0xFFFFFFFF:
        return None
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        return None
    return [v.strip("\x00 ") for v in text.split("\\")]


def _raw_bytes(raw: RawDataElement, values: list[str], pad: bytes) -> RawDataElement:
    data = "\\".join(values).encode("ascii")
    if len(data) % 2:
        data += pad
    # The dictionary's VR, as the decoding path gives (an input may say UN).
    return raw._replace(VR=_dict_vr(raw.tag), value=data, length=len(data))


def _raw_action(
    raw: RawDataElement, action: str, column: str, ctx: ActionContext
) -> RawDataElement | None:
    """Apply U, Z or the date shift straight to an element's bytes; None when it needs decoding.

    The result is a new RawDataElement with the new bytes (written as they are, decoded by
    pydicom only if read), which gives the same values as the decoding path.
    """
    tag = raw.tag
    if tag in _RAW_SPECIAL:
        return None
    vr = _dict_vr(tag)
    if action == "Z":
        return raw._replace(VR=vr, value=b"", length=0) if " " not in vr else None
    if action in ("U", "D") and vr == "UI":
        values = _raw_text(raw)
        if values is None:
            return None
        if len(values) > 1 and _single_valued(tag):
            mapped = [map_uid("\\".join(values), ctx.key)]
        else:
            mapped = [map_uid(v, ctx.key) for v in values]
        return _raw_bytes(raw, mapped, b"\x00")
    if action == "C" and column == "retain_longitudinal_modified_dates" and vr in ("DA", "DT"):
        values = _raw_text(raw)
        if values is None:
            return None
        shift = shift_da if vr == "DA" else shift_dt
        shifted = [shift(v, ctx.shift_days) for v in values]
        if any(v is None for v in shifted):
            return _raw_bytes(raw, [], b" ")
        return _raw_bytes(raw, shifted, b" ")  # type: ignore[arg-type]
    return None


def _keep_private(ds: Dataset, tag: BaseTag, kept_creators: set[int]) -> bool:
    if tag.element < 0x1000:
        return False  # private creators are kept with the safe elements they own
    creator_tag = (tag.group << 16) | (tag.element >> 8)
    creator = ds.get(creator_tag)
    if creator is None:
        return False
    spec = SAFE_PRIVATE.get((str(creator.value).strip(), tag.group, tag.element & 0xFF))
    if spec is None or spec[0] != ds[tag].VR:
        return False
    kept_creators.add(creator_tag)
    return True


def _copy(elem: DataElement) -> DataElement:
    # A shallow copy: no re-validation (an odd but readable value stays as it was read);
    # lists are copied so that the new data set shares nothing mutable with the original.
    value = elem._value
    if isinstance(value, (MultiValue, list)):
        try:  # a new list of the same (immutable) values
            return DataElement(elem.tag, elem.VR, list(value), validation_mode=_IGNORE)
        except (ValueError, TypeError, OverflowError):  # a value pydicom kept unparsed
            new = copy.copy(elem)
            new._value = copy.deepcopy(value)
            return new
    return copy.copy(elem)


def _new(elem: DataElement, value: object) -> DataElement:
    return DataElement(elem.tag, elem.VR, value, validation_mode=_IGNORE)


def _values(elem: DataElement) -> list[object]:
    v = elem.value
    if v is None or v == "":
        return []
    return list(v) if isinstance(v, (MultiValue, list)) else [v]


def _map_values(elem: DataElement, fn: Callable[[str], str | None]) -> object | None:
    """Apply `fn` to each value; None when any value cannot be cleaned."""
    out = []
    for v in _values(elem):
        r = fn(str(v))
        if r is None:
            return None
        out.append(r)
    if not out:
        return elem.value
    return out if len(out) > 1 else out[0]


@lru_cache(maxsize=4096)
def _single_valued(tag: int) -> bool:
    try:
        return dictionary_VM(tag) == "1"
    except KeyError:
        return False


def _mapped_uids(elem: DataElement, key: bytes) -> object | None:
    """Map each UID; an attribute of VM 1 holding several values gets one UID (of them all)."""
    values = _values(elem)
    if len(values) > 1 and _single_valued(elem.tag):
        return map_uid("\\".join(str(v).strip("\x00 ") for v in values), key)
    return _map_values(elem, lambda u: map_uid(u, key))


# Content item values (PS3.3 C.17.3, Table C.18.1-1 and its value macros): what the Basic
# Profile's D and the Clean Structured Content option's C replace in a ContentSequence.
_CONTENT_VALUE_TAGS = frozenset(
    {
        0x0040A160,  # TextValue (TEXT)
        0x0040A123,  # PersonName (PNAME)
        0x0040A121,  # Date (DATE)
        0x0040A122,  # Time (TIME)
        0x0040A120,  # DateTime (DATETIME)
        0x0040A124,  # UID (UIDREF)
    }
)


def _content_value(elem: DataElement, ctx: ActionContext) -> DataElement | None:
    """Replace one value of a content item (TEXT, PNAME, DATE, TIME, DATETIME, UIDREF).

    Both D and C keep the tree (relationships, concept names, codes, numbers, references with
    their UIDs mapped) and replace these values: text and names by a dummy, UIDs by their keyed
    mapping. Dates and times are dummies under D; under C they follow the dates option
    (shifted, kept, or dummies).
    """
    vr = elem.VR
    ctx.counts[ctx.content] += 1
    if vr == "UI":
        return _new(elem, _mapped_uids(elem, ctx.key))
    if vr in ("DA", "DT", "TM") and ctx.content == "C":
        if ctx.config.retain_longitudinal_full_dates:
            return _copy(elem)
        if ctx.config.retain_longitudinal_modified_dates:
            return _clean(elem, "retain_longitudinal_modified_dates", ctx)
    if not _values(elem):
        return _copy(elem)
    return _new(elem, _DUMMY.get(vr, _DUMMY_TEXT))


def _apply(elem: DataElement, action: str, column: str, ctx: ActionContext) -> DataElement | None:
    vr = elem.VR
    keyword = elem.keyword
    counts = ctx.counts
    if vr == "SQ":
        if action == "Z":
            counts["Z"] += 1
            return _new(elem, Sequence())
        counts["U" if action == "U*" else action] += 1
        if keyword != "ContentSequence" or ctx.content:
            return _new(elem, Sequence([apply_actions(item, ctx) for item in elem.value]))
        ctx.content = action  # D (Basic Profile) or C (Clean Structured Content)
        try:
            return _new(elem, Sequence([apply_actions(item, ctx) for item in elem.value]))
        finally:
            ctx.content = ""
    # Pseudonyms: Z and D both allow a non-identifying dummy in these (E.1.1).
    if keyword in ("PatientID", "PatientName") and action in ("Z", "D"):
        value = str(elem.value or "").strip()
        if not value and keyword == "PatientName":
            value = str(ctx.source.get("PatientID", "") or "").strip()
        counts["D"] += 1
        pid = str(ctx.source.get("PatientID", "") or "").strip()
        if not (value or pid):
            return _new(elem, None if vr == "PN" else "")
        return _new(elem, pseudonymize_id(pid, ctx.key, ctx.config.patient_id_format))
    if keyword == "AccessionNumber" and action in ("Z", "D"):
        value = str(elem.value or "").strip()
        counts["D"] += 1
        if not value:
            return _new(elem, "")
        return _new(elem, pseudonymize_id(value, ctx.key, ctx.config.accession_number_format))
    if action == "Z":
        counts["Z"] += 1
        return _new(
            elem,
            None
            if vr
            not in (
                "LO",
                "SH",
                "CS",
                "DA",
                "TM",
                "DT",
                "AE",
                "AS",
                "LT",
                "ST",
                "UT",
                "UC",
                "UR",
                "DS",
                "IS",
                "UI",
            )
            else "",
        )
    if action == "D":
        counts["D"] += 1
        if vr == "UI":
            return _new(elem, _mapped_uids(elem, ctx.key))
        # OB, OW, UN and the other binary VRs: two zero bytes.
        return _new(elem, _DUMMY.get(vr, b"\x00\x00"))
    if action == "U":
        counts["U"] += 1
        return _new(elem, _mapped_uids(elem, ctx.key))
    if action == "K":
        counts["K"] += 1
        if vr == "AS":
            return _new(elem, _map_values(elem, cap_age))
        return _copy(elem)
    if action == "C":
        counts["C"] += 1
        return _clean(elem, column, ctx)
    raise AssertionError(f"unknown action {action!r}")  # pragma: no cover - the table is fixed


def _clean(elem: DataElement, column: str, ctx: ActionContext) -> DataElement | None:
    vr = elem.VR
    if vr == "AS":
        return _new(elem, _map_values(elem, cap_age))
    if column == "retain_longitudinal_modified_dates":
        days = ctx.shift_days
        if vr == "DA":
            value = _map_values(elem, lambda v: shift_da(v, days))
        elif vr == "DT":
            value = _map_values(elem, lambda v: shift_dt(v, days))
        elif elem.tag == 0x00080201:
            # TimezoneOffsetFromUTC (0008,0201) is C under this option (Table E.1-1): the offset
            # says where the images were made, so it becomes UTC's (times keep their clock).
            return _new(elem, "+0000" if _values(elem) else "")
        else:  # TM: a whole-day shift leaves times of day as they are
            return _copy(elem)
        return _new(elem, value if value is not None else "")
    if vr == "AE" or (column == "retain_device_identity" and vr not in _TEXT_VRS):
        return _new(elem, _DUMMY.get(vr, _DUMMY_TEXT))
    if vr in _TEXT_VRS:
        if vr == "PN":
            return _new(elem, _DUMMY_TEXT)
        return _new(elem, _map_values(elem, ctx.redactor(_MAX_LEN.get(vr))))
    return _copy(elem)


# Clean Descriptors ---------------------------------------------------------------------------


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
