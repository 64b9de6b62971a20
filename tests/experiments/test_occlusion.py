"""The occlusion experiment on a demo-like CBIS-DDSM run, with models built in the test whose
answers are known: an ONNX graph whose score is the mean intensity in a fixed window (scores are
the window means computed here with numpy, the sensitivity map is the brute-force one and peaks
in the window), a model that ignores the image (a flat map), the same window as TorchScript
(same numbers; its gradient saliency is 1/|window| inside the window, 0 outside), a small
untrained CNN end to end on a process pool, resuming, and bad input (exit 2, nothing written)."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import pyarrow.parquet as pq
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

import radprep
from radprep.cli.app import app
from radprep.demo.synthetic import DEMO_CASES, build_cbis_dataset
from radprep.errors import SpecError
from radprep.experiments.occlusion import (
    control_box,
    occlusion_positions,
    roi_share,
    sensitivity_map,
)
from radprep.experiments.report import roc_auc

SIDE = 299
# Where no place away from the ROI is 90% breast; their control box is the best there is.


def best_breast_share(breast: np.ndarray, shape: tuple[int, int], avoid: tuple) -> float:
    """The largest breast share of a box of `shape` overlapping no `avoid` box (brute force)."""
    bh, bw = shape
    ay0, ax0, ay1, ax1 = avoid
    best = 0.0
    for y in range(breast.shape[0] - bh + 1):
        for x in range(breast.shape[1] - bw + 1):
            if y <= ay1 and y + bh - 1 >= ay0 and x <= ax1 and x + bw - 1 >= ax0:
                continue
            best = max(best, float(breast[y : y + bh, x : x + bw].mean()))
    return best


WINDOW = (100, 110, 164, 190)  # rows 100..163, cols 110..189 (end-exclusive, as ONNX Slice)
PATCH, STRIDE = 32, 16


def run_cli(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("cbis-occlusion")
    root = build_cbis_dataset(tmp / "CBIS-DDSM", DEMO_CASES, rows=800, cols=600)
    result = radprep.run(
        "cbis-ddsm-299",
        overrides=[f"source.root={root}"],
        out=tmp / "run",
        executor="serial",
        progress="quiet",
    )
    assert result.failed == 0, result.failures
    return result.out_dir


def graph_model(
    path: Path, nodes, inits, shape=(1, SIDE, SIDE), out_dims=("N",), batch: str | int = "N"
) -> Path:
    g = helper.make_graph(
        nodes,
        "test_model",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, *shape])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, list(out_dims))],
        inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return path


def window_model(path: Path, window=WINDOW, shape=(1, SIDE, SIDE), batch: str | int = "N") -> Path:
    """Score = the mean of the input over a fixed window (all channels)."""
    r0, c0, r1, c1 = window
    inits = [
        numpy_helper.from_array(np.array(v, np.int64), n)
        for n, v in (("starts", [r0, c0]), ("ends", [r1, c1]), ("axes", [2, 3]))
    ]
    nodes = [
        helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["win"]),
        helper.make_node("ReduceMean", ["win"], ["score"], axes=[1, 2, 3], keepdims=0),
    ]
    return graph_model(path, nodes, inits, shape, out_dims=(batch,), batch=batch)


def flat_model(path: Path) -> Path:
    """Score = 0.7 whatever the image (0 x mean + 0.7)."""
    inits = [
        numpy_helper.from_array(np.array(v, np.float32), n) for n, v in (("zero", 0.0), ("c", 0.7))
    ]
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["z", "c"], ["score"]),
    ]
    return graph_model(path, nodes, inits)


def two_class_model(path: Path) -> Path:
    """Two scores: the window mean and one minus it; classes named in the metadata."""
    r0, c0, r1, c1 = WINDOW
    inits = [
        numpy_helper.from_array(np.array(v, np.int64), n)
        for n, v in (("starts", [r0, c0]), ("ends", [r1, c1]), ("axes", [2, 3]))
    ] + [numpy_helper.from_array(np.array([[1.0, -1.0]], np.float32), "w"),
         numpy_helper.from_array(np.array([0.0, 1.0], np.float32), "b")]  # fmt: skip
    nodes = [
        helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["win"]),
        helper.make_node("ReduceMean", ["win"], ["m"], axes=[2, 3], keepdims=0),  # (N, 1)
        helper.make_node("Gemm", ["m", "w", "b"], ["score"]),
    ]
    path = graph_model(path, nodes, inits, out_dims=("N", 2))
    m = onnx.load(path)
    helper.set_model_props(m, {"classes": "cancer,normal"})
    onnx.save(m, path)
    return path


def read_png(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.float64) / 255.0


def window_mean(img: np.ndarray) -> float:
    r0, c0, r1, c1 = WINDOW
    return float(img[r0:r1, c0:c1].mean())


def brute_force_map(img: np.ndarray) -> np.ndarray:
    """The sliding-occluder map of the window model, from the definition."""
    base = window_mean(img)
    total = np.zeros_like(img)
    count = np.zeros_like(img)
    starts = [*range(0, SIDE - PATCH + 1, STRIDE), SIDE - PATCH]
    for y, x in itertools.product(sorted(set(starts)), repeat=2):
        occ = img.copy()
        occ[y : y + PATCH, x : x + PATCH] = 0.0
        total[y : y + PATCH, x : x + PATCH] += base - window_mean(occ)
        count[y : y + PATCH, x : x + PATCH] += 1
    return total / count


@pytest.fixture(scope="module")
def window_run(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("window")
    model = window_model(tmp / "window.onnx")
    code, out, err = run_cli(
        "occlusion", run_dir, "--model", model, "--out", tmp / "out", "--serial", "--quiet",
        "--patch", PATCH, "--stride", STRIDE,
    )  # fmt: skip
    assert code == 0, err
    rows = pq.read_table(tmp / "out" / "occlusion.parquet").to_pylist()
    manifest = pq.read_table(run_dir / "manifest.parquet").to_pylist()
    return {"out": tmp / "out", "rows": rows, "stdout": out, "manifest": manifest, "model": model}


def test_scores_are_the_window_means_computed_by_hand(run_dir: Path, window_run: dict) -> None:
    rows = window_run["rows"]
    full = {r["sample_id"]: r for r in window_run["manifest"] if r["output"] == "full"}
    assert sorted(r["sample_id"] for r in rows) == sorted(full) and len(rows) == len(DEMO_CASES)
    for r in rows:
        sid = r["sample_id"]
        img = read_png(run_dir / "full" / f"{sid}.png")
        occ = read_png(run_dir / "occluded" / f"{sid}.png")
        assert r["score_full"] == pytest.approx(window_mean(img), rel=1e-5, abs=1e-7)
        assert r["score_occluded"] == pytest.approx(window_mean(occ), rel=1e-5, abs=1e-7)
        assert r["score_drop"] == pytest.approx(r["score_full"] - r["score_occluded"], abs=1e-12)
        # the manifest's labels and split come along
        assert r["split"] == full[sid]["split"]
        assert r["label_pathology"] == full[sid]["label_pathology"]
        assert r["label_mass_margins"] == full[sid]["label_mass_margins"]


def test_control_box_is_the_occluded_size_in_the_breast_away_from_the_roi(
    run_dir: Path, window_run: dict
) -> None:
    with_control = [r for r in window_run["rows"] if r["control_box"] is not None]
    assert len(with_control) == len(DEMO_CASES)
    for r in with_control:
        sid = r["sample_id"]
        img = read_png(run_dir / "full" / f"{sid}.png")
        occ = read_png(run_dir / "occluded" / f"{sid}.png")
        changed = np.argwhere(img != occ)
        oy0, ox0 = changed.min(axis=0)
        oy1, ox1 = changed.max(axis=0)
        assert list(r["occluded_box"]) == [oy0, ox0, oy1, ox1]
        y0, x0, y1, x1 = r["control_box"]
        assert (y1 - y0, x1 - x0) == (oy1 - oy0, ox1 - ox0)
        assert y1 < oy0 or y0 > oy1 or x1 < ox0 or x0 > ox1  # no overlap with the occluded box
        # The recipe set everything outside the breast to 0: the breast is what is not 0.
        breast = cv2.imread(str(run_dir / "full" / f"{sid}.png"), 0) > 0
        in_breast = breast[y0 : y1 + 1, x0 : x1 + 1].mean()
        assert r["control_breast_share"] == pytest.approx(in_breast, abs=0.03)
        assert in_breast >= 0.5  # 0.9 where there is room, else the most there is
        if r["control_breast_share"] < 0.9:  # only when no place away from the ROI has 0.9
            best = best_breast_share(breast, (y1 - y0 + 1, x1 - x0 + 1), (oy0, ox0, oy1, ox1))
            assert best < 0.9 + 0.03, (sid, best)
        control = img.copy()
        control[y0 : y1 + 1, x0 : x1 + 1] = 0.0  # the occluded copy's fill
        assert r["score_control"] == pytest.approx(window_mean(control), rel=1e-5, abs=1e-7)


def test_sensitivity_map_is_the_brute_force_one_and_peaks_in_the_window(
    run_dir: Path, window_run: dict
) -> None:
    r0, c0, r1, c1 = WINDOW
    out = window_run["out"]
    for n, r in enumerate(window_run["rows"]):
        heat = np.load(out / r["heatmap"])
        assert heat.dtype == np.float32 and heat.shape == (SIDE, SIDE)
        img = read_png(run_dir / "full" / f"{r['sample_id']}.png")
        if n < 2:  # the definition, pixel by pixel (slow in pure numpy: two samples)
            np.testing.assert_allclose(heat, brute_force_map(img), atol=2e-6)
        if window_mean(img) > 0.01:
            y, x = np.unravel_index(np.argmax(heat), heat.shape)
            assert r0 <= y < r1 and c0 <= x < c1, (r["sample_id"], y, x)
        mask = cv2.imread(str(run_dir / "roi_mask" / f"{r['sample_id']}.png"), 0) > 0
        pos = np.clip(heat.astype(np.float64), 0, None)
        want = pos[mask].sum() / pos.sum() if pos.sum() > 0 else np.nan
        np.testing.assert_allclose(r["roi_share"], want, rtol=1e-6)
        assert r["roi_area_share"] == pytest.approx(mask.mean())
        assert (out / r["overlay"]).is_file()


def test_a_model_that_ignores_the_image_gives_a_flat_map(run_dir: Path, tmp_path: Path) -> None:
    code, _, err = run_cli(
        "occlusion", run_dir, "--model", flat_model(tmp_path / "flat.onnx"), "--out",
        tmp_path / "out", "--serial", "--quiet", "--limit", 3, "--stride", 32, "--no-report",
    )  # fmt: skip
    assert code == 0, err
    rows = pq.read_table(tmp_path / "out" / "occlusion.parquet").to_pylist()
    assert len(rows) == 3
    for r in rows:
        assert r["score_full"] == pytest.approx(0.7) and r["score_drop"] == 0.0
        assert r["score_occluded"] == pytest.approx(0.7)
        heat = np.load(tmp_path / "out" / r["heatmap"])
        assert not heat.any()
        assert np.isnan(r["roi_share"])


class WindowMean(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.input_shape = [1, SIDE, SIDE]
        self.window = list(WINDOW)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r0, c0, r1, c1 = self.window[0], self.window[1], self.window[2], self.window[3]
        return x[:, :, r0:r1, c0:c1].mean(dim=(1, 2, 3)).unsqueeze(1)


def test_torchscript_gives_the_onnx_numbers_and_exact_saliency(
    run_dir: Path, window_run: dict, tmp_path: Path
) -> None:
    path = tmp_path / "window.pt"
    torch.jit.script(WindowMean()).save(str(path))
    code, _, err = run_cli(
        "occlusion", run_dir, "--model", path, "--out", tmp_path / "out", "--serial", "--quiet",
        "--patch", PATCH, "--stride", STRIDE, "--limit", 3, "--saliency", "--no-report",
    )  # fmt: skip
    assert code == 0, err
    got = pq.read_table(tmp_path / "out" / "occlusion.parquet").to_pylist()
    want = {r["sample_id"]: r for r in window_run["rows"]}
    assert len(got) == 3
    r0, c0, r1, c1 = WINDOW
    expected_saliency = np.zeros((SIDE, SIDE), np.float32)
    expected_saliency[r0:r1, c0:c1] = 1.0 / ((r1 - r0) * (c1 - c0))
    for r in got:
        w = want[r["sample_id"]]
        for key in ("score_full", "score_occluded", "score_control", "roi_share"):
            np.testing.assert_allclose(r[key], w[key], rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(
            np.load(tmp_path / "out" / r["heatmap"]),
            np.load(window_run["out"] / w["heatmap"]),
            rtol=1e-5,
            atol=1e-6,
        )
        np.testing.assert_allclose(
            np.load(tmp_path / "out" / r["saliency"]), expected_saliency, rtol=1e-5
        )


def test_a_graph_with_a_fixed_batch_of_one(run_dir: Path, window_run: dict, tmp_path: Path) -> None:
    model = window_model(tmp_path / "one.onnx", batch=1)
    code, _, err = run_cli(
        "occlusion", run_dir, "--model", model, "--out", tmp_path / "out", "--serial",
        "--quiet", "--limit", 2, "--patch", PATCH, "--stride", STRIDE, "--batch", 7, "--no-report",
    )  # fmt: skip
    assert code == 0, err
    want = {r["sample_id"]: r for r in window_run["rows"]}
    for r in pq.read_table(tmp_path / "out" / "occlusion.parquet").to_pylist():
        w = want[r["sample_id"]]
        for key in ("score_full", "score_occluded", "score_control"):
            assert r[key] == pytest.approx(w[key], rel=1e-6)
        np.testing.assert_allclose(
            np.load(tmp_path / "out" / r["heatmap"]),
            np.load(window_run["out"] / w["heatmap"]),
            atol=1e-6,
        )


def test_class_by_name_from_the_model_metadata(
    run_dir: Path, window_run: dict, tmp_path: Path
) -> None:
    model = two_class_model(tmp_path / "two.onnx")
    code, _, err = run_cli(
        "occlusion", run_dir, "--model", model, "--out", tmp_path / "x", "--serial"
    )
    assert (
        code == 2
        and "the model gives 2 scores; choose one with --class (an index 0..1 or a name: cancer, normal)"
        in err
    )
    code, _, err = run_cli(
        "occlusion", run_dir, "--model", model, "--out", tmp_path / "out", "--serial",
        "--quiet", "--class", "normal", "--limit", 3, "--patch", 64, "--stride", 64, "--no-report",
    )  # fmt: skip
    assert code == 0, err
    want = {r["sample_id"]: r for r in window_run["rows"]}
    for r in pq.read_table(tmp_path / "out" / "occlusion.parquet").to_pylist():
        assert r["score_full"] == pytest.approx(1 - want[r["sample_id"]]["score_full"], abs=1e-6)
    info = json.loads((tmp_path / "out" / "occlusion.json").read_text())
    assert info["model"]["class_index"] == 1 and info["model"]["class_name"] == "normal"


def test_resume_skips_done_samples_and_fresh_redoes_them(run_dir: Path, tmp_path: Path) -> None:
    model = window_model(tmp_path / "w.onnx")
    args = ["occlusion", run_dir, "--model", model, "--out", tmp_path / "out", "--serial",
            "--quiet", "--patch", 64, "--stride", 64, "--no-report"]  # fmt: skip
    code, out, _ = run_cli(*args, "--limit", 2)
    assert code == 0 and "2 sample(s): 2 done (0 already done)" in out
    first = pq.read_table(tmp_path / "out" / "occlusion.parquet").to_pylist()
    code, out, _ = run_cli(*args, "--limit", 3)
    assert code == 0 and "3 sample(s): 3 done (2 already done)" in out
    second = pq.read_table(tmp_path / "out" / "occlusion.parquet").to_pylist()
    for a, b in zip(first, second[:2], strict=True):
        assert {k: v for k, v in a.items() if not k.startswith("seconds")} == {
            k: v for k, v in b.items() if not k.startswith("seconds")
        }  # same control boxes: the place is seeded
    code, out, _ = run_cli(*args, "--limit", 3, "--fresh")
    assert code == 0 and "3 done (0 already done)" in out
    code, out, _ = run_cli(*args, "--limit", 3, "--seed", 7)  # changed settings redo all
    assert code == 0 and "3 done (0 already done)" in out


def tiny_cnn(path: Path, seed: int = 0) -> Path:
    """A small untrained CNN (random weights): it shows the plumbing, not a finding.
    conv 5x5/4 (3->8), ReLU, conv 3x3/2 (8->16), ReLU, global average pool, linear 16->2."""
    rng = np.random.default_rng(seed)

    def w(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.normal(0, 0.3, shape)).astype(np.float32), name)

    inits = [
        w("w1", 8, 3, 5, 5),
        w("b1", 8),
        w("w2", 16, 8, 3, 3),
        w("b2", 16),
        w("w3", 16, 2),
        w("b3", 2),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], strides=[4, 4]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["score"]),
    ]
    return graph_model(path, nodes, inits, shape=(3, SIDE, SIDE), out_dims=("N", 2))


@pytest.mark.slow
def test_untrained_cnn_end_to_end_on_a_process_pool(run_dir: Path, tmp_path: Path) -> None:
    code, out, err = run_cli(
        "occlusion", run_dir, "--model", tiny_cnn(tmp_path / "tiny.onnx"), "--out",
        tmp_path / "out", "--workers", 2, "--quiet", "--class", "1", "--activation", "softmax",
        "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225", "--patch", 64,
        "--stride", 48, "--limit", 4,
    )  # fmt: skip
    assert code == 0, err
    assert "4 sample(s): 4 done" in out and "sensitivity map" in out
    rows = pq.read_table(tmp_path / "out" / "occlusion.parquet").to_pylist()
    assert len(rows) == 4
    for r in rows:
        assert 0.0 < r["score_full"] < 1.0 and 0.0 < r["score_occluded"] < 1.0
        heat = np.load(tmp_path / "out" / r["heatmap"])
        assert np.isfinite(heat).all() and heat.any()
    # the same numbers in this process, by hand: grey repeated to 3 channels, normalised
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tmp_path / "tiny.onnx"), providers=["CPUExecutionProvider"])
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    for r in rows:
        img = read_png(run_dir / "full" / f"{r['sample_id']}.png").astype(np.float32)
        x = (np.repeat(img[None, None], 3, axis=1) - mean) / std
        logits = sess.run(None, {"x": x.astype(np.float32)})[0][0].astype(np.float64)
        prob = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        assert r["score_full"] == pytest.approx(prob[1], rel=1e-5)
    html = (tmp_path / "out" / "report.html").read_text()
    assert 'data-count="done">4<' in html and "ROC AUC" in html
    for r in rows:  # the movers' overlays are linked and exist
        if f'src="{r["overlay"]}"' in html:
            assert (tmp_path / "out" / r["overlay"]).is_file()


def test_report_auc_is_the_pairwise_one(window_run: dict) -> None:
    html = (window_run["out"] / "report.html").read_text()
    rows = window_run["rows"]
    y = [r["label_pathology_binary"] for r in rows]
    assert set(y) == {0, 1}

    def pairwise(s: list[float], y: list[int]) -> float:
        pos = [a for a, t in zip(s, y, strict=True) if t == 1]
        neg = [a for a, t in zip(s, y, strict=True) if t == 0]
        return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))

    for key in ("score_full", "score_occluded"):
        auc = pairwise([r[key] for r in rows], y)
        assert roc_auc([r[key] for r in rows], y) == pytest.approx(auc)
        assert f"{auc:.3f}" in html
    assert roc_auc([1, 1, 2, 3], [0, 1, 0, 1]) == pytest.approx(
        pairwise([1, 1, 2, 3], [0, 1, 0, 1])
    )
    assert np.isnan(roc_auc([1, 2], [1, 1]))
    assert 'id="auc-table"' in html and "ROI occluded" in html
    n = len(DEMO_CASES)
    below = sum(r["control_breast_share"] < 0.9 for r in rows)
    assert f"placed in {n} of {n} samples, {below} of them with less than 0.9" in html


def test_a_bad_sample_fails_alone_with_its_reason(run_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    ids = sorted(p.stem for p in (run / "full").glob("*.png"))[:4]
    (run / "occluded" / f"{ids[1]}.png").write_bytes(b"not a png")
    (run / "roi_mask" / f"{ids[2]}.png").unlink()
    code, out, err = run_cli(
        "occlusion", run, "--model", window_model(tmp_path / "w.onnx"), "--out", tmp_path / "out",
        "--serial", "--quiet", "--limit", 4, "--patch", 64, "--stride", 64, "--no-report",
    )  # fmt: skip
    assert code == 1
    assert "4 sample(s): 2 done (0 already done), 2 failed" in out
    assert f"radprep: error: {ids[1]}: {run}/occluded/{ids[1]}.png: cannot read the PNG" in err
    assert f"radprep: error: {ids[2]}: {run}/roi_mask/{ids[2]}.png: no such file" in err
    failures = [
        json.loads(x) for x in (tmp_path / "out" / "failures.jsonl").read_text().splitlines()
    ]
    assert [f["sample_id"] for f in failures] == [ids[1], ids[2]]
    rows = pq.read_table(tmp_path / "out" / "occlusion.parquet").to_pylist()
    assert [r["sample_id"] for r in rows] == [ids[0], ids[3]]


# -- the pure functions -------------------------------------------------------------------------


def test_positions_cover_every_pixel_and_map_of_a_constant_image() -> None:
    assert occlusion_positions(10, 4, 3) == [0, 3, 6]
    assert occlusion_positions(11, 4, 3) == [0, 3, 6, 7]
    with pytest.raises(SpecError, match="patch_px 12 is larger than the image side 10"):
        occlusion_positions(10, 12, 3)
    img = np.full((1, 40, 40), 0.5, np.float32)

    def score(batch: np.ndarray) -> np.ndarray:  # mean over rows 10..19, cols 20..29
        return batch[:, 0, 10:20, 20:30].mean(axis=(1, 2))

    heat = sensitivity_map(score, img, patch_px=8, stride_px=2, batch_size=7)
    y, x = np.unravel_index(np.argmax(heat), heat.shape)
    assert 10 <= y < 20 and 20 <= x < 30
    assert heat[0, 0] == 0 and heat[39, 39] == 0
    assert roi_share(heat, np.ones((40, 40), bool)) == pytest.approx(1.0)
    assert np.isnan(roi_share(np.zeros((4, 4)), np.ones((4, 4), bool)))


def test_control_box_unit() -> None:
    img = np.zeros((100, 100), np.float32)
    img[:, :60] = 0.8  # the breast: the left 60 columns
    avoid = [(10, 10, 39, 39)]
    rng = np.random.default_rng(0)
    for _ in range(20):
        y0, x0, y1, x1 = control_box(img, (30, 30), avoid, rng=rng)
        assert (y1 - y0, x1 - x0) == (29, 29)
        assert img[y0 : y1 + 1, x0 : x1 + 1].astype(bool).mean() >= 0.9
        assert y0 > 39 or x0 > 39 or y1 < 10 or x1 < 10
    a = control_box(img, (30, 30), avoid, rng=np.random.default_rng(3))
    assert a == control_box(img, (30, 30), avoid, rng=np.random.default_rng(3))
    assert control_box(img, (90, 90), avoid, rng=rng) is None  # no room away from the ROI


# -- bad input: one line, exit 2, nothing written --------------------------------------------------


def assert_refused(tmp_path: Path, args: list, message: str) -> None:
    out = tmp_path / "refused"
    code, _, err = run_cli("occlusion", *args, "--out", out, "--serial")
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("radprep: error: "), err
    assert message in lines[0], lines[0]
    assert not out.exists()


def test_model_whose_input_does_not_fit(run_dir: Path, tmp_path: Path) -> None:
    small = window_model(tmp_path / "small.onnx", (10, 10, 50, 50), shape=(1, 224, 224))
    assert_refused(
        tmp_path, [run_dir, "--model", small],
        f"small.onnx: the model takes 1x224x224 (CxHxW) but output 'full' of {run_dir} holds images of shape [299, 299]; run the recipe with a resize to 224x224",
    )  # fmt: skip
    two = window_model(tmp_path / "two.onnx", shape=(2, SIDE, SIDE))
    assert_refused(
        tmp_path,
        [run_dir, "--model", two],
        "the model wants 2 input channels; radprep feeds 1 (grey) or 3 (grey repeated)",
    )
    path = tmp_path / "noshape.pt"

    class Plain(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(1, 2, 3))

    torch.jit.script(Plain()).save(str(path))
    assert_refused(
        tmp_path,
        [run_dir, "--model", path],
        "a TorchScript model carries no input shape; give it (--input-shape C,H,W)",
    )


def test_run_without_the_named_outputs(run_dir: Path, tmp_path: Path) -> None:
    model = window_model(tmp_path / "w.onnx")
    assert_refused(
        tmp_path, [run_dir, "--model", model, "--occluded-output", "hidden"],
        "no output 'hidden' in the manifest (outputs: full, occluded, roi_mask)",
    )  # fmt: skip
    assert_refused(
        tmp_path,
        [tmp_path, "--model", model],
        "no manifest.parquet; give the folder of a finished run",
    )


def test_corrupt_model_files(run_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07this is not a protobuf" * 10)
    assert_refused(tmp_path, [run_dir, "--model", bad], "bad.onnx: not a readable ONNX model (")
    good = window_model(tmp_path / "cut.onnx")
    good.write_bytes(good.read_bytes()[:40])
    assert_refused(tmp_path, [run_dir, "--model", good], "cut.onnx: not a readable ONNX model (")
    pt = tmp_path / "bad.pt"
    pt.write_bytes(b"PK\x03\x04 broken zip")
    assert_refused(tmp_path, [run_dir, "--model", pt], "bad.pt: not a readable TorchScript model (")
    assert_refused(
        tmp_path, [run_dir, "--model", tmp_path / "none.onnx"], "none.onnx: no such model file"
    )
    assert_refused(
        tmp_path, [run_dir, "--model", good, "--mean", "0.5"], "give --mean and --std together"
    )
