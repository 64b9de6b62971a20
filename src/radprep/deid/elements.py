"""New elements from old: copies, new values, per-value maps, mapped UIDs, and the fast path
that applies U, Z and the date shift to an element's encoded bytes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydicom import config as _pydicom_config
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.multival import MultiValue

from radprep.deid.dates import shift_da, shift_dt
from radprep.deid.rules import _dict_vr, _single_valued
from radprep.deid.uids import map_uid

if TYPE_CHECKING:
    from radprep.deid.actions import ActionContext

_IGNORE = _pydicom_config.IGNORE


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


def _mapped_uids(elem: DataElement, key: bytes) -> object | None:
    """Map each UID; an attribute of VM 1 holding several values gets one UID (of them all)."""
    values = _values(elem)
    if len(values) > 1 and _single_valued(elem.tag):
        return map_uid("\\".join(str(v).strip("\x00 ") for v in values), key)
    return _map_values(elem, lambda u: map_uid(u, key))


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
