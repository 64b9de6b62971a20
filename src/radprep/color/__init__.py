"""Colour: pseudo-colour LUTs and YCbCr, multi-window channels, grey to three channels."""

from radprep.color.channels import grey_to_rgb, linear_window, window_channels
from radprep.color.pseudocolor import OPENCV_COLORMAPS, colormap_lut, pseudocolor, rgb_to_ycbcr

__all__ = [
    "OPENCV_COLORMAPS",
    "colormap_lut",
    "grey_to_rgb",
    "linear_window",
    "pseudocolor",
    "rgb_to_ycbcr",
    "window_channels",
]
