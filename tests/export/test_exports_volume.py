"""Volume exports: NIfTI and NRRD read back by SimpleITK and nibabel, features from an exported
pair, the radiomics pairs CSV, the writer registry, WebDataset shards read back by the webdataset
package, and the PyTorch Dataset over a manifest."""

from __future__ import annotations

import csv
import io
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from radprep.errors import InputError, OutputError, SpecError
from radprep.export.nifti import (
    RadiomicsPair,
    encode_nifti,
    encode_nrrd,
    write_image,
    write_pairs_csv,
)
from radprep.export.png import encode
from radprep.export.webdataset import ShardSample, shard_key, write_shards
from radprep.export.writers import get_writer, known_writers, suffix_of
from radprep.image import Image
from radprep.io.seg import seg_to_grid
from radprep.io.series import read_series
from radprep.spatial.itk import from_sitk
from series_data import ct_with_liver_seg, split_emri

# The pairs' features come from SimpleITK's LabelStatisticsImageFilter and
# LabelShapeStatisticsImageFilter: pyradiomics does not install on Python 3.11 (its 3.1.0 sdist
# reports version 3.0.1a1 and needs numpy at build time; no wheel exists).
FEATURES_LIBRARY = "SimpleITK LabelStatisticsImageFilter + LabelShapeStatisticsImageFilter"


@pytest.fixture(scope="module")
def mr(tmp_path_factory: pytest.TempPathFactory) -> Image:
    folder = tmp_path_factory.mktemp("mr")
    split_emri(folder)
    return read_series(folder)


@pytest.fixture(scope="module")
def ct_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Image, np.ndarray]:
    folder = tmp_path_factory.mktemp("ct")
    _, seg = ct_with_liver_seg(folder)
    ct = read_series(folder / "ct")
    return ct, seg_to_grid(seg, ct.spatial_shape, ct.geometry)["liver"]


def _lps_from_nibabel(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """nibabel's array in radprep axis order, and its affine as an LPS index->world matrix."""
    import nibabel as nib

    img = nib.load(str(path))
    data = np.asarray(img.dataobj)
    arr = np.transpose(data, (2, 1, 0)) if data.ndim == 3 else data.T
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine  # RAS -> LPS
    # nibabel indexes (x, y, z) = our (col, row, slice): reverse the index columns.
    m = affine[:3, :3][:, ::-1]
    return arr, np.column_stack([m, affine[:3, 3]])


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_round_trip_through_simpleitk(tmp_path: Path, mr: Image, suffix: str) -> None:
    path = write_image(tmp_path / f"mr{suffix}", mr.pixels, mr.geometry)
    arr, geo = from_sitk(sitk.ReadImage(str(path)))
    np.testing.assert_array_equal(arr, mr.pixels)
    np.testing.assert_allclose(geo.spacing, mr.geometry.spacing, atol=1e-5)
    np.testing.assert_allclose(geo.origin, mr.geometry.origin, atol=1e-5)
    np.testing.assert_allclose(geo.direction, mr.geometry.direction, atol=1e-5)


def test_nifti_round_trip_through_nibabel(tmp_path: Path, mr: Image) -> None:
    path = write_image(tmp_path / "mr.nii.gz", mr.pixels, mr.geometry)
    arr, affine = _lps_from_nibabel(path)
    np.testing.assert_array_equal(arr, mr.pixels)
    geo = mr.geometry
    expected = np.column_stack([geo.matrix * np.asarray(geo.spacing), geo.origin])
    np.testing.assert_allclose(affine, expected, atol=1e-5)


def test_nrrd_header_states_lps_geometry(tmp_path: Path, mr: Image) -> None:
    import nrrd

    path = write_image(tmp_path / "mr.nrrd", mr.pixels, mr.geometry)
    data, header = nrrd.read(str(path))
    assert header["space"] == "left-posterior-superior"
    np.testing.assert_array_equal(np.transpose(data, (2, 1, 0)), mr.pixels)
    directions = np.asarray(header["space directions"], float)  # rows: x (cols), y, z
    geo = mr.geometry
    np.testing.assert_allclose(directions[::-1].T, geo.matrix * np.asarray(geo.spacing), atol=1e-9)
    np.testing.assert_allclose(header["space origin"], geo.origin, atol=1e-9)


def test_bytes_are_the_same_on_every_run(mr: Image) -> None:
    assert encode_nifti(mr.pixels, mr.geometry) == encode_nifti(mr.pixels, mr.geometry)
    assert encode_nrrd(mr.pixels, mr.geometry) == encode_nrrd(mr.pixels, mr.geometry)


def test_channels_become_a_vector_image(tmp_path: Path, mr: Image) -> None:
    rgb = np.stack([mr.pixels, mr.pixels * 2, mr.pixels * 3], axis=-1)
    path = write_image(tmp_path / "rgb.nrrd", rgb, mr.geometry)
    img = sitk.ReadImage(str(path))
    assert img.GetNumberOfComponentsPerPixel() == 3
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), rgb)


def test_write_image_needs_a_known_suffix(tmp_path: Path, mr: Image) -> None:
    with pytest.raises(OutputError, match=r"name it .nii.gz, .nii or .nrrd"):
        write_image(tmp_path / "x.png", mr.pixels, mr.geometry)


