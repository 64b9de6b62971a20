"""Bad input: one-line errors that name the file, the DICOM keyword and tag, and what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

from radprep.errors import (
    DecoderMissingError,
    InputError,
    InvalidAttributeError,
    NoPixelDataError,
    NotDicomError,
    TruncatedFileError,
)
from radprep.io import read_dicom
from realfiles import testdata


def _edited(tmp_path: Path, name: str, **changes: object) -> Path:
    ds = pydicom.dcmread(testdata(name))
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    out = tmp_path / f"edited-{name}"
    ds.save_as(out)
    return out


def test_not_dicom(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("patient list, not an image\n")
    with pytest.raises(NotDicomError, match=r"notes\.txt: not a DICOM file"):
        read_dicom(p)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"absent\.dcm: cannot open"):
        read_dicom(tmp_path / "absent.dcm")


def test_truncated_in_the_pixel_data(tmp_path: Path) -> None:
    data = testdata("CT_small.dcm").read_bytes()
    p = tmp_path / "cut.dcm"
    p.write_bytes(data[: len(data) - 5000])
    with pytest.raises(TruncatedFileError, match=r"cut\.dcm: the pixel data is shorter than"):
        read_dicom(p)


def test_truncated_in_the_header(tmp_path: Path) -> None:
    p = tmp_path / "stub.dcm"
    p.write_bytes(testdata("CT_small.dcm").read_bytes()[:300])
    with pytest.raises(TruncatedFileError, match=r"stub\.dcm: "):
        read_dicom(p)


def test_no_pixel_data() -> None:
    with pytest.raises(
        NoPixelDataError, match=r"rtplan\.dcm: no PixelData \(7FE0,0010\) in this RTPLAN object"
    ):
        read_dicom(testdata("rtplan.dcm"))


def test_transfer_syntax_without_any_decoder(tmp_path: Path) -> None:
    ds = pydicom.dcmread(testdata("JPEG-LL.dcm"))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2 MP@ML
    p = tmp_path / "video.dcm"
    ds.save_as(p, enforce_file_format=True)
    with pytest.raises(
        DecoderMissingError,
        match=r"video\.dcm: no decoder exists in pydicom for TransferSyntaxUID \(0002,0010\) MPEG2",
    ):
        read_dicom(p)


def test_decoder_not_installed_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydicom.pixels import get_decoder

    decoder = get_decoder(pydicom.uid.JPEG2000Lossless)
    # As if pylibjpeg-openjpeg, GDCM and Pillow were all absent.
    monkeypatch.setattr(decoder, "_available", {})
    with pytest.raises(
        DecoderMissingError,
        match=r"RG3_J2KR\.dcm: no installed decoder .* pip install pylibjpeg-openjpeg",
    ):
        read_dicom(testdata("RG3_J2KR.dcm"))


def test_header_window_width_zero(tmp_path: Path) -> None:
    p = _edited(tmp_path, "693_UNCR.dcm", WindowWidth=0)
    with pytest.raises(
        InvalidAttributeError,
        match=r"edited-693_UNCR\.dcm: WindowWidth \(0028,1051\) is 0 in the header; LINEAR windowing needs width >= 1",
    ):
        read_dicom(p, voi="header")
    # The modality values are still readable, and another window still works.
    assert read_dicom(p).pixels.shape == (512, 512)
    assert read_dicom(p, voi="40,400").pixels.max() <= 1.0


def test_voi_lut_that_does_not_fit(tmp_path: Path) -> None:
    ds = pydicom.dcmread(testdata("vlut_04.dcm"))
    ds.VOILUTSequence[0].LUTData = ds.VOILUTSequence[0].LUTData[:100]
    p = tmp_path / "short-lut.dcm"
    ds.save_as(p)
    with pytest.raises(
        InvalidAttributeError,
        match=r"short-lut\.dcm: VOILUTSequence \(0028,3010\) item 0 has 100 LUTData entries but its LUTDescriptor says 256",
    ):
        read_dicom(p, voi="header")


def test_modality_lut_that_does_not_fit(tmp_path: Path) -> None:
    ds = pydicom.dcmread(testdata("mlut_18.dcm"))
    ds.ModalityLUTSequence[0].LUTData = ds.ModalityLUTSequence[0].LUTData[:10]
    p = tmp_path / "short-mlut.dcm"
    ds.save_as(p)
    with pytest.raises(
        InvalidAttributeError,
        match=r"short-mlut\.dcm: ModalityLUTSequence \(0028,3000\) LUTData has 10 entries",
    ):
        read_dicom(p)


def test_rescale_slope_zero(tmp_path: Path) -> None:
    p = _edited(tmp_path, "CT_small.dcm", RescaleSlope=0)
    with pytest.raises(InvalidAttributeError, match=r"RescaleSlope \(0028,1053\) is 0\.0"):
        read_dicom(p)


def test_inputs_are_never_modified(tmp_path: Path) -> None:
    src = tmp_path / "in.dcm"
    shutil.copy(testdata("RG3_UNCR.dcm"), src)
    before = src.read_bytes()
    read_dicom(src, voi="header")
    assert src.read_bytes() == before
