"""Masks of several abnormalities: merged into one, or kept apart as a stack."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from radprep._validate import check_array
from radprep.errors import InputError, SpecError

__all__ = ["as_binary_mask", "merge_masks", "stack_masks"]


def as_binary_mask(mask: np.ndarray, /, *, name: str = "mask") -> np.ndarray:
    """Return `mask` as bool: any nonzero value is inside (PNG masks often hold 255)."""
    check_array(mask, name=name, ndim=(2,))
    return mask if mask.dtype == bool else mask != 0


def _checked(masks: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> list[np.ndarray]:
    items = list(masks.values()) if isinstance(masks, Mapping) else list(masks)
    if not items:
        raise SpecError("need at least one mask, got none")
    binary = [as_binary_mask(m, name=f"masks[{i}]") for i, m in enumerate(items)]
    shape = binary[0].shape
    for i, m in enumerate(binary):
        if m.shape != shape:
            raise InputError(
                f"masks[{i}] has shape {m.shape} but masks[0] has {shape}; "
                "masks of one image must share its grid"
            )
    return binary


def merge_masks(masks: Sequence[np.ndarray] | Mapping[str, np.ndarray], /) -> np.ndarray:
    """Return the union of several abnormalities' masks as one bool mask."""
    binary = _checked(masks)
    out = binary[0].copy()
    for m in binary[1:]:
        out |= m
    return out


def stack_masks(masks: Sequence[np.ndarray] | Mapping[str, np.ndarray], /) -> np.ndarray:
    """Return the masks kept apart as a ``(n, rows, cols)`` bool stack, in the given order."""
    return np.stack(_checked(masks))
