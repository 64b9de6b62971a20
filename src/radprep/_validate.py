"""Boundary checks shared by every public function: one place, one wording."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import numpy as np

from radprep.errors import SpecError

T = TypeVar("T")

__all__ = ["check_array", "check_bbox", "check_choice", "check_positive", "check_range"]


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
