"""One measure of a breast mask against a reference, for the real mammograms and the fixture."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Agreement:
    """Shares of a breast mask's errors against a reference.

    tissue_lost: reference breast (away from the skin-line band) that the mask misses, of the
    reference breast; background_kept: air (away from the band) the mask keeps, of the air;
    artefacts_left: label and band pixels the mask keeps, of those pixels.
    """

    tissue_lost: float
    background_kept: float
    artefacts_left: float


def agreement(
    mask: np.ndarray, breast: np.ndarray, artefacts: np.ndarray | None = None, *, band_px: int = 2
) -> Agreement:
    """Compare `mask` with the reference `breast`, ignoring `band_px` either side of its edge."""
    ref = breast.astype(np.uint8)
    kernel = np.ones((2 * band_px + 1, 2 * band_px + 1), np.uint8)
    inner = cv2.erode(ref, kernel).astype(bool)
    air = ~cv2.dilate(ref, kernel).astype(bool)
    mask = mask.astype(bool)
    lost = np.count_nonzero(inner & ~mask) / max(1, np.count_nonzero(ref))
    kept = np.count_nonzero(air & mask) / max(1, np.count_nonzero(air))
    left = 0.0
    if artefacts is not None:
        art = artefacts.astype(bool) & air
        left = np.count_nonzero(art & mask) / max(1, np.count_nonzero(art))
    return Agreement(float(lost), float(kept), float(left))


def assert_breast_agrees(
    mask: np.ndarray, breast: np.ndarray, artefacts=None, *, what: str
) -> None:
    """The issue's bar: tissue lost <= 1%, background kept <= 2%, artefacts left <= 5%."""
    a = agreement(mask, breast, artefacts)
    assert a.tissue_lost <= 0.01, (what, a)
    assert a.background_kept <= 0.02, (what, a)
    assert a.artefacts_left <= 0.05, (what, a)
