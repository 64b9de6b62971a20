"""Boundary checks shared by every public function: one place, one wording."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, TypeVar

import numpy as np

from radprep.errors import SpecError

T = TypeVar("T")

__all__ = [
    "PSEUDONYM_HASH_FIELD",
    "check_array",
    "check_bbox",
    "check_choice",
    "check_positive",
    "check_pseudonym_format",
    "check_range",
]

PSEUDONYM_HASH_FIELD = re.compile(r"\{hash(?::(\d+))?\}")
"""The ``{hash:N}`` field of a pseudonym format (N characters of a keyed hash, base 32)."""
_SAFE_NAME_PART = re.compile(r"[A-Za-z0-9_-]*")


def check_pseudonym_format(fmt: str, *, file_name: bool = False) -> None:
    """Raise ValueError unless `fmt` holds one ``{hash:N}`` field and nothing else to format.

    N is 6 to 52; the whole result is at most 64 characters. With `file_name`, the text around
    the field may hold only letters, digits, ``_`` and ``-`` (no path separators, dots or
    spaces), so that a name made from it can never leave the folder it is written in.
    """
    fields = PSEUDONYM_HASH_FIELD.findall(fmt)
    if len(fields) != 1:
        raise ValueError(
            f"pseudonym format {fmt!r} needs exactly one {{hash:N}} field, e.g. 'P{{hash:10}}'"
        )
    n = int(fields[0] or 10)
    if not 6 <= n <= 52:
        raise ValueError(f"pseudonym format {fmt!r}: N in {{hash:N}} must be 6..52, got {n}")
    rest = PSEUDONYM_HASH_FIELD.sub("", fmt)
    if "{" in rest or "}" in rest or "\\" in rest or len(rest) + n > 64:
        raise ValueError(
            f"pseudonym format {fmt!r}: only one {{hash:N}} field, no other braces or "
            "backslashes, at most 64 characters in all"
        )
    if file_name:
        for part in PSEUDONYM_HASH_FIELD.split(fmt)[::2]:
            if not _SAFE_NAME_PART.fullmatch(part):
                raise ValueError(
                    f"name format {fmt!r}: outside {{hash:N}} only letters, digits, '_' and '-' "
                    "are allowed (it names output files), e.g. 'S{hash:12}'"
                )


def check_array(arr: Any, *, name: str = "image", ndim: Iterable[int] = (2, 3)) -> np.ndarray:
    """Return `arr` as an ndarray after checking its number of dimensions.

    Parameters
    ----------
    arr : array_like
        The value to check.
    name : str
        How the message names the argument.
    ndim : iterable of int
        The accepted numbers of dimensions.

    Raises
    ------
    SpecError
        If `arr` is not an array of an accepted dimensionality, or is empty.
    """
    allowed = tuple(ndim)
    if not isinstance(arr, np.ndarray):
        raise SpecError(f"{name} must be a numpy array, got {type(arr).__name__}")
    if arr.ndim not in allowed:
        want = " or ".join(f"{n}D" for n in allowed)
        raise SpecError(f"{name} must be {want}, got {arr.ndim}D with shape {arr.shape}")
    if arr.size == 0:
        raise SpecError(f"{name} is empty (shape {arr.shape})")
    return arr


def check_choice(value: T, choices: Iterable[T], *, name: str) -> T:
    """Return `value` if it is one of `choices`; otherwise list the valid ones."""
    options = tuple(choices)
    if value not in options:
        listed = ", ".join(repr(c) for c in options)
        raise SpecError(f"{name}={value!r} is not valid; choose one of {listed}")
    return value


def check_positive(value: float, *, name: str, allow_zero: bool = False) -> float:
    """Return `value` if it is > 0 (or >= 0 with `allow_zero`)."""
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise SpecError(f"{name} must be {bound}, got {value!r}")
    return value


def check_range(value: float, lo: float, hi: float, *, name: str) -> float:
    """Return `value` if ``lo <= value <= hi``."""
    if not (lo <= value <= hi):
        raise SpecError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return value


def check_bbox(
    bbox: Any, shape: tuple[int, ...], *, name: str = "bbox"
) -> tuple[int, int, int, int]:
    """Return `bbox` as an inclusive ``(y0, x0, y1, x1)`` tuple of ints inside `shape`.

    Raises
    ------
    SpecError
        If the box is not four integers with ``y0 <= y1`` and ``x0 <= x1`` that intersect the
        image of the given ``(rows, cols, ...)`` shape.
    """
    try:
        y0, x0, y1, x1 = (int(v) for v in bbox)
    except (TypeError, ValueError):
        raise SpecError(f"{name} must be four integers (y0, x0, y1, x1), got {bbox!r}") from None
    if y0 > y1 or x0 > x1:
        raise SpecError(f"{name}={bbox!r} is empty: need y0 <= y1 and x0 <= x1 (inclusive box)")
    rows, cols = shape[0], shape[1]
    if y1 < 0 or x1 < 0 or y0 >= rows or x0 >= cols:
        raise SpecError(f"{name}={bbox!r} lies outside the {rows}x{cols} image")
    return y0, x0, y1, x1
