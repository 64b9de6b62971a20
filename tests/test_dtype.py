"""uint16 -> uint8, the conversion of every 8-bit output and thumbnail: exact rounding of
v * 255 / 65535 for every value, whatever the array's shape or memory layout."""

from __future__ import annotations

import numpy as np
import pytest

from radprep._dtype import convert_dtype

EVERY = np.arange(65536, dtype=np.uint16)
# round(v * 255 / 65535) = round(v / 257), in integers (never a tie: 257 is odd).
EXACT = ((EVERY.astype(np.int64) * 2 + 257) // 514).astype(np.uint8)


@pytest.mark.parametrize(
    "shape", [(256, 256), (65536, 1), (1, 65536), (2, 128, 256), (4, 128, 128, 1)]
)
def test_every_uint16_value_converts_to_its_exact_rounding(shape: tuple[int, ...]) -> None:
    out = convert_dtype(EVERY.reshape(shape), "uint8")
    assert out.dtype == np.uint8 and out.shape == shape
    np.testing.assert_array_equal(out.ravel(), EXACT)
    # The same values as the general float path (a range given explicitly takes it).
    general = convert_dtype(EVERY.reshape(shape), "uint8", in_range=(0.0, 65535.0))
    np.testing.assert_array_equal(out, general)


def test_views_and_empty_arrays_convert_like_copies() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 65536, (299, 301), dtype=np.uint16)
    for view in (image[::-1], image[:, ::-2], image[3::3, 1::2], np.asfortranarray(image), image.T):
        out = convert_dtype(view, "uint8")
        assert out.shape == view.shape
        np.testing.assert_array_equal(out, EXACT[np.ascontiguousarray(view)])
    for empty in (np.zeros((0, 5), np.uint16), np.zeros((3, 0, 2), np.uint16)):
        assert convert_dtype(empty, "uint8").shape == empty.shape
