"""Names made of generated UIDs only, and the identifying values they are made from."""

from __future__ import annotations

import re
from pathlib import Path

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag

from radprep.deid.uids import map_uid
from radprep.errors import OutputError

__all__ = ["is_uid_name", "joined", "output_relpath", "single_uid"]

_UID_NAME = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_NO_NAME = {"StudyInstanceUID": "no-study-uid", "SeriesInstanceUID": "no-series-uid"}


def is_uid_name(value: str) -> bool:
    """Return True for a safe path component made of a UID: digits and dots, 1 to 64 characters."""
    return 0 < len(value) <= 64 and _UID_NAME.fullmatch(value) is not None


_TAGS = {
    "StudyInstanceUID": 0x0020000D,
    "SeriesInstanceUID": 0x0020000E,
    "SOPInstanceUID": 0x00080018,
    "SOPClassUID": 0x00080016,
    "PatientID": 0x00100020,
    "TransferSyntaxUID": 0x00020010,
}


def joined(ds: Dataset, keyword: str) -> str:
    """The value of a single-byte text attribute (UI, LO of an ID) as one string, several values
    joined by a backslash, each stripped of padding; read from the raw bytes when it can be."""
    elem = ds._dict.get(BaseTag(_TAGS[keyword]))
    if elem is None:
        return ""
    if isinstance(elem, RawDataElement) and elem.value is not None and elem.value.isascii():
        text = elem.value.decode("ascii")
        return "\\".join(v.strip("\x00 ") for v in text.split("\\"))
    try:
        value = ds[_TAGS[keyword]].value
    except Exception:
        return ""
    if value is None:
        return ""
    values = list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]
    return "\\".join(str(v).strip("\x00 ") for v in values)


def _name_uid(source: Dataset, keyword: str, key: bytes) -> str:
    """Return the generated UID that names the output folder or file for `keyword`.

    It is the keyed mapping of the original value (all values joined): the new UID itself
    unless UIDs are retained, and never a header value, so that no value in an input can choose
    where a file is written.
    """
    original = joined(source, keyword)
    if not original:
        return _NO_NAME.get(keyword, "")
    name = map_uid(original, key)
    if not is_uid_name(name):  # pragma: no cover - map_uid gives 2.25.<digits> or a standard UID
        raise OutputError(f"the generated {keyword} {name!r} is not a valid UID")
    return name


def single_uid(value: object) -> str | None:
    """Return `value` as one valid UID (digits and dots, at most 64 characters), else None."""
    if value is None or isinstance(value, (list, tuple, MultiValue)):
        return None
    text = str(value).strip("\x00 ")
    return text if is_uid_name(text) else None


def output_relpath(source: Dataset, key: bytes, sop_name: str | None = None) -> Path:
    """Return ``<study>/<series>/<sop>.dcm``: names made of generated UIDs only.

    Each name is the keyed mapping of the original StudyInstanceUID, SeriesInstanceUID and
    SOPInstanceUID of `source` (see :func:`radprep.deid.uids.map_uid`; several values are mapped
    together to one UID), whatever the options: with Retain UIDs the file keeps its UIDs but its
    path is still made of generated ones. Each name is checked to be digits and dots, at most
    64 characters.

    Parameters
    ----------
    source : Dataset
        The original data set.
    key : bytes
        The project's secret key.
    sop_name : str, optional
        The generated UID that names the file when `source` has no SOPInstanceUID.
    """
    study = _name_uid(source, "StudyInstanceUID", key)
    series = _name_uid(source, "SeriesInstanceUID", key)
    sop = sop_name or _name_uid(source, "SOPInstanceUID", key)
    if not is_uid_name(sop):
        raise OutputError(f"the generated file name {sop!r} is not a valid UID")
    return Path(study) / series / f"{sop}.dcm"
