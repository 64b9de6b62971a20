"""The VOI stage and inversion: pydicom's arithmetic, radprep's choices, one-line errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels.processing import apply_modality_lut, apply_voi_lut

from radprep.errors import RadprepWarning, SpecError
from radprep.intensity.window import CT_PRESETS, VOI
from radprep.io import read_dicom
from realfiles import testdata


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("header", VOI("header")),
        ("header:1", VOI("header", index=1)),
        ("40,400", VOI("window", center=40, width=400)),
        (" -600 , 1500 ", VOI("window", center=-600, width=1500)),
        ("40,400,sigmoid", VOI("window", center=40, width=400, function="SIGMOID")),
        ("LUNG", VOI("preset", preset="lung")),
        ("auto", VOI("auto")),
        ("auto:1,99", VOI("auto", percentiles=(1.0, 99.0))),
        ("minmax", VOI("minmax")),
        ("none", VOI("none")),
    ],
)
def test_parse(text: str, expected: VOI) -> None:
    assert VOI.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "brightest",
            r"window 'brightest' is not understood; use header, .* a preset \(brain, subdural",
        ),
        (
            "40,0",
            r"WindowWidth \(0028,1051\) is 0 in the window you gave; LINEAR windowing needs width >= 1",
        ),
        ("40,0.5,LINEAR_EXACT", None),
        ("40,-3,SIGMOID", r"SIGMOID windowing needs width > 0"),
        (
            "40,400,GAMMA",
            r"VOI function='GAMMA' is not valid; choose one of 'LINEAR', 'LINEAR_EXACT', 'SIGMOID'",
        ),
        ("auto:99,1", r"percentiles must rise, got 99.0 and 1.0"),
        ("auto:1,101", r"upper percentile must be in \[0.0, 100.0\], got 101.0"),
    ],
)
def test_parse_errors(text: str, message: str | None) -> None:
    if message is None:
        # LINEAR_EXACT accepts any width > 0 (PS3.3 C.11.2.1.3.2).
        assert VOI.parse(text).width == 0.5
        return
    with pytest.raises(SpecError, match=message):
        VOI.parse(text)


def test_presets_are_the_documented_hounsfield_windows() -> None:
    assert CT_PRESETS["brain"] == (40.0, 80.0)
    assert CT_PRESETS["subdural"] == (80.0, 200.0)
    assert CT_PRESETS["bone"] == (600.0, 2800.0)
    assert CT_PRESETS["lung"] == (-600.0, 1500.0)
    assert set(CT_PRESETS) == {
        "brain",
        "subdural",
        "stroke",
        "lung",
        "mediastinum",
        "abdomen",
        "liver",
        "bone",
    }


def _pydicom_display(name: str) -> np.ndarray:
    """pydicom's own chain: pixel_array, apply_modality_lut, apply_voi_lut, then [0, 1] + inversion."""
    ds = pydicom.dcmread(testdata(name))
    values = apply_modality_lut(ds.pixel_array, ds)
    out = apply_voi_lut(values, ds).astype(np.float64)
    if "VOILUTSequence" in ds:
        y_min, y_max = 0.0, 2.0 ** ds.VOILUTSequence[0].LUTDescriptor[2] - 1
    else:
        y_min, y_max = 0.0, 2.0**ds.BitsStored - 1
        if ds.PixelRepresentation:
            y_min, y_max = -(2.0 ** (ds.BitsStored - 1)), 2.0 ** (ds.BitsStored - 1) - 1
        if "RescaleSlope" in ds:
            y_min = y_min * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
            y_max = y_max * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    v = (out - y_min) / (y_max - y_min)
    return 1.0 - v if ds.PhotometricInterpretation == "MONOCHROME1" else v


@pytest.mark.parametrize(
    "name", ["RG1_UNCR.dcm", "RG3_UNCR.dcm", "693_UNCR.dcm", "MR2_UNCR.dcm", "vlut_04.dcm"]
)
def test_header_voi_equals_pydicoms_own_chain(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RadprepWarning)
        image = read_dicom(testdata(name), voi="header")
    assert image.pixels.dtype == np.float32
    assert image.meta.intensity == "display"
    np.testing.assert_allclose(image.pixels, _pydicom_display(name), atol=2e-6)


