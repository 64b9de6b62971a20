"""Tensor layouts for models: HW and HWC to CHW, batches as NCHW or NHWC, and back.

radprep keeps ``(rows, cols[, channels])`` everywhere else (see :mod:`radprep.types`); only
this module reorders axes. Dtype changes go through :func:`convert_dtype`, which scales between
stated ranges.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from radprep._dtype import convert_dtype
from radprep._validate import check_array, check_choice
from radprep.errors import InputError, SpecError

__all__ = [
    "LAYOUTS",
    "BatchLayout",
    "convert_dtype",
    "from_batch",
    "from_chw",
    "to_batch",
    "to_chw",
]

BatchLayout = Literal["NCHW", "NHWC"]
LAYOUTS: tuple[BatchLayout, ...] = ("NCHW", "NHWC")


def to_chw(image: np.ndarray, /) -> np.ndarray:
    """Return HW as ``(1, rows, cols)`` and HWC ``(rows, cols, c)`` as ``(c, rows, cols)``.

    The result is C-contiguous, as frameworks expect.
    """
    check_array(image)
    if image.ndim == 2:
        return np.ascontiguousarray(image[None])
    return np.ascontiguousarray(np.moveaxis(image, 2, 0))


def from_chw(array: np.ndarray, /, *, squeeze: bool = True) -> np.ndarray:
    """Return ``(c, rows, cols)`` as ``(rows, cols, c)``; one channel as ``(rows, cols)``."""
    check_array(array, name="array", ndim=(3,))
    if squeeze and array.shape[0] == 1:
        return array[0]
    return np.moveaxis(array, 0, 2)


def to_batch(images: Sequence[np.ndarray], /, layout: BatchLayout = "NCHW") -> np.ndarray:
    """Stack same-shaped HW or HWC images into one NCHW or NHWC batch.

    Raises
    ------
    SpecError
        If `images` is empty or `layout` is unknown.
    InputError
        If the images differ in shape (resize them to one size first).
    """
    check_choice(layout, LAYOUTS, name="layout")
    if len(images) == 0:
        raise SpecError("images is empty; a batch needs at least one image")
    first = check_array(images[0], name="images[0]")
    for i, image in enumerate(images):
        check_array(image, name=f"images[{i}]")
        if image.shape != first.shape:
            raise InputError(
                f"images[{i}] has shape {image.shape} but images[0] has {first.shape}; "
                "resize them to one size before batching"
            )
    hwc = np.stack([im if im.ndim == 3 else im[:, :, None] for im in images])
    return hwc if layout == "NHWC" else np.ascontiguousarray(np.moveaxis(hwc, 3, 1))


def from_batch(
    batch: np.ndarray, /, layout: BatchLayout = "NCHW", *, squeeze: bool = True
) -> list[np.ndarray]:
    """Split an NCHW or NHWC batch into HWC images (HW when one channel and `squeeze`)."""
    check_choice(layout, LAYOUTS, name="layout")
    check_array(batch, name="batch", ndim=(4,))
    hwc = batch if layout == "NHWC" else np.moveaxis(batch, 1, 3)
    return [im[:, :, 0] if squeeze and im.shape[2] == 1 else im for im in hwc]
