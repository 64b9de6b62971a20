"""PyTorch loading over a demo-like CBIS-DDSM run: ManifestDataset batched by torch's default
collate through a DataLoader with two workers (labels without None, float CHW images), two
training steps of a tiny CNN, and the WebDataset shards read back through webdataset's own
loader into the same items."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import webdataset as wds

import radprep
from radprep.demo.synthetic import DEMO_CASES, build_cbis_dataset
from radprep.errors import SpecError
from radprep.export.torch import MISSING_NUMBER, ManifestDataset, model_input
from radprep.export.webdataset import samples_from_manifest, shard_dataset, write_shards


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("cbis-torch")
    root = build_cbis_dataset(tmp / "CBIS-DDSM", DEMO_CASES, rows=400, cols=300)
    result = radprep.run(
        "cbis-ddsm-299",
        overrides=[f"source.root={root}"],
        out=tmp / "out",
        executor="serial",
        progress="quiet",
    )
    assert result.failed == 0, result.failures
    return result.out_dir


def manifest_rows(run_dir: Path, output: str = "full") -> dict[str, dict]:
    rows = pq.read_table(run_dir / "manifest.parquet").to_pylist()
    return {r["sample_id"]: r for r in rows if r["output"] == output}


def test_items_are_float_chw_and_labels_hold_no_none(run_dir: Path) -> None:
    ds = ManifestDataset(
        run_dir / "manifest.parquet",
        image_output="full",
        mask_output="roi_mask",
        target="pathology_binary",
    )
    rows = manifest_rows(run_dir)
    assert len(ds) == len(rows) == len(DEMO_CASES)
    item = ds[0]
    row = rows[item["id"]]
    png = cv2.imread(str(run_dir / row["path"]), cv2.IMREAD_UNCHANGED)
    assert item["image"].dtype == torch.float32 and item["image"].shape == (1, 299, 299)
    np.testing.assert_allclose(item["image"][0].numpy(), png / 255.0, atol=1e-6)
    mask = cv2.imread(str(run_dir / row["path"].replace("full/", "roi_mask/")), 0)
    np.testing.assert_array_equal(item["mask"][0].numpy(), (mask > 0).astype(np.float32))
    # Calcifications have no mass margins: "" and a missing flag, never None.
    calcs = [i for i in range(len(ds)) if ds.items[i][1]["label_mass_margins"] is None]
    assert calcs, "the demo has calcification cases"
    calc = ds[calcs[0]]
    assert calc["labels"]["mass_margins"] == "" and bool(calc["missing"]["mass_margins"])
    assert calc["labels"]["abnormality_type"] == "calcification"
    assert not bool(calc["missing"]["abnormality_type"])
    assert calc["labels"]["subtlety"].dtype == torch.int64
    assert int(calc["target"]) == rows[calc["id"]]["label_pathology_binary"]


def test_dataloader_with_two_workers_batches_every_sample(run_dir: Path) -> None:
    ds = ManifestDataset(run_dir / "manifest.parquet", image_output="full", target="pathology")
    again = pickle.loads(pickle.dumps(ds))  # spawned loader workers (macOS, Windows) pickle it
    assert isinstance(again, torch.utils.data.Dataset) and len(again) == len(ds)
    torch.testing.assert_close(again[3]["image"], ds[3]["image"])
    rows = manifest_rows(run_dir)
    assert ds.classes == sorted({r["label_pathology"] for r in rows.values()})
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    seen = []
    for batch in loader:
        n = len(batch["id"])
        assert batch["image"].shape == (n, 1, 299, 299) and batch["image"].dtype == torch.float32
        assert float(batch["image"].min()) >= 0.0 and float(batch["image"].max()) <= 1.0
        assert batch["target"].dtype == torch.int64
        assert batch["labels"]["assessment"].shape == (n,)
        for k, sid in enumerate(batch["id"]):
            r = rows[sid]
            assert ds.classes[int(batch["target"][k])] == r["label_pathology"]
            margins = r["label_mass_margins"]
            assert batch["labels"]["mass_margins"][k] == (margins or "")
            assert bool(batch["missing"]["mass_margins"][k]) == (margins is None)
            assert int(batch["labels"]["breast_density"][k]) == r["label_breast_density"]
        seen += batch["id"]
    assert sorted(seen) == sorted(rows)


def test_normalisation_and_missing_numbers() -> None:
    grey = np.array([[0, 255], [51, 102]], dtype=np.uint8)
    x = model_input(grey, normalize=(0.5, 0.25))
    np.testing.assert_allclose(x[0], (grey / 255.0 - 0.5) / 0.25, rtol=1e-6)
    rgb = np.stack([grey, grey, grey], axis=-1)
    y = model_input(rgb, normalize=([0.1, 0.2, 0.3], [1, 2, 4]))
    assert y.shape == (3, 2, 2)
    np.testing.assert_allclose(y[2], (grey / 255.0 - 0.3) / 4, rtol=1e-6)
    hu = np.array([[-1000.0, 40.0]], dtype=np.float32)
    np.testing.assert_array_equal(model_input(hu)[0], hu)  # floats keep their values
    assert model_input(np.full((2, 2), 65535, np.uint16)).max() == 1.0
    with pytest.raises(
        SpecError, match=r"normalize mean has 2 values; give 1 or one per channel \(3\)"
    ):
        model_input(rgb, normalize=([0.1, 0.2], 1.0))
    from radprep.export.torch import clean_labels

    values, missing = clean_labels(
        {"a": None, "b": 3, "c": None, "d": float("nan"), "e": True},
        {"a": "int", "b": "int", "c": "text", "d": "float", "e": "bool"},
    )
    assert values == {"a": MISSING_NUMBER, "b": 3, "c": "", "d": -1.0, "e": 1}
    assert missing == {"a": True, "b": False, "c": True, "d": True, "e": False}


def test_unknown_target_names_the_labels(run_dir: Path) -> None:
    with pytest.raises(
        SpecError, match=r"no label 'cancer' to use as the target \(labels: abnormalities, "
    ):
        ManifestDataset(run_dir / "manifest.parquet", image_output="full", target="cancer")


class TinyCNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 5, stride=4)
        self.head = torch.nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x)).mean(dim=(2, 3))
        return self.head(h)[:, 0]


def test_two_training_steps_from_the_manifest(run_dir: Path) -> None:
    torch.manual_seed(0)
    ds = ManifestDataset(
        run_dir / "manifest.parquet",
        image_output="full",
        split="train",
        target="pathology_binary",
        normalize=(0.5, 0.25),
    )
    assert 0 < len(ds) < len(DEMO_CASES)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True, num_workers=2)
    model = TinyCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    batches = iter(loader)
    for _ in range(2):
        batch = next(batches)
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            model(batch["image"]), batch["target"].float()
        )
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses)) and losses[0] != losses[1]


def test_shards_load_with_webdataset_s_own_loader(run_dir: Path, tmp_path: Path) -> None:
    samples = samples_from_manifest(
        run_dir / "manifest.parquet", image_output="full", mask_output="roi_mask"
    )
    shards = write_shards(samples, tmp_path / "shards", max_count=5)
    assert len(shards) == 3
    ds = shard_dataset(shards, target="pathology")
    loader = wds.WebLoader(ds, batch_size=4, num_workers=2)
    ref = ManifestDataset(
        run_dir / "manifest.parquet",
        image_output="full",
        mask_output="roi_mask",
        target="pathology",
    )
    by_id = {ref.items[i][0]: i for i in range(len(ref))}
    seen = []
    for batch in loader:
        assert batch["image"].dtype == torch.float32 and batch["image"].shape[1:] == (1, 299, 299)
        for k, sid in enumerate(batch["id"]):
            want = ref[by_id[sid]]
            torch.testing.assert_close(batch["image"][k], want["image"])
            torch.testing.assert_close(batch["mask"][k], want["mask"])
            assert ref.classes[int(batch["target"][k])] == ref.classes[int(want["target"])]
            assert batch["labels"]["mass_margins"][k] == want["labels"]["mass_margins"]
            assert bool(batch["missing"]["mass_margins"][k]) == bool(
                want["missing"]["mass_margins"]
            )
            assert int(batch["labels"]["subtlety"][k]) == int(want["labels"]["subtlety"])
            assert batch["split"][k] == manifest_rows(run_dir)[sid]["split"]
        seen += batch["id"]
    assert sorted(seen) == sorted(by_id)
