"""Pseudo-colour: grey -> colour lookup table (blue to red) -> optionally YCbCr.

The LUT is any OpenCV colormap (``jet``, ``turbo``, ``hot``, ...) or any matplotlib colormap
name (``viridis``, ``coolwarm``, ...); OpenCV's names win where both exist. Output is uint8,
channels last, RGB or YCbCr (Y, Cb, Cr in that order, ITU-R BT.601 full range as OpenCV computes).
"""

from __future__ import annotations

from functools import cache
from typing import Literal

import cv2
import numpy as np

from radprep._dtype import convert_dtype
from radprep._validate import check_array
from radprep.errors import SpecError

__all__ = ["OPENCV_COLORMAPS", "colormap_lut", "pseudocolor", "rgb_to_ycbcr"]

OPENCV_COLORMAPS: dict[str, int] = {
    name[len("COLORMAP_") :].lower(): getattr(cv2, name)
    for name in dir(cv2)
    if name.startswith("COLORMAP_")
}


@cache
def colormap_lut(name: str) -> np.ndarray:
    """Return the ``(256, 3)`` uint8 RGB table of an OpenCV or matplotlib colormap.

    Raises
    ------
    SpecError
        If neither OpenCV nor matplotlib knows `name`.
    """
    key = name.lower()
    if key in OPENCV_COLORMAPS:
        ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
        bgr = cv2.applyColorMap(ramp, OPENCV_COLORMAPS[key]).reshape(256, 3)
        lut = np.ascontiguousarray(bgr[:, ::-1])
    else:
        import matplotlib  # lazily: only non-OpenCV names need it

        if name not in matplotlib.colormaps:
            known = ", ".join(sorted(OPENCV_COLORMAPS))
            raise SpecError(
                f"cmap={name!r} is not an OpenCV colormap ({known}) nor a matplotlib colormap"
            )
        rgba = matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256))
        lut = np.rint(rgba[:, :3] * 255).astype(np.uint8)
    lut.flags.writeable = False
    return lut


def rgb_to_ycbcr(rgb: np.ndarray, /) -> np.ndarray:
    """Convert uint8 RGB ``(rows, cols, 3)`` or ``(slices, rows, cols, 3)`` to YCbCr (Y, Cb, Cr)
    with OpenCV's BT.601 matrix."""
    check_array(rgb, name="rgb", ndim=(3, 4))
    if rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
        raise SpecError(f"rgb must be uint8 ([slices,] rows, cols, 3), got {rgb.dtype} {rgb.shape}")
    # Pixel by pixel: the slices of a volume go to OpenCV as one tall image.
    flat = np.ascontiguousarray(rgb).reshape(-1, rgb.shape[-2], 3)
    ycrcb = cv2.cvtColor(flat, cv2.COLOR_RGB2YCrCb).reshape(rgb.shape)
    return ycrcb[..., [0, 2, 1]]


def pseudocolor(
    image: np.ndarray,
    /,
    *,
    cmap: str = "jet",
    ycbcr: bool = False,
    in_range: tuple[float, float] | Literal["dtype", "image"] = "dtype",
) -> np.ndarray:
    """Map a grey image or volume through a colour LUT, optionally on to YCbCr.

    Parameters
    ----------
    image : ndarray
        A 2D grey image or a 3D ``(slices, rows, cols)`` volume.
    cmap : str
        An OpenCV colormap name (``jet``: blue to red) or a matplotlib colormap name.
    ycbcr : bool
        Return Y, Cb, Cr instead of R, G, B.
    in_range : (float, float) or {"dtype", "image"}
        The grey values mapped to the LUT's first and last entries (see
        :func:`radprep._dtype.convert_dtype`); uint8 with ``"dtype"`` indexes the LUT directly.
        ``"image"`` takes the min and max of the whole array: one range for every slice of a
        volume, so colours compare across slices.

    Returns
    -------
    ndarray of uint8
        ``image.shape + (3,)``.
    """
    check_array(image, ndim=(2, 3))
    lut = colormap_lut(cmap)
    if image.dtype == np.uint8 and in_range == "dtype":
        grey = image
    else:
        grey = convert_dtype(image, "uint8", in_range=in_range)
    rgb = lut[grey]
    return rgb_to_ycbcr(rgb) if ycbcr else rgb
