"""A word read from an image, and when it counts as text (see :mod:`radprep.deid.ocr`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAINT_CONFIDENCE", "TEXT_CONFIDENCE", "Word"]

# A word is text (not texture read as letters) at this confidence with three letters or digits;
# next to text already found, FAINT_CONFIDENCE with two.
TEXT_CONFIDENCE = 75.0
FAINT_CONFIDENCE = 50.0


@dataclass(frozen=True)
class Word:
    """One word Tesseract read.

    Attributes
    ----------
    text : str
        What was read.
    confidence : float
        Tesseract's confidence, 0..100.
    box : (y0, x0, y1, x1)
        Inclusive box in stored pixel coordinates.
    line : int
        Words of the same text line (of the same frame and polarity) share this number.
    """

    text: str
    confidence: float
    box: tuple[int, int, int, int]
    line: int

    @property
    def is_text(self) -> bool:
        """True when this is confidently text, not texture read as letters.

        Three letters or digits at TEXT_CONFIDENCE, or two at 90 in a box at least as wide as
        half its height (texture gives short, narrow "words").
        """
        alnum = sum(c.isalnum() for c in self.text)
        if alnum >= 3:
            return self.confidence >= TEXT_CONFIDENCE
        y0, x0, y1, x1 = self.box
        return alnum == 2 and self.confidence >= 90 and (x1 - x0 + 1) * 2 >= (y1 - y0 + 1)

    @property
    def is_faint_text(self) -> bool:
        """True for two letters or digits at FAINT_CONFIDENCE (trusted next to found text)."""
        return sum(c.isalnum() for c in self.text) >= 2 and self.confidence >= FAINT_CONFIDENCE
