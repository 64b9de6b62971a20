"""Find a data set's own identifying values (names, IDs, dates) among the words OCR read.

Values and words are folded the same way (upper case, letters and digits, characters OCR
confuses made one), and long values may be matched with a few edits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset

from radprep.deid.redact import date_forms, name_parts
from radprep.deid.words import Word

__all__ = [
    "DATE_KEYWORDS",
    "ID_KEYWORDS",
    "NAME_KEYWORDS",
    "PhiMatch",
    "identifying_values",
    "match_phi",
]

NAME_KEYWORDS = (
    "PatientName",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientMotherBirthName",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
)
ID_KEYWORDS = ("PatientID", "OtherPatientIDs", "AccessionNumber", "StudyID")
DATE_KEYWORDS = ("PatientBirthDate", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")

# OCR mixes these up; both sides are folded the same way before comparing.
_CONFUSABLE = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "|": "1",
                             "S": "5", "B": "8", "Z": "2", "G": "6"})  # fmt: skip


def _fold(text: str) -> str:
    """Upper case, letters and digits only, confusable characters folded."""
    return re.sub(r"[^0-9A-Z]", "", text.upper().translate(_CONFUSABLE))


@dataclass(frozen=True)
class _Needle:
    keyword: str
    folded: str
    max_errors: int


def _values(ds: Dataset, keyword: str) -> list[str]:
    value = ds.get(keyword)
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v) for v in value if str(v).strip()]
    return [str(value)]


def identifying_values(ds: Dataset) -> list[_Needle]:
    """Return what to look for in the image: the data set's own names, IDs and dates.

    Names are split into their parts (any order matches); IDs are matched whole; dates in
    the common written forms. Values are folded (:func:`_fold`); the keyword is kept so a match
    can be reported without its value.
    """
    needles: list[_Needle] = []
    sources: list[Dataset] = [ds, *(ds.get("OtherPatientIDsSequence") or [])]
    for src in sources:
        for kw in NAME_KEYWORDS:
            for v in _values(src, kw):
                for part in name_parts(v):
                    # A double-barrelled name is looked for whole and by each of its parts.
                    for piece in {part, *part.split("-")}:
                        f = _fold(piece)
                        if len(f) >= 3:
                            needles.append(_Needle(kw, f, 1 if len(f) >= 6 else 0))
        for kw in ID_KEYWORDS:
            for v in _values(src, kw):
                f = _fold(v)
                if len(f) >= 4:
                    needles.append(_Needle(kw, f, 0 if len(f) < 7 else (1 if len(f) < 12 else 2)))
        for kw in DATE_KEYWORDS:
            for v in _values(src, kw):
                for f in {_fold(form) for form in date_forms(v)}:
                    needles.append(_Needle(kw, f, 0 if len(f) < 8 else 1))
    unique = {(n.keyword, n.folded): n for n in needles}
    return list(unique.values())


def _within(needle: str, hay: str, max_errors: int) -> bool:
    """True when `needle` occurs in `hay` with at most `max_errors` edits (Sellers' algorithm)."""
    if needle in hay:
        return True
    if max_errors == 0 or len(hay) < len(needle) - max_errors:
        return False
    prev = list(range(len(needle) + 1))
    for ch in hay:
        cur = [0]
        for j, nc in enumerate(needle, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (nc != ch)))
        if cur[-1] <= max_errors:
            return True
        prev = cur
    return False


@dataclass(frozen=True)
class PhiMatch:
    """Words that hold a data set's own identifying value, and which attributes matched."""

    keywords: tuple[str, ...]
    words: tuple[Word, ...]


def match_phi(words: Iterable[Word], needles: Sequence[_Needle]) -> PhiMatch:
    """Find the words (or runs of words of one line) that spell an identifying value.

    Words are split at punctuation into tokens. A short value (under 5 characters) must equal a
    token; a longer one may sit inside a run of up to six tokens of one line (a name or a date
    split over words: ``DOE, JOHN``, ``08 / 29 / 1951``), with the value's allowed OCR errors.
    Any confidence counts: a match against the file's own values is evidence enough.
    """
    by_line: dict[int, list[tuple[str, Word]]] = {}
    for w in words:
        for tok in re.split(r"[^0-9A-Za-z|]+", w.text):
            f = _fold(tok)
            if f:
                by_line.setdefault(w.line, []).append((f, w))
    keywords: set[str] = set()
    hits: dict[tuple[int, int, int, int, int], Word] = {}
    short = [n for n in needles if len(n.folded) < 5]
    long = [n for n in needles if len(n.folded) >= 5]
    for toks in by_line.values():
        for i, (tok, w) in enumerate(toks):
            for n in short:
                if tok == n.folded:
                    keywords.add(n.keyword)
                    hits[(w.line, *w.box)] = w
            joined = ""
            for j in range(i, min(i + 6, len(toks))):
                joined += toks[j][0]
                for n in long:
                    if len(joined) + n.max_errors < len(n.folded):
                        continue
                    if j > i and len(joined) - len(toks[j][0]) >= len(n.folded) + n.max_errors:
                        continue  # the run already held the whole value without this token
                    if _within(n.folded, joined, n.max_errors):
                        keywords.add(n.keyword)
                        for _, hw in toks[i : j + 1]:
                            hits[(hw.line, *hw.box)] = hw
    return PhiMatch(tuple(sorted(keywords)), tuple(hits.values()))
