"""One primitive behind crop and pad: read a box that may reach past the image's edges."""

from __future__ import annotations

import numpy as np

from radprep.types import BBox


def take_box(image: np.ndarray, box: BBox, *, fill: float = 0) -> np.ndarray:
    """Return the pixels of the inclusive `box`, filling what lies outside the image with `fill`.

    A box inside the image gives a view (no copy); one that reaches outside gives a new array.
    Either way the input is not changed. Geometry follows with ``Geometry.crop((y0, x0))``, which
    is a pad when ``y0`` or ``x0`` is negative.
    """
    y0, x0, y1, x1 = box
    rows, cols = image.shape[:2]
    if y0 >= 0 and x0 >= 0 and y1 < rows and x1 < cols:
        return image[y0 : y1 + 1, x0 : x1 + 1]
    out = np.full((y1 - y0 + 1, x1 - x0 + 1, *image.shape[2:]), fill, dtype=image.dtype)
    sy0, sx0, sy1, sx1 = max(y0, 0), max(x0, 0), min(y1, rows - 1), min(x1, cols - 1)
    if sy0 <= sy1 and sx0 <= sx1:
        out[sy0 - y0 : sy1 - y0 + 1, sx0 - x0 : sx1 - x0 + 1] = image[sy0 : sy1 + 1, sx0 : sx1 + 1]
    return out
