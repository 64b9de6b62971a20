"""Which action each element gets: Table E.1-1 under the options, the allowlist for attributes the
table does not name, and Retain Safe Private (see :mod:`radprep.deid.actions`)."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from pydicom.datadict import dictionary_VM, dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from radprep.deid.config import DeidConfig
from radprep.deid.profile import ProfileEntry, load_profile
from radprep.deid.tables import (
    _BINARY_GROUPS,
    _BINARY_VRS,
    _SEQUENCES_BY_KEYWORD_ONLY,
    _TEXT_DUMMIED,
    _TEXT_EMPTIED,
    CLASS_UID_KEYWORDS,
    CODED_OR_NUMERIC_VRS,
    KEPT_KEYWORDS,
    REQUIRED_TYPE,
    SAFE_PRIVATE,
    TECHNICAL_GROUPS,
)

__all__ = ["resolve_action"]

_DATES_COLUMNS = ("retain_longitudinal_modified_dates", "retain_longitudinal_full_dates")


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


@lru_cache(maxsize=4096)
def _single_valued(tag: int) -> bool:
    try:
        return dictionary_VM(tag) == "1"
    except KeyError:
        return False


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
