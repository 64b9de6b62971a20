"""The built-in volume recipes (ct-windows, radiomics) run on real data, the series-folder
source, `radprep convert --to nifti|nrrd`, and the PyTorch Dataset over a run's manifest."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import SimpleITK as sitk
from typer.testing import CliRunner

from radprep import RunResult, run
from radprep.cli.app import app
from radprep.datasets.sources import get_source, load_item
from radprep.export.nifti import write_image
from radprep.intensity.window import window_values
from radprep.io.seg import seg_to_grid
from radprep.io.series import find_series, read_series
from radprep.pipeline import load_recipe
from radprep.spatial.itk import from_sitk
from series_data import ct_with_liver_seg, split_emri

HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CT series with the real liver SEG beside it, and a real MR series with a NIfTI label
    file (on a coarser grid) in a masks folder."""
    root = tmp_path_factory.mktemp("series")
    ct_with_liver_seg(root / "data")
    split_emri(root / "data" / "mr")
    mr = read_series(root / "data" / "mr")
    key = next(s.key for s in find_series(root / "data" / "mr"))
    label = np.zeros(mr.pixels.shape, np.uint8)
    label[2:8, 16:48, 16:48] = 1
    (root / "masks").mkdir()
    write_image(root / "masks" / f"{key}__tumour.nii.gz", label, mr.geometry)
    return root


def _run(recipe: str, data: Path, out: Path, *sets: str) -> RunResult:
    return run(
        recipe,
        out=out,
        overrides=[f"source.root={data / 'data'}", *sets],
        executor="serial",
        progress="quiet",
    )


def test_builtin_recipes_validate() -> None:
    runner = CliRunner()
    for name in ("ct-windows", "radiomics"):
        result = runner.invoke(app, ["validate", name])
        assert result.exit_code == 0, result.output
        assert f"{name}: valid" in result.stdout
        recipe, _ = load_recipe(name)
        assert recipe.source.kind == "series-folder"


def test_series_folder_source_items_and_masks(data: Path) -> None:
    recipe, _ = load_recipe(
        "radiomics", overrides=[f"source.root={data / 'data'}", f"source.masks={data / 'masks'}"]
    )
    enumerate_items, _ = get_source("series-folder")
    items = enumerate_items(recipe.source, data)
    assert [it.id.split("_")[0] for it in items] == ["CT", "MR"]
    for it in items:
        assert it.source["series_instance_uid"] not in it.id
    ct = load_item(items[0], "series-folder", recipe.read)
    assert ct.image.pixels.shape == (5, 512, 512) and list(ct.masks) == ["label"]
    assert ct.masks["label"].sum() == 107098
    mr = load_item(items[1], "series-folder", recipe.read)
    assert list(mr.masks) == ["label"] and mr.masks["label"].sum() == 6 * 32 * 32
    per_slice, _ = load_recipe("ct-windows", overrides=[f"source.root={data / 'data'}"])
    slices = enumerate_items(per_slice.source, data)
    assert [it.id.rsplit("/", 1)[1] for it in slices] == ["0000", "0001", "0002", "0003", "0004"]
    two = load_item(slices[2], "series-folder", per_slice.read)
    np.testing.assert_array_equal(two.image.pixels, ct.image.pixels[2])
    assert two.image.geometry.spacing == ct.image.geometry.spacing[1:]


def test_radiomics_recipe_writes_nrrd_pairs_and_the_pairs_csv(data: Path, tmp_path: Path) -> None:
    result = _run("radiomics", data, tmp_path / "out", f"source.masks={data / 'masks'}")
    assert result.ok, result.failures
    assert result.outputs == 4
    pairs_csv = tmp_path / "out" / "radiomics_pairs.csv"  # written by the run itself
    assert pairs_csv.exists()
    rows = list(csv.DictReader(pairs_csv.open()))
    assert [r["ID"].split("_")[0] for r in rows] == ["CT", "MR"]
    assert all(r["Label"] == "255" for r in rows)
    ct = read_series(data / "data" / "ct")
    ct_row = rows[0]
    image = sitk.ReadImage(str(tmp_path / "out" / ct_row["Image"]))
    mask = sitk.ReadImage(str(tmp_path / "out" / ct_row["Mask"]))
    arr, geo = from_sitk(image)
    np.testing.assert_array_equal(arr, ct.pixels)
    np.testing.assert_allclose(geo.origin, ct.geometry.origin, atol=1e-5)
    np.testing.assert_allclose(geo.direction, ct.geometry.direction, atol=1e-5)
    stats = sitk.LabelStatisticsImageFilter()  # the features test's library: see test_exports
    stats.Execute(image, mask)
    assert stats.GetCount(255) == 107098
    liver = seg_to_grid(data / "data" / "seg" / "liver.dcm", ct.spatial_shape, ct.geometry)
    assert stats.GetMean(255) == pytest.approx(float(ct.pixels[liver["liver"]].mean()), rel=1e-6)


