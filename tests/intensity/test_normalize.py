"""Normalisation: z-score, min-max, percentile clipping, each optionally inside a mask."""

from __future__ import annotations

import numpy as np
import pytest

from radprep.errors import InputError, SpecError
from radprep.intensity.normalize import minmax, percentile_clip, zscore


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).normal(1000, 200, (64, 48)).astype(np.uint16)


@pytest.fixture
def mask() -> np.ndarray:
    m = np.zeros((64, 48), bool)
    m[10:40, 5:30] = True
    return m


def test_zscore_whole_image(image: np.ndarray) -> None:
    before = image.copy()
    out = zscore(image)
    assert out.dtype == np.float32
    assert abs(float(out.mean())) < 1e-4 and abs(float(out.std()) - 1) < 1e-4
    np.testing.assert_array_equal(image, before)


def test_zscore_inside_mask_and_outside_value(image: np.ndarray, mask: np.ndarray) -> None:
    out = zscore(image, mask=mask)
    inside = out[mask]
    assert abs(float(inside.mean())) < 1e-4 and abs(float(inside.std()) - 1) < 1e-4
    expected = (image.astype(np.float64) - image[mask].mean()) / image[mask].std()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    nnunet = zscore(image, mask=mask.astype(np.uint8) * 255, outside=0.0)
    assert np.all(nnunet[~mask] == 0) and np.allclose(nnunet[mask], inside)


def test_zscore_of_a_constant_image_is_zero() -> None:
    out = zscore(np.full((4, 4), 7, np.int16))
    assert np.all(out == 0) and not np.isnan(out).any()


def test_minmax(image: np.ndarray, mask: np.ndarray) -> None:
    out = minmax(image)
    assert out.dtype == np.float32 and out.min() == 0 and out.max() == pytest.approx(1)
    signed = minmax(image, mask=mask, out_range=(-1, 1))
    assert signed[mask].min() == pytest.approx(-1) and signed[mask].max() == pytest.approx(1)
    assert np.all(minmax(np.full((3, 3), 5.0), out_range=(2, 3)) == 2)
    with pytest.raises(SpecError, match=r"out_range=\(1, 0\) is empty; give \(low, high\)"):
        minmax(image, out_range=(1, 0))


def test_percentile_clip_matches_numpy(image: np.ndarray, mask: np.ndarray) -> None:
    out = percentile_clip(image)
    lo, hi = np.percentile(image, [0.5, 99.5])
    assert out.dtype == np.float32
    assert out.min() == pytest.approx(lo) and out.max() == pytest.approx(hi)
    assert np.sum(out == out.max()) >= 1
    inside = percentile_clip(image, lower=10, upper=90, mask=mask)
    lo, hi = np.percentile(image[mask], [10, 90])
    assert inside.min() == pytest.approx(lo) and inside.max() == pytest.approx(hi)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"lower": -1}, SpecError, r"lower must be in \[0, 100\], got -1"),
        ({"upper": 101}, SpecError, r"upper must be in \[0, 100\], got 101"),
        ({"lower": 50, "upper": 40}, SpecError, r"lower=50 is above upper=40"),
        ({"mask": np.ones((3, 3), bool)}, InputError, r"mask has shape \(3, 3\) but the image"),
        ({"mask": np.zeros((64, 48), bool)}, InputError, r"mask is empty: no pixel"),
    ],
)
def test_percentile_clip_errors(image: np.ndarray, kwargs: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        percentile_clip(image, **kwargs)


def test_zscore_rejects_bad_eps(image: np.ndarray) -> None:
    with pytest.raises(SpecError, match=r"eps must be > 0, got 0"):
        zscore(image, eps=0)
