"""One redactor for free text: run messages, the report, and DICOM descriptions.

A :class:`Redactor` removes known identifying values from text, then whatever its patterns
find (paths, UIDs, dates, ID-like tokens). The rules for known values are the same wherever
text is scrubbed:

- **Case-insensitive, whole tokens.** A value is replaced only where it stands as a token of
  its own: the characters around it are not letters or digits (``_``, ``-``, ``/``, spaces and
  punctuation separate tokens), and a value at a digit's edge does not continue a number
  (``12`` is not found in ``2012``, ``120 mm`` or ``12.5``).
- **Longest first**: at each place the longest value that fits is replaced.
- **Values of 3 characters or more** (shorter ones would match everywhere).
- **Person names in their written forms** (:func:`name_forms`): ``Family^Given`` as stored,
  ``Given Family``, ``Family, Given``, ``FAMILY GIVEN``, and each part.
- **Dates in their written forms** (:func:`date_forms`): ``YYYYMMDD``, ``YYYY-MM-DD``,
  ``DD/MM/YYYY``, ``MM/DD/YYYY``, ``DD.MM.YY``, ``31 JAN 2020``, ... (the forms the OCR
  matching of :mod:`radprep.deid.ocr` looks for in pixels).
- **One replacement token** per redactor (:data:`REDACTED` in messages; DICOM values use
  the short :data:`DICOM_TOKEN`, since some VRs hold 16 characters), and an optional
  maximum length of the result.

:data:`MESSAGE_PATTERNS` (the run's messages and the report) and :func:`description_patterns`
(DICOM descriptions under Clean Descriptors) are the two pattern sets.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Any

__all__ = [
    "DICOM_TOKEN",
    "MESSAGE_PATTERNS",
    "MIN_LENGTH",
    "REDACTED",
    "Redactor",
    "date_forms",
    "description_patterns",
    "name_forms",
    "name_parts",
    "path_values",
]

REDACTED = "<redacted>"
"""What replaces a known value in a message."""
DICOM_TOKEN = "***"
"""What replaces a known value, a date or an ID in a DICOM description."""
MIN_LENGTH = 3
"""Known values shorter than this are not looked for."""

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

# Patterns ------------------------------------------------------------------------------------

# A path: absolute (or from ., .., ~ or a drive), relative with two or more separators, or a
# file name with a DICOM-ish suffix and its folders. A lone "3/4", "1/8" or "and/or" is not one.
PATH = re.compile(
    r"(?<![\w.~-])(?:[A-Za-z]:|~|\.{1,2})?[\\/][^\s:;,'\"()\[\]]+"
    r"|[\w.-]+(?:[\\/][\w.-]+){2,}[\\/]?"
    r"|(?:[\w.-]+[\\/])*[^\s:;,'\"()\[\]/\\]+\.(?:dcm|dicom|ima|img|nii|gz)\b",
    re.IGNORECASE,
)
# DICOM UIDs except the standard's own (1.2.840.10008.*: transfer syntaxes, SOP classes).
UID = re.compile(r"(?<![\d.])(?!1\.2\.840\.10008\.)\d+(?:\.\d+){3,}\b")
# DA/DT-looking dates: 19xx/20xx followed by month and day, with or without separators.
DATE = re.compile(r"\b(?:19|20)\d\d[-/.]?(?:0[1-9]|1[0-2])[-/.]?(?:0[1-9]|[12]\d|3[01])\d*\b")
# The value after an identifying attribute's keyword (PS3.15 E.1-1 kinds: names, IDs, dates,
# times, UIDs, institutions): "PatientName (0010,0010) is DOE^JANE" -> "... is <redacted>".
# The keyword is a whole word (PatientID, not "Timeout"), and the value looks like one (a
# digit, a capital or a ^): "matched by PatientID and ..." and "is missing" stay as written.
KEYWORD_VALUE = re.compile(
    r"\b(\w*(?:Patient|Physician|Operator|Institution|Accession)\w*"
    r"|[A-Z]\w*(?:Name|ID|UID|Date|Time|DateTime))\b"
    r"(\s*\([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\))?(\s+is\s+|\s*[=:]\s*|\s+)"
    r"(['\"]?)(?![(<])(?=[^\s;,'\"]*[\d^A-Z])[^\s;,'\"]+\4"
)

_MONTH_WORD = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
# Dates as people write them (descriptions): numeric with separators, and with month names.
WRITTEN_DATE = re.compile(
    r"\b(?:"
    r"(?:19|20)\d{2}[-/.]?(?:0[1-9]|1[0-2])[-/.]?(?:0[1-9]|[12]\d|3[01])"  # 20200131, 2020-01-31
    r"|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})"  # 31/01/2020, 1.31.20
    r"|\d{1,2}\s*" + _MONTH_WORD + r"\s*,?\s*\d{2,4}"  # 31 Jan 2020
    r"|" + _MONTH_WORD + r"\s*\d{1,2}\s*,?\s*\d{2,4}"  # Jan 31, 2020
    r")\b",
    re.IGNORECASE,
)
# IDs: a run of 5 or more digits, or a token of letters and digits with 3 or more digits.
ID_LIKE = re.compile(
    r"\b(?:\d[\d-]{3,}\d|(?=[A-Za-z0-9-]*\d[A-Za-z0-9-]*\d[A-Za-z0-9-]*\d)"
    r"[A-Za-z0-9][A-Za-z0-9-]{4,})\b"
)

Patterns = Sequence[tuple[re.Pattern[str], str]]

MESSAGE_PATTERNS: Patterns = (
    (KEYWORD_VALUE, r"\1\2\3" + REDACTED),
    (PATH, "<path>"),
    (UID, "<uid>"),
    (DATE, "<date>"),
)
"""What a message loses besides known values: keyword values, paths, UIDs, dates."""


def description_patterns(token: str = DICOM_TOKEN) -> Patterns:
    """What a DICOM description loses besides known values: written dates and ID-like tokens."""
    return ((WRITTEN_DATE, token), (ID_LIKE, token))


# Written forms -------------------------------------------------------------------------------


def name_parts(pn: str) -> list[str]:
    """Return the parts of a person name (PS3.5 6.2: ``^`` between components, ``=`` between
    representations; spaces and commas as people write names)."""
    return [p for p in re.split(r"[\^=\s,]+", pn) if p]


def name_forms(pn: str) -> list[str]:
    """Return the written forms of a person name: as stored, ``Given Family``,
    ``Family, Given``, ``Family Given``, ``Given Middle Family``, and each part."""
    text = pn.strip()
    forms = {text} if text else set()
    for group in text.split("="):  # alphabetic, ideographic, phonetic representations
        comps = [c.strip() for c in group.split("^")]
        family, given = [*comps, ""][:2]
        middle = comps[2] if len(comps) > 2 else ""
        if family and given:
            first = f"{given} {middle}".strip() if middle else given
            forms |= {
                f"{family}^{given}",
                f"{first} {family}",
                f"{given} {family}",
                f"{family}, {given}",
                f"{family},{given}",
                f"{family} {given}",
            }
    forms.update(name_parts(text))
    return sorted(forms, key=len, reverse=True)


def _date_layouts(da: str) -> list[tuple[str, ...]]:
    """The written layouts of a YYYYMMDD date, as tuples of fields (order as written)."""
    m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", da.strip())
    if not m:
        return []
    y, mo, d = m.groups()
    yy, mo1, d1 = y[2:], str(int(mo)), str(int(d))
    layouts: list[tuple[str, ...]] = [
        (y, mo, d),  # YYYYMMDD, YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD
        (d, mo, y),  # DD/MM/YYYY, DD.MM.YYYY, DD-MM-YYYY
        (mo, d, y),  # MM/DD/YYYY
        (mo1, d1, y),  # M/D/YYYY
        (d1, mo1, y),  # D/M/YYYY
        (d, mo, yy),  # DD.MM.YY
        (mo, d, yy),  # MM/DD/YY
    ]
    if 1 <= int(mo) <= 12:
        mon = MONTHS[int(mo) - 1]
        layouts += [(d, mon, y), (d1, mon, y), (mon, d, y), (mon, d1, y), (d, mon, yy)]
    return layouts


def date_forms(da: str, *, separators: str = "-/. ") -> list[str]:
    """Return the written forms of a DA value (``YYYYMMDD``; give a DT's first 8 characters).

    Each layout (year-month-day, day-month-year, month-day-year, with or without leading zeros,
    two-digit years, month names) is written without separators and with each of
    `separators`; month-name layouts also as ``JAN 31, 2020``. Forms with fewer than 6 letters
    and digits are left out. An empty list when `da` is not a date.
    """
    forms: set[str] = set()
    for fields in _date_layouts(da):
        if sum(len(f) for f in fields) < 6:
            continue
        forms.add("".join(fields))
        forms.update(sep.join(fields) for sep in separators)
        if fields[0].isalpha():
            forms.add(f"{fields[0]} {fields[1]}, {fields[2]}")
    return sorted(forms, key=len, reverse=True)


def path_values(path: str, *, below: str | None = None) -> list[str]:
    """Return what of a file path identifies: the path, its file name and stem, and the names
    of its folders under `below` (the data root: where the data lives is not identifying);
    every folder name when `below` is None or does not hold `path`."""
    flavour: type[PurePath] = PureWindowsPath if "\\" in path else PurePosixPath
    p = flavour(path)
    out = {path, p.name, p.stem}
    parts = list(p.parent.parts)
    if below:
        with contextlib.suppress(ValueError):
            parts = list(p.parent.relative_to(flavour(below)).parts)
    out.update(s for s in parts if s.strip("/\\") and not s.endswith((":", ":\\")))
    return sorted((v for v in out if v), key=len, reverse=True)


# The redactor --------------------------------------------------------------------------------


def _alnum(c: str) -> bool:
    return c.isalnum()


class Redactor:
    """Remove known identifying values, then what `patterns` find, from text.

    Parameters
    ----------
    values : iterable of str
        Values that must not appear (IDs, names in their forms, dates in their forms, paths).
        Matched case-insensitively as whole tokens, longest first; values shorter than
        :data:`MIN_LENGTH` are left out.
    keep : iterable of str
        Texts shown anyway (the report's sample ids): a value inside one of them is not
        looked for.
    patterns : sequence of (compiled pattern, replacement)
        Applied in order after the known values (``re.sub`` replacements); by default
        :data:`MESSAGE_PATTERNS` (keyword values, paths, UIDs, dates).
    token : str
        What replaces a known value.
    max_len : int, optional
        The result is cut to this many characters.
    active : bool
        Redact at all (a report of a run without de-identification shows its text as written).
    """

    def __init__(
        self,
        values: Iterable[str] = (),
        *,
        keep: Iterable[str] = (),
        patterns: Patterns = MESSAGE_PATTERNS,
        token: str = REDACTED,
        max_len: int | None = None,
        active: bool = True,
    ) -> None:
        self.active = active
        self.patterns = tuple(patterns)
        self.token = token
        self.max_len = max_len
        kept = "\n".join(keep).lower()
        # Values indexed by their first characters, then by length (longest first): a text costs
        # one look-up per token start plus one per distinct length at a matching prefix, however
        # many values there are (a run has thousands).
        groups: dict[str, dict[int, set[str]]] = {}
        for value in {v.strip().lower() for v in values}:
            if len(value) >= MIN_LENGTH and value not in kept:
                by_len = groups.setdefault(value[:MIN_LENGTH], {})
                by_len.setdefault(len(value), set()).add(value)
        self._index = {
            prefix: sorted(by_len.items(), reverse=True) for prefix, by_len in groups.items()
        }

    def __call__(self, text: Any) -> str:
        """Return `text` (as str) redacted (unchanged when the redactor is not active)."""
        s = str(text)
        if not self.active:
            return s
        s = self.remove_values(s)
        for pattern, replacement in self.patterns:
            s = pattern.sub(replacement, s)
        return s if self.max_len is None else s[: self.max_len]

    def remove_values(self, text: str) -> str:
        """Replace the known values in `text` by the token (no patterns, no length cut)."""
        if not self._index or not text:
            return text
        low = text.lower()
        if len(low) != len(text):  # a character whose lower case is longer: compare one by one
            low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        out: list[str] = []
        i = start = 0
        n = len(low)
        while i <= n - MIN_LENGTH:
            found = self._match_at(text, low, i)
            if not found:
                i += 1
                continue
            out += [text[start:i], self.token]
            i = start = i + found
        out.append(text[start:])
        return "".join(out)

    def _match_at(self, text: str, low: str, i: int) -> int:
        """Length of the longest value standing as a whole token at `i`, else 0."""
        candidates = self._index.get(low[i : i + MIN_LENGTH])
        if not candidates or not _starts_token(text, i):
            return 0
        for length, values in candidates:
            if low[i : i + length] in values and _ends_token(text, i + length):
                return length
        return 0


def _starts_token(text: str, i: int) -> bool:
    """True when a value may start at `i`: it does not continue a word or a number."""
    if i == 0 or not _alnum(text[i]):
        return True
    before = text[i - 1]
    if _alnum(before):
        return False
    # "12" in "3.12" or "1,12": the value would continue a number
    return not (text[i].isdigit() and before in ".," and i >= 2 and text[i - 2].isdigit())


def _ends_token(text: str, j: int) -> bool:
    """True when a value may end before `j`: the text does not go on with the same word or
    number."""
    if j >= len(text) or not _alnum(text[j - 1]):
        return True
    after = text[j]
    if _alnum(after):
        return False
    return not (
        text[j - 1].isdigit() and after in ".," and j + 1 < len(text) and text[j + 1].isdigit()
    )
