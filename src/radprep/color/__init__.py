"""Colour: pseudo-colour LUTs and YCbCr, CT windows as channels, grey to three channels."""

from radprep.color.channels import grey_to_rgb, linear_window
from radprep.color.pseudocolor import OPENCV_COLORMAPS, colormap_lut, pseudocolor, rgb_to_ycbcr
from radprep.color.windows import DEFAULT_WINDOWS, resolve_windows, window_stack

__all__ = [
    "DEFAULT_WINDOWS",
    "OPENCV_COLORMAPS",
    "colormap_lut",
    "grey_to_rgb",
    "linear_window",
    "pseudocolor",
    "resolve_windows",
    "rgb_to_ycbcr",
    "window_stack",
]
