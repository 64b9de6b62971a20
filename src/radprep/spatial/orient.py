"""Orientation: make every breast face the same way; flips and quarter turns.

Mammograms are stored with the chest wall at the left edge for a left breast and at the right
edge for a right breast (Patient Orientation (0020,0020) ``A\\R`` for L CC, ``P\\L`` for R CC), so
that the two breasts hang back to back. Models learn faster when every image has its chest wall on
the same side; :func:`flip_to_laterality` mirrors the images that do not.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from radprep._validate import check_array, check_choice
from radprep.errors import InputError

__all__ = [
    "LATERALITIES",
    "SIDES",
    "Laterality",
    "Side",
    "chest_wall_side",
    "flip",
    "flip_to_laterality",
    "normalize_laterality",
    "rot90",
]

Side = Literal["left", "right"]
SIDES: tuple[Side, ...] = ("left", "right")
Laterality = Literal["L", "R"]
LATERALITIES: tuple[Laterality, ...] = ("L", "R")

_LATERALITY_WORDS: dict[str, Laterality] = {"L": "L", "LEFT": "L", "R": "R", "RIGHT": "R"}


def normalize_laterality(value: str) -> Laterality:
    """Return ``"L"`` or ``"R"`` for the ways headers and label files write a side.

    ImageLaterality (0020,0062) and Laterality (0020,0060) hold ``L``/``R``; CBIS-DDSM's
    ``left or right breast`` column holds ``LEFT``/``RIGHT``.

    Raises
    ------
    InputError
        For ``B`` (both), ``U`` (unpaired) or anything else that names no single side.
    """
    key = str(value).strip().upper()
    if key not in _LATERALITY_WORDS:
        raise InputError(
            f"laterality {value!r} names no single side; expected L, R, LEFT or RIGHT "
            "(ImageLaterality (0020,0062)); pass laterality=None to detect it from the pixels"
        )
    return _LATERALITY_WORDS[key]


def chest_wall_side(image: np.ndarray, /) -> Side:
    """Return the side whose half of the image holds more tissue (more signal).

    Expects display intensities (higher = denser, as after MONOCHROME1 inversion): the breast
    is attached to the chest wall, so the half with the larger sum is the chest-wall side.
    """
    check_array(image)
    cols = image.shape[1]
    half = cols // 2
    left = float(np.sum(image[:, :half], dtype=np.float64))
    right = float(np.sum(image[:, cols - half :], dtype=np.float64))
    return "left" if left >= right else "right"


def flip(image: np.ndarray, /, axis: int) -> np.ndarray:
    """Return `image` mirrored along array axis 0 (rows) or 1 (columns), as a view."""
    check_array(image)
    check_choice(axis, (0, 1), name="axis")
    return image[::-1] if axis == 0 else image[:, ::-1]


def flip_to_laterality(
    image: np.ndarray,
    /,
    laterality: str | None = None,
    *,
    chest_wall: Side = "left",
) -> tuple[np.ndarray, bool]:
    """Mirror `image` left-right when needed so that its chest wall is on the `chest_wall` side.

    Parameters
    ----------
    image : ndarray
        ``(rows, cols)`` or ``(rows, cols, channels)``.
    laterality : str, optional
        ``L``/``R`` (or ``LEFT``/``RIGHT``) from the header or the labels: L has its chest wall
        at the left as stored, R at the right. ``None`` detects the side from where the tissue
        is (:func:`chest_wall_side`).
    chest_wall : {"left", "right"}
        The side every output has its chest wall on.

    Returns
    -------
    ndarray
        The image, mirrored (a view) or as it was.
    bool
        Whether it was mirrored; the geometry follows with ``Geometry.flip(1, cols)``.

    Raises
    ------
    SpecError
        If `chest_wall` is unknown.
    InputError
        If `laterality` names no single side.
    """
    check_array(image)
    check_choice(chest_wall, SIDES, name="chest_wall")
    if laterality is None:
        current = chest_wall_side(image)
    else:
        current = "left" if normalize_laterality(laterality) == "L" else "right"
    if current == chest_wall:
        return image, False
    return image[:, ::-1], True


def rot90(image: np.ndarray, /, k: int = 1) -> np.ndarray:
    """Rotate `image` by ``k`` quarter turns counter-clockwise (``np.rot90``), as a view.

    The geometry follows with ``Geometry.rot90(k, shape)``.
    """
    check_array(image)
    return np.rot90(image, int(k), axes=(0, 1))
