"""Masks of several abnormalities: merged into one, kept apart as a stack, or built from
frames."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from radprep._validate import check_array
from radprep.errors import InputError, SpecError

__all__ = ["as_binary_mask", "frames_to_slices", "merge_masks", "stack_masks"]


def as_binary_mask(
    mask: np.ndarray, /, *, name: str = "mask", ndim: tuple[int, ...] = (2,)
) -> np.ndarray:
    """Return `mask` as bool: any nonzero value is inside (PNG masks often hold 255)."""
    check_array(mask, name=name, ndim=ndim)
    return mask if mask.dtype == bool else mask != 0


def _checked(masks: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> list[np.ndarray]:
    items = list(masks.values()) if isinstance(masks, Mapping) else list(masks)
    if not items:
        raise SpecError("need at least one mask, got none")
    binary = [as_binary_mask(m, name=f"masks[{i}]", ndim=(2, 3, 4)) for i, m in enumerate(items)]
    shape = binary[0].shape
    for i, m in enumerate(binary):
        if m.shape != shape:
            raise InputError(
                f"masks[{i}] has shape {m.shape} but masks[0] has {shape}; "
                "masks of one image must share its grid"
            )
    return binary


def merge_masks(masks: Sequence[np.ndarray] | Mapping[str, np.ndarray], /) -> np.ndarray:
    """Return the union (OR) of masks on one grid as one new bool mask, 2D or 3D.

    This is the one place radprep joins masks: the sample's ROI, the volume ops' default mask,
    the CBIS ``roi`` mask, a series' merged masks and the report's outline all call it.

    Raises
    ------
    SpecError
        If there is no mask.
    InputError
        If the masks' shapes differ.
    """
    binary = _checked(masks)
    out = binary[0].copy()
    for m in binary[1:]:
        out |= m
    return out


def stack_masks(masks: Sequence[np.ndarray] | Mapping[str, np.ndarray], /) -> np.ndarray:
    """Return the masks kept apart as an ``(n, *shape)`` bool stack, in the given order."""
    return np.stack(_checked(masks))


def frames_to_slices(
    frames: np.ndarray,
    /,
    slice_of: Sequence[int],
    label_of: Sequence[int],
    labels: Sequence[int],
    *,
    n_slices: int,
) -> dict[int, np.ndarray]:
    """Stack 2D mask frames into one ``(n_slices, rows, cols)`` bool volume per label.

    Frame ``f`` (nonzero inside) belongs to label ``label_of[f]`` and goes into slice
    ``slice_of[f]``; frames of one label meeting in one slice are joined (OR). A label without
    frames gets an empty volume.
    """
    check_array(frames, name="frames", ndim=(3,))
    out = {}
    for label in labels:
        volume = np.zeros((n_slices, *frames.shape[1:]), dtype=bool)
        for f, (k, lab) in enumerate(zip(slice_of, label_of, strict=True)):
            if lab == label:
                volume[k] |= frames[f] != 0
        out[label] = volume
    return out
