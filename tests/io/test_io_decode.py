"""Every DICOM file of pydicom's test files, pydicom-data and deid-data: decoded right, or refused
with the documented error class for the stated reason."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut

import radprep
from radprep.errors import (
    FrameNotFoundError,
    InvalidAttributeError,
    NoPixelDataError,
    NotDicomError,
    PixelDecodeError,
    TruncatedFileError,
)
from radprep.intensity.modality import is_identity_modality
from radprep.io import read_dicom
from realfiles import deid_data_files, pydicom_data_files, pydicom_files, testdata


def _key(p: Path) -> str:
    for label, files in (
        ("pydicom", pydicom_files()),
        ("pydicom-data", pydicom_data_files()),
        ("deid-data", deid_data_files()),
    ):
        if p in files:
            root = Path(pydicom.data.__file__).parent / "test_files" if label == "pydicom" else None
            if root is not None:
                return f"{label}:{p.relative_to(root).as_posix()}"
            return f"{label}:{p.name}"
    return p.name


ALL_FILES = sorted(set(pydicom_files()) | set(pydicom_data_files()) | set(deid_data_files()))

# Files that must fail, with the error class and why (a file not listed here must decode).
EXPECTED_FAILURES: dict[str, tuple[type[Exception], str]] = {
    "pydicom:JPEG-lossy.dcm": (
        PixelDecodeError,
        "12-bit JPEG Extended with a misplaced marker: libjpeg rejects it, GDCM does not do 12-bit",
    ),
    "pydicom:JPEG2000-embedded-sequence-delimiter.dcm": (
        PixelDecodeError,
        "the J2K codestream is corrupt (a sequence delimiter inside it); every decoder rejects it",
    ),
    "pydicom:MR_truncated.dcm": (TruncatedFileError, "pixel data shorter than 64x64x16 bits"),
    "pydicom:badVR.dcm": (InvalidAttributeError, "an IS element holds '1A'"),
    "pydicom:meta_missing_tsyntax.dcm": (InvalidAttributeError, "no BitsAllocated (0028,0100)"),
    "pydicom:nested_priv_SQ.dcm": (InvalidAttributeError, "no BitsAllocated (0028,0100)"),
    "pydicom:no_meta.dcm": (
        NotDicomError,
        "no preamble and a garbage first element (dcmdump fails too)",
    ),
    "pydicom:rtplan.dump": (NotDicomError, "a text dump"),
    "pydicom:dicomdirtests/TINY_ALPHA/README": (NotDicomError, "a text file"),
}
_NO_PIXELS_WHY = (
    "a DICOMDIR, report, plan, structure set, waveform or stripped instance: no Pixel Data"
)
for _p in ALL_FILES:
    _k = _key(_p)
    _name = _p.name
    if (
        ("dicomdirtests/TINY_ALPHA" in _k or _name.startswith("DICOMDIR"))
        and _k not in EXPECTED_FAILURES
    ) or _name in {
        "ExplVR_BigEndNoMeta.dcm",
        "ExplVR_LitEndNoMeta.dcm",
        "UN_sequence.dcm",
        "empty_charset_LEI.dcm",
        "no_meta_group_length.dcm",
        "priv_SQ.dcm",
        "reportsi.dcm",
        "reportsi_with_empty_number_tags.dcm",
        "rtplan.dcm",
        "rtplan_truncated.dcm",
        "rtstruct.dcm",
        "test-SR.dcm",
        "waveform_ecg.dcm",
    }:
        EXPECTED_FAILURES[_k] = (NoPixelDataError, _NO_PIXELS_WHY)

# Files pydicom cannot read as a data set at all, compared with their uncompressed twin instead.
# pydicom's apply_color_lut reads a big-endian palette's words in native order (black images):
# the big-endian palette files are compared with their little-endian twins.
TWINS = {
    "emri_small_jpeg_2k_lossless_too_short.dcm": "emri_small.dcm",
    "OBXXXX1A_expb.dcm": "OBXXXX1A.dcm",
    "OBXXXX1A_expb_2frame.dcm": "OBXXXX1A_2frame.dcm",
}


def _reference(p: Path) -> np.ndarray:
    """Modality values by pydicom's own path: dcmread, pixel_array, then its LUT functions."""
    if p.name in TWINS:
        p = testdata(TWINS[p.name])
    ds = pydicom.dcmread(p, force=True)
    if "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    arr = ds.pixel_array
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        return apply_color_lut(arr, ds)
    if ds.get("SamplesPerPixel", 1) == 3:
        # PS3.3 C.11.1: the Modality LUT is defined for grey images only; radprep leaves colour
        # samples as stored even when a colour "CT" carries a rescale (deid-data's ctbrain).
        return arr
    if "SharedFunctionalGroupsSequence" in ds and "RescaleSlope" not in ds:
        # Enhanced objects keep the rescale in the functional groups (PS3.3 C.7.6.16.2.9);
        # pydicom's apply_modality_lut reads the top level, so give it the frame's values.
        out = []
        for i, frame in enumerate(arr if arr.ndim == 3 else arr[None]):
            item = ds.PerFrameFunctionalGroupsSequence[i]
            pvt = item.get("PixelValueTransformationSequence") or ds.SharedFunctionalGroupsSequence[
                0
            ].get("PixelValueTransformationSequence")
            if pvt:
                ds.RescaleSlope, ds.RescaleIntercept = pvt[0].RescaleSlope, pvt[0].RescaleIntercept
            out.append(apply_modality_lut(frame, ds))
        return np.stack(out) if arr.ndim == 3 else out[0]
    return apply_modality_lut(arr, ds)