def test_features_from_an_exported_pair_have_no_geometry_errors(
    tmp_path: Path, ct_pair: tuple[Image, np.ndarray]
) -> None:
    ct, liver = ct_pair
    image_path = write_image(tmp_path / "ct.nrrd", ct.pixels, ct.geometry)
    mask_path = write_image(tmp_path / "ct_mask.nrrd", liver.astype(np.uint8), ct.geometry)
    csv_path = write_pairs_csv(
        [RadiomicsPair(str(image_path), str(mask_path), 1, "ct")], tmp_path / "pairs.csv"
    )
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert rows == [{"ID": "ct", "Image": str(image_path), "Mask": str(mask_path), "Label": "1"}]
    # As pyradiomics' batch mode would: read the pair from the CSV, check the geometry matches,
    # compute first-order and shape features.
    image = sitk.ReadImage(rows[0]["Image"])
    mask = sitk.ReadImage(rows[0]["Mask"])
    stats = sitk.LabelStatisticsImageFilter()
    stats.Execute(image, mask)  # raises if the two are not in the same physical space
    shape = sitk.LabelShapeStatisticsImageFilter()
    shape.Execute(mask)
    inside = ct.pixels[liver]
    print(
        f"features by {FEATURES_LIBRARY}: mean {stats.GetMean(1):.2f} HU, "
        f"volume {shape.GetPhysicalSize(1):.1f} mm3"
    )
    assert stats.GetCount(1) == int(liver.sum()) == 107098
    assert stats.GetMean(1) == pytest.approx(float(inside.mean()), rel=1e-6)
    assert stats.GetSigma(1) == pytest.approx(float(inside.std(ddof=1)), rel=1e-4)
    voxel = float(np.prod(ct.geometry.spacing))
    assert shape.GetPhysicalSize(1) == pytest.approx(liver.sum() * voxel, rel=1e-6)
    centroid = shape.GetCentroid(1)
    idx = np.argwhere(liver).mean(axis=0)
    np.testing.assert_allclose(centroid, ct.geometry.index_to_world(idx), atol=1e-4)


def test_writer_registry_passes_geometry_and_keeps_old_formats(mr: Image) -> None:
    assert {"png8", "png16", "npy", "npz", "nifti", "nrrd"} <= set(known_writers())
    assert suffix_of("nifti") == ".nii.gz" and suffix_of("nrrd") == ".nrrd"
    grey = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    assert get_writer("png8")(grey, None) == encode(grey, "png8")
    assert get_writer("png16")(grey, mr.geometry) == encode(grey, "png16")
    assert get_writer("npy")(grey, None) == encode(grey, "npy")
    assert get_writer("nifti")(mr.pixels, mr.geometry) == encode_nifti(mr.pixels, mr.geometry)
    with pytest.raises(SpecError, match=r"unknown output format 'tiff'; known: .*nifti, npy"):
        get_writer("tiff")


def test_webdataset_shards_read_back_with_the_webdataset_package(tmp_path: Path, mr: Image) -> None:
    import webdataset as wds

    samples = [
        ShardSample(
            f"MR_s301/{k:04d}",
            mr.pixels[k],
            (mr.pixels[k] > 200).astype(np.uint8),
            {"slice": k, "modality": "MR", "split": "train" if k < 7 else "val"},
        )
        for k in range(10)
    ]
    shards = write_shards(samples, tmp_path / "shards", max_count=4)
    assert [p.name for p in shards] == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    again = write_shards(samples, tmp_path / "again", max_count=4)
    assert [p.read_bytes() for p in shards] == [p.read_bytes() for p in again]
    with tarfile.open(shards[0]) as tar:
        for info in tar.getmembers():
            assert (info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode) == (
                0,
                0,
                0,
                "",
                "",
                0o644,
            )
    dataset = wds.WebDataset([str(p) for p in shards], shardshuffle=False).decode()
    got = list(dataset)
    assert len(got) == 10
    for s, g in zip(samples, got, strict=True):
        assert g["__key__"] == s.key
        np.testing.assert_array_equal(g["image.npy"], s.image)
        np.testing.assert_array_equal(g["mask.npy"], s.mask)
        assert g["json"] == dict(s.labels)
    assert shard_key("a.b/c.d") == "a_b/c_d"
    with pytest.raises(SpecError, match=r"two samples share the WebDataset key 'x'"):
        write_shards([samples[0].__class__("x", mr.pixels[0])] * 2, tmp_path / "dup")


def test_torch_dataset_without_torch_says_which_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from radprep.export.torch import ManifestDataset, TorchMissingError

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(TorchMissingError, match=r"pip install 'radprep\[torch\]'"):
        ManifestDataset(tmp_path / "manifest.parquet", image_output="image")


def test_manifest_errors(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from radprep.export.nifti import pairs_from_manifest

    pq.write_table(
        pa.table({"sample_id": ["a"], "output": ["x"], "path": ["x/a.nrrd"]}),
        tmp_path / "manifest.parquet",
    )
    with pytest.raises(InputError, match=r"no output 'image' in the manifest \(outputs: x\)"):
        pairs_from_manifest(tmp_path / "manifest.parquet")
