"""Channels from grey: several VOI windows stacked, or the grey copied to three channels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from radprep._validate import check_array
from radprep.errors import SpecError
from radprep.intensity.window import window_values

__all__ = ["grey_to_rgb", "linear_window", "window_channels"]


def linear_window(image: np.ndarray, /, center: float, width: float) -> np.ndarray:
    """Apply a DICOM LINEAR window (PS3.3 C.11.2.1.2.1) to modality values, onto [0, 1].

    Values at or below ``center - 0.5 - (width - 1) / 2`` give 0, values above
    ``center - 0.5 + (width - 1) / 2`` give 1, linear in between; the arithmetic is the VOI
    stage's (:func:`radprep.intensity.window.window_values`).

    Raises
    ------
    SpecError
        If `width` < 1 (PS3.3 C.11.2.1.2: Window Width (0028,1051) shall be >= 1).
    """
    check_array(image)
    return window_values(image, center, width, function="LINEAR")


def window_channels(image: np.ndarray, /, windows: Sequence[tuple[float, float]]) -> np.ndarray:
    """Stack one LINEAR window per ``(center, width)`` as channels: ``(rows, cols, n)`` float32.

    The usual CT trio is brain (40, 80), subdural (80, 200) and bone (600, 2800).

    Raises
    ------
    SpecError
        If there is no window, a window is not a (center, width) pair, or a width is below 1.
    """
    check_array(image, ndim=(2,))
    if len(windows) == 0:
        raise SpecError("windows is empty; give at least one (center, width) pair")
    out = np.empty((*image.shape, len(windows)), dtype=np.float32)
    for i, window in enumerate(windows):
        if len(window) != 2:
            raise SpecError(f"windows[{i}]={window!r} is not a (center, width) pair")
        out[..., i] = linear_window(image, float(window[0]), float(window[1]))
    return out


def grey_to_rgb(image: np.ndarray, /) -> np.ndarray:
    """Return a grey ``(rows, cols)`` image copied into three channels, ``(rows, cols, 3)``."""
    check_array(image, ndim=(2,))
    return np.repeat(image[:, :, None], 3, axis=2)
