"""Spatial operations on arrays: crops, padding, resizing, orientation.

Each returns the new pixels and, where the geometry changes in a way the output shape does not
say, the box or flag that :class:`radprep.geometry.Geometry` needs to follow.
"""

from radprep.spatial.crop import (
    SquareCrop,
    crop_square_keep_roi,
    crop_to_bbox,
    crop_to_foreground,
    margin_px_from_mm,
    square_box_keep_roi,
)
from radprep.spatial.orient import (
    chest_wall_side,
    flip,
    flip_to_laterality,
    normalize_laterality,
    rot90,
)
from radprep.spatial.pad import pad_to_shape, pad_to_square
from radprep.spatial.resize import (
    Letterbox,
    fit_shape,
    resize,
    resize_letterbox,
    resize_mask,
    resize_shortest_side,
)

__all__ = [
    "Letterbox",
    "SquareCrop",
    "chest_wall_side",
    "crop_square_keep_roi",
    "crop_to_bbox",
    "crop_to_foreground",
    "fit_shape",
    "flip",
    "flip_to_laterality",
    "margin_px_from_mm",
    "normalize_laterality",
    "pad_to_shape",
    "pad_to_square",
    "resize",
    "resize_letterbox",
    "resize_mask",
    "resize_shortest_side",
    "rot90",
    "square_box_keep_roi",
]
