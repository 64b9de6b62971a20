"""Colour: pseudo-colour against OpenCV, YCbCr against OpenCV and BT.601, windows, grey to RGB."""

from __future__ import annotations

import cv2
import matplotlib
import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_windowing

from radprep.color import (
    colormap_lut,
    grey_to_rgb,
    linear_window,
    pseudocolor,
    rgb_to_ycbcr,
    window_stack,
)
from radprep.errors import SpecError


@pytest.fixture
def ramp() -> np.ndarray:
    return np.arange(256, dtype=np.uint8).reshape(16, 16)


@pytest.mark.parametrize("name", ["jet", "turbo", "hot", "bone"])
def test_pseudocolor_equals_opencv_applycolormap(ramp: np.ndarray, name: str) -> None:
    flag = getattr(cv2, f"COLORMAP_{name.upper()}")
    bgr = cv2.applyColorMap(ramp, flag)
    np.testing.assert_array_equal(pseudocolor(ramp, cmap=name), bgr[:, :, ::-1])


def test_jet_runs_blue_to_red(ramp: np.ndarray) -> None:
    rgb = pseudocolor(ramp, cmap="jet")
    assert rgb[0, 0, 2] > 100 and rgb[0, 0, 0] == 0  # lowest grey: blue
    assert rgb[-1, -1, 0] > 100 and rgb[-1, -1, 2] == 0  # highest grey: red


def test_ycbcr_equals_opencv_and_bt601(ramp: np.ndarray) -> None:
    out = pseudocolor(ramp, cmap="jet", ycbcr=True)
    rgb = pseudocolor(ramp, cmap="jet")
    ycrcb = cv2.cvtColor(cv2.applyColorMap(ramp, cv2.COLORMAP_JET), cv2.COLOR_BGR2YCrCb)
    np.testing.assert_array_equal(out[..., 0], ycrcb[..., 0])
    np.testing.assert_array_equal(out[..., 1], ycrcb[..., 2])  # Cb
    np.testing.assert_array_equal(out[..., 2], ycrcb[..., 1])  # Cr
    r, g, b = (rgb[..., i].astype(float) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = (b - y) * 0.564 + 128
    cr = (r - y) * 0.713 + 128
    np.testing.assert_allclose(out, np.stack([y, cb, cr], axis=-1), atol=1.01)


def test_matplotlib_colormaps_work_too(ramp: np.ndarray) -> None:
    rgb = pseudocolor(ramp, cmap="coolwarm")
    want = np.rint(matplotlib.colormaps["coolwarm"](ramp / 255.0)[..., :3] * 255)
    np.testing.assert_array_equal(rgb, want.astype(np.uint8))
    assert not colormap_lut("viridis").flags.writeable


def test_pseudocolor_of_16bit_uses_the_stated_range() -> None:
    image = np.array([[0, 1023], [512, 4095]], np.uint16)
    out = pseudocolor(image, in_range=(0, 1023))
    lut = colormap_lut("jet")
    np.testing.assert_array_equal(out[0, 1], lut[255])
    np.testing.assert_array_equal(out[1, 1], lut[255])
    np.testing.assert_array_equal(out[1, 0], lut[128])


def test_colour_errors() -> None:
    with pytest.raises(SpecError, match=r"cmap='nope' is not an OpenCV colormap \(autumn, bone"):
        pseudocolor(np.zeros((2, 2), np.uint8), cmap="nope")
    with pytest.raises(SpecError, match=r"rgb must be uint8 \(\[slices,\] rows, cols, 3\), got f"):
        rgb_to_ycbcr(np.zeros((2, 2, 3)))
    with pytest.raises(SpecError, match=r"image must be 2D or 3D, got 4D"):
        pseudocolor(np.zeros((2, 2, 2, 3), np.uint8))


@pytest.mark.parametrize(("center", "width"), [(40, 80), (-600, 1500), (0.5, 1), (300, 2)])
def test_linear_window_equals_pydicom(center: float, width: float) -> None:
    hu = np.arange(-1100, 1500, 7, dtype=np.float64).reshape(-1, 1)
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsStored = 16
    ds.PixelRepresentation = 1
    ds.WindowCenter = center
    ds.WindowWidth = width
    ds.VOILUTFunction = "LINEAR"
    # pydicom maps onto the signed 16-bit output range [-32768, 32767].
    ref = (apply_windowing(hu.copy(), ds) + 32768) / 65535
    np.testing.assert_allclose(linear_window(hu, center, width), ref, atol=1e-5)


def test_window_stack_and_grey_to_rgb() -> None:
    hu = np.linspace(-1000, 1000, 100, dtype=np.float32).reshape(10, 10)
    out = window_stack(hu, [(40, 80), (400, 1800)])
    assert out.shape == (10, 10, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out[..., 1], linear_window(hu, 400, 1800))
    rgb = grey_to_rgb(hu.astype(np.int16))
    assert rgb.shape == (10, 10, 3) and rgb.dtype == np.int16
    assert np.array_equal(rgb[..., 0], rgb[..., 2])
    with pytest.raises(SpecError, match=r"windows is empty"):
        window_stack(hu, [])
    with pytest.raises(SpecError, match=r"windows\[0\]=\(1, 2, 3\) is neither a preset name nor"):
        window_stack(hu, [(1, 2, 3)])
    with pytest.raises(
        SpecError,
        match=r"WindowWidth \(0028,1051\) is 0.5 in the window you gave; LINEAR windowing needs width >= 1",
    ):
        linear_window(hu, 0, 0.5)
