"""CLAHE (contrast-limited adaptive histogram equalisation) for 8- and 16-bit images."""

from __future__ import annotations

import cv2
import numpy as np

from radprep._dtype import convert_dtype
from radprep._validate import check_array, check_positive

__all__ = ["clahe"]


def clahe(
    image: np.ndarray,
    /,
    *,
    clip_limit: float = 2.0,
    tile_grid: tuple[int, int] = (8, 8),
) -> np.ndarray:
    """Equalise local contrast with OpenCV's CLAHE.

    Parameters
    ----------
    image : ndarray
        A 2D grey image. uint8 and uint16 are equalised as they are (OpenCV's CLAHE takes
        16-bit data and uses its whole range); floats are mapped from their min..max onto
        uint16, equalised, and returned as float32 in [0, 1].
    clip_limit : float
        Contrast limit per tile (OpenCV's ``clipLimit``).
    tile_grid : (int, int)
        Tiles along rows and columns.

    Returns
    -------
    ndarray
        uint8 or uint16 for integer input (the dtype's full range), float32 for float input.

    Raises
    ------
    SpecError
        If the image is not 2D, or `clip_limit` or a tile count is not positive.
    """
    check_array(image, ndim=(2,))
    check_positive(clip_limit, name="clip_limit")
    ty, tx = (int(v) for v in tile_grid)
    check_positive(ty, name="tile_grid")
    check_positive(tx, name="tile_grid")
    equaliser = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(tx, ty))
    if image.dtype in (np.uint8, np.uint16):
        return equaliser.apply(np.ascontiguousarray(image))
    as16 = convert_dtype(image, "uint16", in_range="image")
    return convert_dtype(equaliser.apply(as16), "float32")
