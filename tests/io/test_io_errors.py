"""Bad input: one-line errors that name the file, the DICOM keyword and tag, and what to do."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest

from radprep.errors import (
    CorruptFileError,
    DecoderMissingError,
    InputError,
    InvalidAttributeError,
    NoPixelDataError,
    NotDicomError,
    PixelDecodeError,
    RadprepWarning,
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


# The ten groups of undocumented exceptions a mutation run found, each rebuilt from a real file.
def _patched(tmp_path: Path, name: str, find: bytes, offset: int, new: bytes) -> Path:
    """A copy of a real file with `new` written `offset` bytes after the first `find`."""
    data = bytearray(testdata(name).read_bytes())
    i = data.find(find)
    assert i >= 0
    data[i + offset : i + offset + len(new)] = new
    out = tmp_path / f"patched-{name}"
    out.write_bytes(bytes(data))
    return out


def _edited_ds(tmp_path: Path, name: str, edit: Callable[[pydicom.Dataset], None]) -> Path:
    ds = pydicom.dcmread(testdata(name), force=True)
    edit(ds)
    out = tmp_path / f"edited-{name}"
    ds.save_as(out, enforce_file_format=False)
    return out


def test_unknown_vr_is_a_corrupt_file(tmp_path: Path) -> None:
    # Modality (0008,0060) with the VR "ZZ": pydicom raises NotImplementedError when touched.
    p = _patched(tmp_path, "MR_small.dcm", b"\x08\x00\x60\x00CS", 4, b"ZZ")
    with pytest.raises(CorruptFileError, match=r"patched-MR_small\.dcm: Unknown Value Repr.*'ZZ'"):
        read_dicom(p)


def test_value_too_short_for_its_vr_is_a_corrupt_file(tmp_path: Path) -> None:
    # Rows (0028,0010) relabelled FD keeps its 2 bytes: pydicom's BytesLengthException.
    p = _patched(tmp_path, "MR_small.dcm", b"\x28\x00\x10\x00US", 4, b"FD")
    with pytest.raises(
        CorruptFileError, match=r"MR_small\.dcm: a header value does not fit its VR"
    ):
        read_dicom(p)


def test_transfer_syntax_that_is_not_a_uid(tmp_path: Path) -> None:
    p = _patched(tmp_path, "MR_small.dcm", b"\x02\x00\x10\x00UI", 4, b"OB")
    with pytest.raises(CorruptFileError, match=r"MR_small\.dcm: the data set after the File Meta"):
        read_dicom(p)


def test_palette_without_its_lut(tmp_path: Path) -> None:
    def drop(ds: pydicom.Dataset) -> None:
        del ds.RedPaletteColorLookupTableData

    p = _edited_ds(tmp_path, "OT-PAL-8-face.dcm", drop)
    with pytest.raises(InvalidAttributeError, match=r"face\.dcm: PALETTE COLOR without its Red"):
        read_dicom(p)


def test_palette_with_64_bit_entries(tmp_path: Path) -> None:
    def widen(ds: pydicom.Dataset) -> None:
        for colour in ("Red", "Green", "Blue"):
            d = list(ds[f"{colour}PaletteColorLookupTableDescriptor"].value)
            ds[f"{colour}PaletteColorLookupTableDescriptor"].value = [d[0], d[1], 64]

    p = _edited_ds(tmp_path, "OT-PAL-8-face.dcm", widen)
    with pytest.raises(InvalidAttributeError, match=r"face\.dcm: RedPalette.*\[200, 0, 64\]"):
        read_dicom(p)


@pytest.mark.parametrize(
    ("bits", "message"),
    [(0, r"\[4096, -2048, 0\] and 4096 LUTData"), (8, r"values up to 65535 but .* 8 bits")],
)
def test_modality_lut_with_impossible_bits(tmp_path: Path, bits: int, message: str) -> None:
    # bits 0 made numpy look for 'uint0'; bits 8 overflowed a uint8 table with 16-bit data.
    def set_bits(ds: pydicom.Dataset) -> None:
        item = ds.ModalityLUTSequence[0]
        item.LUTDescriptor = [*list(item.LUTDescriptor)[:2], bits]

    p = _edited_ds(tmp_path, "mlut_18.dcm", set_bits)
    with pytest.raises(
        InvalidAttributeError, match=r"mlut_18\.dcm: ModalityLUTSequence.*" + message
    ):
        read_dicom(p)


@pytest.mark.parametrize("keep", [0, 1])
def test_voi_lut_with_too_little_data(tmp_path: Path, keep: int) -> None:
    def cut(ds: pydicom.Dataset) -> None:
        ds.VOILUTSequence[0].LUTData = list(ds.VOILUTSequence[0].LUTData)[:keep]

    p = _edited_ds(tmp_path, "vlut_04.dcm", cut)
    with pytest.raises(InvalidAttributeError, match=r"vlut_04\.dcm: VOILUTSequence \(0028,3010\)"):
        read_dicom(p, voi="header")


def test_rle_panic_is_a_pixel_decode_error(tmp_path: Path) -> None:
    # A run header near the end of the first segment turned into "repeat the next byte 128
    # times" overruns the 8192-byte frame: pylibjpeg-rle's Rust decoder panics (PanicException,
    # a BaseException subclass). The read fails with the file named, and nothing escapes.
    data = bytearray(testdata("MR_small_RLE.dcm").read_bytes())
    pixel_data = data.find(b"\xe0\x7f\x10\x00")
    offsets_item = data.find(b"\xfe\xff\x00\xe0", pixel_data + 12)
    frame = data.find(b"\xfe\xff\x00\xe0", offsets_item + 8) + 8
    second_segment = frame + int.from_bytes(data[frame + 8 : frame + 12], "little")
    data[second_segment - 39] = 0x81
    p = tmp_path / "rle-panic.dcm"
    p.write_bytes(bytes(data))
    with pytest.raises(PixelDecodeError, match=r"rle-panic\.dcm: the pixel data could not be "):
        read_dicom(p)


def test_non_numeric_pixel_spacing_warns_and_keeps_pixel_units(tmp_path: Path) -> None:
    data = bytearray(testdata("CT_small.dcm").read_bytes())
    i = data.find(b"\x28\x00\x30\x00DS")
    n = int.from_bytes(data[i + 6 : i + 8], "little")
    data[i + 8 : i + 8 + n] = (b"abc\\def" + b" " * n)[:n]
    p = tmp_path / "spacing.dcm"
    p.write_bytes(bytes(data))
    with pytest.warns(RadprepWarning, match=r"PixelSpacing \(0028,0030\) is not numeric"):
        image = read_dicom(p)
    assert image.geometry.unit == "px"


def test_nested_sequences_are_not_called_truncated(tmp_path: Path) -> None:
    # 1000 ContentSequence (0040,A730) levels of undefined length, each closed properly, put
    # before the Pixel Data of a real file: deep, corrupt perhaps, but not cut off.
    seq = b"\x40\x00\x30\xa7SQ\x00\x00\xff\xff\xff\xff"
    item = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    item_end = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
    seq_end = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    nested = (seq + item) * 1000 + (item_end + seq_end) * 1000
    data = testdata("MR_small.dcm").read_bytes()
    at = data.find(b"\xe0\x7f\x10\x00")
    p = tmp_path / "deep.dcm"
    p.write_bytes(data[:at] + nested + data[at:])
    try:
        read_dicom(p)
    except InputError as e:
        assert not isinstance(e, TruncatedFileError), str(e)
        assert "deep.dcm" in str(e) and "()" not in str(e)


def test_palette_big_endian_matches_its_little_endian_twin() -> None:
    little = read_dicom(testdata("OBXXXX1A.dcm")).pixels
    big = read_dicom(testdata("OBXXXX1A_expb.dcm")).pixels
    assert big.max() == 65280  # was 255: the words were read in the wrong order
    np.testing.assert_array_equal(big, little)


def test_reduced_read_of_a_big_endian_file() -> None:
    full = read_dicom(testdata("MR_small_bigendian.dcm")).pixels
    half = read_dicom(testdata("MR_small_bigendian.dcm"), reduce=1).pixels
    ref = read_dicom(testdata("MR_small.dcm"), reduce=1).pixels
    assert full.shape == (64, 64) and half.shape == (32, 32)
    np.testing.assert_array_equal(half, ref)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        # libjpeg decodes half a stream without complaint: the lower half would be invented.
        ("JPEG-LL.dcm", r"ends inside a fragment of its encapsulated Pixel Data"),
        ("MR_small_jp2klossless.dcm", r"ends inside its encapsulated Pixel Data"),
        ("MR_small_RLE.dcm", r"ends inside its encapsulated Pixel Data"),
        ("SC_rgb_jpeg_dcmtk.dcm", r"cut off in transfer"),
    ],
)
def test_compressed_file_cut_in_its_pixel_data_is_truncated(
    tmp_path: Path, name: str, message: str
) -> None:
    data = testdata(name).read_bytes()
    p = tmp_path / f"half-{name}"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedFileError, match=rf"half-{re.escape(name)}: .*{message}"):
        read_dicom(p)


def test_unclosed_but_whole_jpeg_2000_decodes_with_a_warning() -> None:
    # pydicom-data's emri_small_jpeg_2k_lossless_too_short.dcm lacks only the 8-byte Sequence
    # Delimitation Item: every frame equals emri_small.dcm's, and the read says what it saw.
    with pytest.warns(RadprepWarning, match=r"too_short\.dcm: .*no Sequence Delimitation Item"):
        image = read_dicom(testdata("emri_small_jpeg_2k_lossless_too_short.dcm"))
    np.testing.assert_array_equal(image.pixels, read_dicom(testdata("emri_small.dcm")).pixels)