@pytest.mark.parametrize("path", ALL_FILES, ids=_key)
def test_every_real_file_decodes_or_fails_as_documented(path: Path) -> None:
    key = _key(path)
    if key in EXPECTED_FAILURES:
        cls, _why = EXPECTED_FAILURES[key]
        with pytest.raises(cls, match=r"^" + str(path).replace("\\", "\\\\").replace(".", r"\.")):
            read_dicom(path)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = read_dicom(path)
    ref = _reference(path)
    assert image.pixels.shape == ref.shape
    if image.meta.is_color or (ref.dtype.kind in "ui" and image.pixels.dtype.kind in "ui"):
        # Integer results must be identical, dtype included (identity Modality LUT, LUTs, colour).
        # Big-endian files give native-order arrays; the type is the same.
        assert image.pixels.dtype == ref.dtype.newbyteorder("=")
        np.testing.assert_array_equal(image.pixels, ref)
    elif image.pixels.dtype.kind in "ui":
        # An identity rescale (slope 1, intercept 0) keeps the stored integers; pydicom gives
        # float64 for any rescale.
        assert is_identity_modality(image.meta)
        np.testing.assert_array_equal(image.pixels, ref)
    else:
        assert image.pixels.dtype == np.float32
        np.testing.assert_allclose(image.pixels, ref, rtol=1e-6, atol=1e-3)
    assert image.meta.intensity == "modality"
    assert image.history[0].name == "read_dicom"


