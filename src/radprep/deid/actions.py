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

from collections import Counter
from dataclasses import dataclass, field

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from radprep.deid.config import DeidConfig
from radprep.deid.dates import cap_age, shift_da, shift_dt
from radprep.deid.descriptors import description_redactor, identifying_values, scrub_text
from radprep.deid.elements import (
    _copy,
    _map_values,
    _mapped_uids,
    _new,
    _raw_action,
    _values,
)
from radprep.deid.redact import Redactor
from radprep.deid.rules import _action_for, _dict_vr, _flags, _keep_private, resolve_action
from radprep.deid.tables import (
    _DUMMY,
    _DUMMY_TEXT,
    _MAX_LEN,
    _TEXT_VRS,
    CLASS_UID_KEYWORDS,
    CODED_OR_NUMERIC_VRS,
    KEPT_KEYWORDS,
    REQUIRED_TYPE,
    SAFE_PRIVATE,
    TECHNICAL_GROUPS,
)
from radprep.deid.uids import pseudonymize_id

__all__ = [
    "CLASS_UID_KEYWORDS",
    "CODED_OR_NUMERIC_VRS",
    "KEPT_KEYWORDS",
    "REQUIRED_TYPE",
    "SAFE_PRIVATE",
    "TECHNICAL_GROUPS",
    "ActionContext",
    "apply_actions",
    "identifying_values",
    "resolve_action",
    "scrub_text",
]


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


def apply_actions(ds: Dataset, ctx: ActionContext) -> Dataset:
    """Return a new data set holding what the profile keeps of `ds` (which is not changed).

    Sequences are entered at any depth; file meta is not part of `ds` (see
    :func:`radprep.deid.core.deidentify_dataset`).
    """
    out = Dataset()
    kept_creators: set[int] = set()
    flags = _flags(ctx.config)
    encoding = ds.original_encoding
    for base_tag, raw in list(ds._dict.items()):
        tag = int(base_tag)
        group = tag >> 16
        if tag & 0xFFFF == 0 or group in (0x0000, 0x0002, 0xFFFE):
            continue  # group lengths (retired), command and file meta elements, item tags
        if group & 1:
            if flags.retain_safe_private and _keep_private(ds, BaseTag(tag), kept_creators):
                out.add(_copy(ds[tag]))
                ctx.counts["C"] += 1
            else:
                ctx.counts["X"] += 1
                ctx.removed["private"] += 1
            continue
        if ctx.content and tag in _CONTENT_VALUE_TAGS:
            if (value := _content_value(ds[tag], ctx)) is not None:
                out.add(value)
            continue
        action, column, named = _action_for(flags, tag)
        if action == "X":
            ctx.counts["X"] += 1
            ctx.removed["table" if named else "not_allowed"] += 1
            continue
        if (
            isinstance(raw, RawDataElement)
            and (raw.is_implicit_VR, raw.is_little_endian) == encoding
        ):
            fast = _as_encoded(raw, action, column, ctx)
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
    if None not in encoding:
        # Same encoding as the source: pydicom writes the raw elements above as they are.
        out.set_original_encoding(encoding[0], encoding[1], ds.original_character_set)
    return out


def _as_encoded(
    raw: RawDataElement, action: str, column: str, ctx: ActionContext
) -> RawDataElement | None:
    """The new element straight from the encoded bytes (the source's encoding), else None."""
    if _dict_vr(raw.tag) in ("SQ", "AS", ""):
        return None
    if action == "K":
        # Kept as read: the encoded bytes go out unchanged (an immutable RawDataElement, shared
        # safely, stored as the reader stores it), with no decoding and re-encoding.
        return raw
    return _raw_action(raw, action, column, ctx)


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


# VRs whose empty value is the empty string (the others: None).
_EMPTY_AS_TEXT = frozenset(
    {"LO", "SH", "CS", "DA", "TM", "DT", "AE", "AS", "LT", "ST", "UT", "UC", "UR", "DS", "IS", "UI"}
)


def _apply(elem: DataElement, action: str, column: str, ctx: ActionContext) -> DataElement | None:
    vr = elem.VR
    counts = ctx.counts
    if vr == "SQ":
        return _sequence(elem, action, ctx)
    if action in ("Z", "D") and elem.keyword in ("PatientID", "PatientName", "AccessionNumber"):
        counts["D"] += 1
        return _pseudonym(elem, ctx)
    if action == "Z":
        counts["Z"] += 1
        return _new(elem, "" if vr in _EMPTY_AS_TEXT else None)
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


def _sequence(elem: DataElement, action: str, ctx: ActionContext) -> DataElement:
    """A sequence emptied (Z), or each item given the actions (a ContentSequence's values by
    the content rules of its action)."""
    if action == "Z":
        ctx.counts["Z"] += 1
        return _new(elem, Sequence())
    ctx.counts["U" if action == "U*" else action] += 1
    if elem.keyword != "ContentSequence" or ctx.content:
        return _new(elem, Sequence([apply_actions(item, ctx) for item in elem.value]))
    ctx.content = action  # D (Basic Profile) or C (Clean Structured Content)
    try:
        return _new(elem, Sequence([apply_actions(item, ctx) for item in elem.value]))
    finally:
        ctx.content = ""


def _pseudonym(elem: DataElement, ctx: ActionContext) -> DataElement:
    """PatientID, PatientName and AccessionNumber under Z or D: their keyed pseudonym (both
    actions allow a non-identifying dummy, E.1.1), empty when there is nothing to map."""
    value = str(elem.value or "").strip()
    if elem.keyword == "AccessionNumber":
        if not value:
            return _new(elem, "")
        return _new(elem, pseudonymize_id(value, ctx.key, ctx.config.accession_number_format))
    pid = str(ctx.source.get("PatientID", "") or "").strip()
    if not (value or pid):
        return _new(elem, None if elem.VR == "PN" else "")
    return _new(elem, pseudonymize_id(pid, ctx.key, ctx.config.patient_id_format))


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
