"""Cleaning: border residue, foreground masks, burned-in labels, CLAHE."""

from radprep.clean.border import border_residue_runs, remove_border_residue
from radprep.clean.contrast import clahe
from radprep.clean.foreground import (
    fill_holes,
    foreground_mask,
    largest_component,
    otsu_threshold,
)
from radprep.clean.labels import remove_labels

__all__ = [
    "border_residue_runs",
    "clahe",
    "fill_holes",
    "foreground_mask",
    "largest_component",
    "otsu_threshold",
    "remove_border_residue",
    "remove_labels",
]