def test_quantised_output_is_the_rounded_float_output() -> None:
    f = read_dicom(testdata("693_UNCR.dcm"), voi="brain").pixels
    u8 = read_dicom(testdata("693_UNCR.dcm"), voi="brain", out_dtype="uint8").pixels
    u16 = read_dicom(testdata("693_UNCR.dcm"), voi="brain", out_dtype="uint16").pixels
    assert u8.dtype == np.uint8 and u16.dtype == np.uint16
    np.testing.assert_array_equal(u8, np.rint(f.astype(np.float64) * 255).astype(np.uint8))
    assert np.abs(u16.astype(np.int64) - np.rint(f.astype(np.float64) * 65535)).max() <= 1


def test_monochrome1_displays_higher_as_brighter() -> None:
    # RG3 is MONOCHROME1: a larger stored value is darker, so display must fall as stored rises.
    stored = read_dicom(testdata("RG3_UNCR.dcm")).pixels.astype(np.int64)
    shown = read_dicom(testdata("RG3_UNCR.dcm"), voi="minmax").pixels
    lo, hi = (
        np.unravel_index(stored.argmin(), stored.shape),
        np.unravel_index(stored.argmax(), stored.shape),
    )
    assert shown[lo] == pytest.approx(1.0)
    assert shown[hi] == pytest.approx(0.0)
    order = np.argsort(stored.ravel()[::97])
    assert np.all(np.diff(shown.ravel()[::97][order]) <= 1e-6)


def test_presentation_lut_shape_inverse_inverts(tmp_path: Path) -> None:
    ds = pydicom.dcmread(testdata("MR_small.dcm"))
    ds.PresentationLUTShape = "INVERSE"
    p = tmp_path / "inverse.dcm"
    ds.save_as(p)
    plain = read_dicom(testdata("MR_small.dcm"), voi="header").pixels
    inverse = read_dicom(p, voi="header").pixels
    np.testing.assert_allclose(inverse, 1.0 - plain, atol=1e-6)


def test_ct_window_in_hounsfield_units() -> None:
    image = read_dicom(testdata("693_UNCR.dcm"), voi="40,400")
    hu = read_dicom(testdata("693_UNCR.dcm")).pixels
    # LINEAR (PS3.3 C.11.2.1.2.1): at or below c - 0.5 - (w-1)/2 -> 0; above c - 0.5 + (w-1)/2 -> 1.
    assert np.all(image.pixels[hu <= 40 - 0.5 - 399 / 2] == 0.0)
    assert np.all(image.pixels[hu > 40 - 0.5 + 399 / 2] == 1.0)
    inside = (hu > -100) & (hu < 100)
    expected = ((hu[inside] - 39.5) / 399 + 0.5).astype(np.float32)
    np.testing.assert_allclose(image.pixels[inside], expected, atol=1e-6)
    assert image.history[-1].params["source"] == "given"


def test_auto_window_uses_percentiles() -> None:
    hu = read_dicom(testdata("693_UNCR.dcm")).pixels
    image = read_dicom(testdata("693_UNCR.dcm"), voi="auto:5,95")
    lo, hi = np.percentile(hu, [5, 95])
    assert float(np.mean(image.pixels <= 0.0)) == pytest.approx(float(np.mean(hu <= lo)), abs=0.02)
    assert float(np.mean(image.pixels >= 1.0)) == pytest.approx(float(np.mean(hu >= hi)), abs=0.02)


def test_missing_header_window_falls_back_with_a_warning() -> None:
    with pytest.warns(
        RadprepWarning, match=r"no window in the header .* used the image's min-max range"
    ):
        image = read_dicom(testdata("CT_small.dcm"), voi="header")
    assert image.pixels.min() == 0.0 and image.pixels.max() == 1.0
    assert image.history[-1].params["source"] == "min-max (no header window)"


def test_header_window_index_out_of_range() -> None:
    with pytest.raises(
        SpecError,
        match=r"the header has 1 window\(s\) in WindowCenter \(0028,1050\); there is no window 3",
    ):
        read_dicom(testdata("693_UNCR.dcm"), voi="header:3")


def test_ct_preset_on_mr_warns() -> None:
    with pytest.warns(RadprepWarning, match=r"CT window preset 'brain' applied to a MR image"):
        read_dicom(testdata("MR_small.dcm"), voi="brain")


def test_colour_images_are_scaled_not_windowed() -> None:
    rgb = read_dicom(testdata("US1_UNCR.dcm")).pixels
    shown = read_dicom(testdata("US1_UNCR.dcm"), voi="header").pixels
    np.testing.assert_allclose(shown, rgb / 255.0, atol=1e-6)
