"""Tensor layouts and dtype conversion: CHW, NCHW/NHWC, explicit scaling; round trips."""

from __future__ import annotations

import numpy as np
import pytest

from radprep.errors import InputError, SpecError
from radprep.export.layout import convert_dtype, from_batch, from_chw, to_batch, to_chw


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (5, 7, 3), (6, 4, 5)])
def test_chw_round_trips(shape: tuple[int, ...]) -> None:
    image = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    chw = to_chw(image)
    channels = shape[2] if len(shape) == 3 else 1
    assert chw.shape == (channels, 5 if shape[0] == 5 else 6, shape[1])
    assert chw.flags.c_contiguous
    np.testing.assert_array_equal(from_chw(chw, squeeze=len(shape) == 2), image)
    if len(shape) == 3:
        np.testing.assert_array_equal(chw[1 % channels], image[:, :, 1 % channels])


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("channels", [(), (3,)])
def test_batches_round_trip(layout: str, channels: tuple[int, ...]) -> None:
    images = [np.full((4, 6, *channels), i, np.uint16) for i in range(3)]
    batch = to_batch(images, layout)  # type: ignore[arg-type]
    c = channels[0] if channels else 1
    assert batch.shape == ((3, c, 4, 6) if layout == "NCHW" else (3, 4, 6, c))
    back = from_batch(batch, layout)  # type: ignore[arg-type]
    for a, b in zip(back, images, strict=True):
        np.testing.assert_array_equal(a, b)


def test_batch_errors() -> None:
    with pytest.raises(InputError, match=r"images\[1\] has shape \(3, 3\) but images\[0\] has"):
        to_batch([np.zeros((2, 2)), np.zeros((3, 3))])
    with pytest.raises(SpecError, match=r"images is empty"):
        to_batch([])
    with pytest.raises(SpecError, match=r"layout='CHWN' is not valid; choose one of 'NCHW'"):
        to_batch([np.zeros((2, 2))], "CHWN")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"batch must be 4D, got 3D"):
        from_batch(np.zeros((2, 2, 2)))


@pytest.mark.parametrize(
    ("values", "dtype", "kwargs", "want"),
    [
        ([0, 128, 255], "float32", {}, [0.0, 128 / 255, 1.0]),
        ([0, 32768, 65535], "uint8", {}, [0, 128, 255]),
        ([0, 128, 255], "uint16", {}, [0, 32896, 65535]),
        ([0.0, 0.5, 1.0, 1.5], "uint8", {}, [0, 128, 255, 255]),
        ([0, 1023, 4095], "uint8", {"in_range": (0, 4095)}, [0, 64, 255]),
        ([10, 20, 30], "float32", {"in_range": "image"}, [0.0, 0.5, 1.0]),
        (
            [-1000, 0, 1000],
            "float32",
            {"in_range": (-1000, 1000), "out_range": (-1, 1)},
            [-1, 0, 1],
        ),
    ],
)
def test_convert_dtype_scales_explicitly(
    values: list, dtype: str, kwargs: dict, want: list
) -> None:
    src = np.array(values, dtype=np.float32 if isinstance(values[0], float) else np.int64)
    if src.dtype == np.int64 and max(values) <= 255 and min(values) >= 0 and not kwargs:
        src = src.astype(np.uint8)
    elif src.dtype == np.int64 and max(values) <= 65535 and min(values) >= 0 and not kwargs:
        src = src.astype(np.uint16)
    out = convert_dtype(src, dtype, **kwargs)  # type: ignore[arg-type]
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out, want, atol=1e-6)


def test_convert_dtype_round_trip_8_to_16_to_8() -> None:
    a = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(convert_dtype(convert_dtype(a, "uint16"), "uint8"), a)
    b = np.arange(0, 65536, 257, dtype=np.uint16)
    np.testing.assert_array_equal(convert_dtype(convert_dtype(b, "float32"), "uint16"), b)


def test_convert_dtype_errors() -> None:
    with pytest.raises(SpecError, match=r"dtype='int8' is not valid; choose one of 'uint8'"):
        convert_dtype(np.zeros(3), "int8")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"in_range=\(5.0, 5.0\) is empty"):
        convert_dtype(np.zeros(3), "uint8", in_range=(5, 5))
    with pytest.raises(SpecError, match=r"in_range='bits' is not valid"):
        convert_dtype(np.zeros(3), "uint8", in_range="bits")  # type: ignore[arg-type]
