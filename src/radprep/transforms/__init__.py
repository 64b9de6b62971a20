"""Transforms: small classes around the pure ops, with JSON specs and history entries."""

from radprep.transforms import volume  # noqa: F401  (registers the volume ops)
from radprep.transforms.base import Transform, known_ops
from radprep.transforms.clean import CLAHE, RemoveBorderResidue, RemoveLabels, RemovePectoral
from radprep.transforms.color import GreyToRGB, PseudoColor, WindowStack
from radprep.transforms.intensity import MinMax, PercentileClip, ZScore
from radprep.transforms.roi import OccludeROI
from radprep.transforms.spatial import (
    CropSquareKeepROI,
    CropToBBox,
    CropToForeground,
    FlipToLaterality,
    PadToSquare,
    Resize,
    Rot90,
)

__all__ = [
    "CLAHE",
    "CropSquareKeepROI",
    "CropToBBox",
    "CropToForeground",
    "FlipToLaterality",
    "GreyToRGB",
    "MinMax",
    "OccludeROI",
    "PadToSquare",
    "PercentileClip",
    "PseudoColor",
    "RemoveBorderResidue",
    "RemoveLabels",
    "RemovePectoral",
    "Resize",
    "Rot90",
    "Transform",
    "WindowStack",
    "ZScore",
    "known_ops",
]
