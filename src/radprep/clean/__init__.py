"""Cleaning: border residue, breast and foreground masks, burned-in labels, CLAHE."""

from radprep.clean.border import border_residue_runs, remove_border_residue
from radprep.clean.breast import breast_mask
from radprep.clean.contrast import clahe
from radprep.clean.foreground import (
    fill_holes,
    foreground_mask,
    largest_component,
    otsu_threshold,
)
from radprep.clean.labels import remove_labels
from radprep.clean.pectoral import chest_wall_side, pectoral_mask

__all__ = [
    "border_residue_runs",
    "breast_mask",
    "chest_wall_side",
    "clahe",
    "fill_holes",
    "foreground_mask",
    "largest_component",
    "otsu_threshold",
    "pectoral_mask",
    "remove_border_residue",
    "remove_labels",
]
