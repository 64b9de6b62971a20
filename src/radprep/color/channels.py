"""Channels from grey: one LINEAR window, or the grey copied to three channels (several
windows stacked: :func:`radprep.color.windows.window_stack`)."""

from __future__ import annotations

import numpy as np

from radprep._validate import check_array
from radprep.intensity.window import window_values

__all__ = ["grey_to_rgb", "linear_window"]


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


def grey_to_rgb(image: np.ndarray, /) -> np.ndarray:
    """Return a grey ``(rows, cols)`` image copied into three channels, ``(rows, cols, 3)``."""
    check_array(image, ndim=(2,))
    return np.repeat(image[:, :, None], 3, axis=2)
