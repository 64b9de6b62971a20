"""Retain Longitudinal Temporal Information with Modified Dates (PS3.15 E.3.6), and ages.

Every date of one patient moves back by the same whole number of days, derived from the keyed
hash of the original PatientID: intervals between studies, and between birth and study, survive
to the day, and times of day are unchanged. Without the key the shift cannot be recomputed.
"""

from __future__ import annotations

import datetime as _dt
import re

from radprep.deid.uids import keyed_digest

__all__ = ["cap_age", "date_shift_days", "shift_da", "shift_dt"]

_ONE_DATE = re.compile(r"^(\d{4})(?:[.-]?(\d{2}))?(?:[.-]?(\d{2}))?$")


def date_shift_days(patient_id: str, key: bytes, max_days: int = 3652) -> int:
    """Return the whole-day shift of a patient's dates: from -1 to -`max_days`.

    Parameters
    ----------
    patient_id : str
        The original PatientID (spaces and NULs around it ignored).
    key : bytes
        The project's secret key.
    max_days : int
        The largest shift (default: about ten years).
    """
    h = int.from_bytes(keyed_digest(key, "dateshift", patient_id.strip("\x00 "))[:8], "big")
    return -(1 + h % max_days)


def _shift_one(text: str, days: int) -> str | None:
    m = _ONE_DATE.match(text)
    if not m:
        return None
    y, mo, d = m.group(1), m.group(2), m.group(3)
    try:
        # A partial date (YYYY or YYYYMM, PS3.5 6.2 DT) moves by its middle, keeping its precision.
        if not mo:
            base = _dt.date(int(y), 7, 2)
        elif not d:
            base = _dt.date(int(y), int(mo), 15)
        else:
            base = _dt.date(int(y), int(mo), int(d))
        new = base + _dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    if not mo:
        return f"{new.year:04d}"
    if not d:
        return f"{new.year:04d}{new.month:02d}"
    return f"{new.year:04d}{new.month:02d}{new.day:02d}"


def shift_da(value: str, days: int) -> str | None:
    """Shift a DA value (one date, a range ``A-B``) by whole days.

    Returns None when the value is not a date (the caller removes or empties it). The legacy
    ``YYYY.MM.DD`` form (ACR-NEMA) is read and written back as ``YYYYMMDD``.
    """
    text = value.strip("\x00 ")
    if not text:
        return ""
    if "-" in text and len(text) > 10:  # a range, PS3.4 C.2.2.2.5
        a, _, b = text.partition("-")
        sa = _shift_one(a.strip(), days) if a.strip() else ""
        sb = _shift_one(b.strip(), days) if b.strip() else ""
        return None if sa is None or sb is None else f"{sa}-{sb}"
    return _shift_one(text, days)


_DT = re.compile(r"^(\d{4}(?:\d{2}(?:\d{2})?)?)(.*)$")


def shift_dt(value: str, days: int) -> str | None:
    """Shift a DT value (``YYYYMMDDHHMMSS.FFFFFF&ZZXX``) by whole days; time and offset kept.

    Returns None when the value is not a date-time.
    """
    text = value.strip("\x00 ")
    if not text:
        return ""
    if "-" in text[1:] and not re.search(r"[+-]\d{4}$", text):  # a range
        a, _, b = text.partition("-")
        sa, sb = (shift_dt(a, days) if a else ""), (shift_dt(b, days) if b else "")
        return None if sa is None or sb is None else f"{sa}-{sb}"
    m = _DT.match(text)
    if not m:
        return None
    date = _shift_one(m.group(1), days)
    rest = m.group(2)
    if date is None or not re.fullmatch(r"[\d.+-]*", rest):
        return None
    return date + rest


_AGE = re.compile(r"^(\d{3})([DWMY])$")
_DAYS_PER = {"D": 1.0, "W": 7.0, "M": 365.25 / 12, "Y": 365.25}


def cap_age(value: str) -> str | None:
    """Return an AS age with ages over 89 years as ``090Y`` (HIPAA 164.514(b)(2)(i)(C)).

    Returns None when the value is not an age string.
    """
    text = value.strip("\x00 ")
    if not text:
        return ""
    m = _AGE.match(text)
    if not m:
        return None
    years = int(m.group(1)) * _DAYS_PER[m.group(2)] / 365.25
    return "090Y" if years > 89 else text