def test_ct_windows_recipe_writes_three_window_slices(data: Path, tmp_path: Path) -> None:
    result = _run("ct-windows", data, tmp_path / "out")
    assert result.ok, result.failures
    table = pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()
    rgb = [r for r in table if r["output"] == "rgb"]
    assert len(rgb) == 5 and all(r["shape"] == [512, 512, 3] for r in rgb)
    ct = read_series(data / "data" / "ct")
    arr = np.load(
        tmp_path
        / "out"
        / next(
            r["path"] for r in table if r["output"] == "array" and r["sample_id"].endswith("/0002")
        )
    )
    for i, (c, w) in enumerate([(40, 80), (80, 200), (600, 2800)]):
        np.testing.assert_array_equal(arr[..., i], window_values(ct.pixels[2], c, w))


def test_convert_writes_one_volume_per_series_with_masks(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "nii"
    seg = data / "data" / "seg" / "liver.dcm"
    result = CliRunner().invoke(
        app, ["convert", str(data / "data"), "--to", "nifti", "--out", str(out), "--mask", str(seg)]
    )
    assert result.exit_code == 0, result.output
    assert "2 series converted" in result.stdout
    names = sorted(p.name for p in out.iterdir())
    ct_key = next(n for n in names if n.startswith("CT_") and "__" not in n).removesuffix(".nii.gz")
    assert names == sorted(
        [
            ".radprep",  # the resume ledger
            f"{ct_key}.nii.gz",
            f"{ct_key}__mask1.nii.gz",
            "failures.jsonl",
            "inputs.jsonl",
            "radiomics_pairs.csv",
            next(n for n in names if n.startswith("MR_")),
        ]
    )
    ct = read_series(data / "data" / "ct")
    arr, geo = from_sitk(sitk.ReadImage(str(out / f"{ct_key}.nii.gz")))
    np.testing.assert_array_equal(arr, ct.pixels)
    np.testing.assert_allclose(geo.spacing, ct.geometry.spacing, atol=1e-5)
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"{ct_key}__mask1.nii.gz")))
    assert labels.sum(axis=(1, 2)).tolist() == [0, 36233, 35645, 35220, 0]
    rows = list(csv.DictReader((out / "radiomics_pairs.csv").open()))
    assert rows == [
        {"ID": f"{ct_key}__mask1", "Image": f"{ct_key}.nii.gz", "Mask": f"{ct_key}__mask1.nii.gz"}
    ]
    nrrd = CliRunner().invoke(
        app, ["convert", str(data / "data" / "mr"), "--to", "nrrd", "--out", str(tmp_path / "n")]
    )
    assert nrrd.exit_code == 0, nrrd.output
    written = sorted(p.suffix for p in (tmp_path / "n").iterdir() if p.name != ".radprep")
    assert written == [".jsonl", ".jsonl", ".nrrd"]  # failures, inputs, the volume


def test_convert_usage_errors(data: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "convert",
            str(data / "data"),
            "--to",
            "png8",
            "--out",
            str(tmp_path / "o"),
            "--mask",
            str(data / "data" / "seg" / "liver.dcm"),
        ],
    )
    assert r.exit_code == 2 and "--mask goes with --to nifti or nrrd" in r.stderr
    r = runner.invoke(app, ["convert", str(data / "data"), "--to", "mha", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "choose one of png8, png16, npy, nifti, nrrd" in r.stderr
    r = runner.invoke(
        app,
        [
            "convert",
            str(data / "data"),
            "--to",
            "nifti",
            "--out",
            str(tmp_path / "m"),
            "--mask",
            str(data / "masks" / "nope.nii.gz"),
        ],
    )
    assert r.exit_code == 2 and "no such file or folder" in r.stderr


@pytest.mark.skipif(
    not HAS_TORCH, reason="torch is an optional extra: pip install 'radprep[torch]'"
)
def test_torch_dataset_over_a_manifest(data: Path, tmp_path: Path) -> None:
    import torch

    from radprep.export.torch import ManifestDataset

    result = _run("ct-windows", data, tmp_path / "out")
    assert result.ok
    ds = ManifestDataset(
        tmp_path / "out" / "manifest.parquet", image_output="array", channels_first=True
    )
    assert isinstance(ds, torch.utils.data.Dataset)
    assert len(ds) == 5
    item = ds[2]
    assert item["id"].endswith("/0002") and item["labels"]["slice"] == 2
    assert item["image"].shape == (3, 512, 512) and item["image"].dtype == torch.float32
    loader = torch.utils.data.DataLoader(ds, batch_size=2)
    batch = next(iter(loader))
    assert batch["image"].shape == (2, 3, 512, 512)
    png = ManifestDataset(
        tmp_path / "out" / "manifest.parquet", image_output="rgb", raw=True, channels_first=False
    )
    assert png[0]["image"].shape == (512, 512, 3) and png[0]["image"].dtype == torch.uint8