# Stored values read independently with dcmtk (`dcmdump +W` dumps the raw Pixel Data bytes),
# and the file's rescale: the modality value must be stored * slope + intercept.
@pytest.mark.parametrize(
    ("name", "shape", "dtype", "rescale", "stored"),
    [
        (
            "CT_small.dcm",
            (128, 128),
            np.float32,
            (1, -1024),
            {(0, 0): 175, (64, 64): 1928, (127, 127): 909},
        ),
        ("MR_small.dcm", (64, 64), np.int16, (1, 0), {(0, 0): 905, (32, 32): 182, (63, 63): 862}),
        ("693_UNCR.dcm", (512, 512), np.float32, (1, -1024), {(0, 0): -2000, (256, 256): 1048}),
        (
            "RG1_UNCR.dcm",
            (1955, 1841),
            np.uint16,
            (1, 0),
            {(0, 0): 18889, (977, 920): 3441, (1954, 1840): 2908},
        ),
        ("US1_UNCR.dcm", (480, 640, 3), np.uint8, (1, 0), {(240, 320, 0): 12, (479, 639, 2): 0}),
        (
            "emri_small.dcm",
            (10, 64, 64),
            np.uint16,
            (1, 0),
            {(0, 0, 0): 31, (5, 32, 32): 66, (9, 63, 63): 147},
        ),
    ],
)
def test_known_values_match_dcmtk_raw_dump(
    name: str, shape: tuple[int, ...], dtype: type, rescale: tuple[float, float], stored: dict
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = read_dicom(testdata(name))
    assert image.pixels.shape == shape
    assert image.pixels.dtype == dtype
    slope, intercept = rescale
    for index, value in stored.items():
        assert image.pixels[index] == value * slope + intercept


def test_ct_values_are_hounsfield_units() -> None:
    # 693_UNCR: signed stored values, RescaleIntercept -1024; -2000 marks padding outside the
    # scanned circle (-3024 HU), and air inside the field of view sits near -1000 HU.
    image = read_dicom(testdata("693_UNCR.dcm"))
    assert image.meta.rescale_intercept == -1024.0
    assert image.meta.rescale_type == "HU"
    assert image.pixels.min() == pytest.approx(-3024.0)
    air = image.pixels[250:260, 40:50]
    assert -1100 < float(np.median(air)) < -900


def test_one_frame_of_a_multiframe_file() -> None:
    all_frames = read_dicom(testdata("emri_small.dcm")).pixels
    third = read_dicom(testdata("emri_small.dcm"), frames=2)
    assert third.pixels.shape == (64, 64)
    np.testing.assert_array_equal(third.pixels, all_frames[2])
    some = read_dicom(testdata("emri_small_RLE.dcm"), frames=[0, 9])
    np.testing.assert_array_equal(some.pixels, all_frames[[0, 9]])


def test_frame_out_of_range_is_a_clear_error() -> None:
    with pytest.raises(
        FrameNotFoundError, match=r"frame 10 does not exist; NumberOfFrames \(0028,0008\) is 10"
    ):
        read_dicom(testdata("emri_small.dcm"), frames=10)


def test_spacing_from_pixel_spacing_and_zero_spacing_warns() -> None:
    ct = read_dicom(testdata("693_UNCR.dcm"))
    assert ct.geometry.spacing == pytest.approx((0.478516, 0.478516))
    assert ct.geometry.unit == "mm" and ct.geometry.spacing_source == "PixelSpacing"
    with pytest.warns(radprep.RadprepWarning, match=r"PixelSpacing \(0028,0030\) is \[0.0, 0.0\]"):
        cr = read_dicom(testdata("RG1_UNCR.dcm"))
    assert cr.geometry.unit == "px"


@pytest.mark.parametrize(
    "name",
    [
        "emri_small_jpeg_ls_lossless.dcm",
        "emri_small_RLE.dcm",
        "emri_small_big_endian.dcm",
        "emri_small_jpeg_2k_lossless.dcm",
    ],
)
def test_lossless_transfer_syntaxes_equal_the_uncompressed_original(name: str) -> None:
    ref = read_dicom(testdata("emri_small.dcm")).pixels
    np.testing.assert_array_equal(read_dicom(testdata(name)).pixels, ref)


@pytest.mark.parametrize(
    ("compressed", "raw"),
    [
        ("RG1_J2KR.dcm", "RG1_UNCR.dcm"),
        ("693_J2KR.dcm", "693_UNCR.dcm"),
        ("MR2_J2KR.dcm", "MR2_UNCR.dcm"),
        ("US1_J2KR.dcm", "US1_UNCR.dcm"),
    ],
)
def test_jpeg2000_lossless_equals_its_uncompressed_twin(compressed: str, raw: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = read_dicom(testdata(compressed)).pixels
        b = read_dicom(testdata(raw)).pixels
    np.testing.assert_array_equal(a, b)


def test_reduced_read_decodes_only_the_needed_jpeg2000_levels() -> None:
    j2k = read_dicom(testdata("RG3_J2KR.dcm"), voi="header", reduce=2)
    raw = read_dicom(testdata("RG3_UNCR.dcm"), voi="header", reduce=2)
    # ISO 15444-1 B.5: resolution level k has ceil(size / 2**k) samples.
    assert j2k.pixels.shape == raw.pixels.shape == (440, 440)
    assert j2k.history[0].params["decoder"] == j2k.meta.decoder == "pillow"
    assert raw.history[0].params["decoder"] == raw.meta.decoder == "native"
    # The wavelet low-pass and an area average agree closely (both are low-pass filters).
    diff = np.abs(j2k.pixels.astype(np.float64) - raw.pixels)
    assert diff.mean() < 0.01 and np.percentile(diff, 99) < 0.05
    assert j2k.history[0].params["reduce"] == 2
    assert j2k.geometry.spacing == pytest.approx((4.0, 4.0))


def test_reduced_read_falls_back_to_a_full_decode() -> None:
    # Pillow's OpenJPEG rejects RG1_J2KR's codestream below half size; radprep then decodes
    # in full and area-averages, with the same result shape.
    image = read_dicom(testdata("RG1_J2KR.dcm"), voi="header", reduce=2)
    assert image.history[0].params["decoder"] == "pylibjpeg-openjpeg"
    assert image.pixels.shape == (489, 461)


def test_reduction_levels() -> None:
    from radprep.io.dicom import reduction_levels

    assert reduction_levels(4084, 3328, 299) == 3  # 416 px >= 299 on the short side
    assert reduction_levels(4084, 3328, 417) == 2
    assert reduction_levels(512, 512, 512) == 0
    assert reduction_levels(100000, 100000, 1) == 5  # at most 5 levels
    with pytest.raises(radprep.SpecError, match=r"reduce must be 0\.\.5, got 9"):
        read_dicom(testdata("CT_small.dcm"), reduce=9)
