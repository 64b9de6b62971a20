"""Recipes and the runner: validation with locations, resumable runs, identical bytes on every
executor (serial, process pool, a real Dask cluster), and a run killed with SIGKILL."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

import radprep
from radprep.cli.app import app
from radprep.errors import SpecError
from radprep.pipeline import Pipeline, load_recipe
from radprep.sample import Sample
from realfiles import testdata

RADPREP = str(Path(sys.executable).parent / "radprep")


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real grey images of several modalities, in subfolders, plus a file that is not DICOM."""
    root = tmp_path_factory.mktemp("data")
    files = {
        "cr/chest.dcm": "RG3_UNCR.dcm",
        "cr/chest_j2k.dcm": "RG3_J2KR.dcm",
        "ct/head.dcm": "693_UNCR.dcm",
        "ct/small.dcm": "CT_small.dcm",
        "mr/knee.dcm": "MR_small.dcm",
        "mr/shoulder.dcm": "MR2_UNCR.dcm",
    }
    for rel, name in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(testdata(name), root / rel)
    (root / "notes.txt").write_text("not an image\n")
    return root


RECIPE = {
    "version": 1,
    "name": "test",
    "source": {"kind": "dicom-folder", "root": "."},
    "read": {"window": "header", "frame": 0},
    "steps": [
        {"op": "remove_border_residue"},
        {"op": "crop_square_keep_roi"},
        {"op": "resize", "size": [64, 64]},
    ],
    "outputs": {
        "full": {"format": "png8"},
        "array": {"format": "npy"},
        "zipped": {"format": "npz", "steps": [{"op": "zscore"}]},
    },
}


def write_recipe(tmp: Path, root: Path, **changes: object) -> Path:
    data = json.loads(json.dumps(RECIPE))
    data["source"]["root"] = str(root)
    data.update(changes)
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def tree_bytes(out: Path) -> dict[str, bytes]:
    """Every output image, thumbnail and the manifest (run.json and the report's pages hold wall
    times and the executor, so they are left out)."""
    keep = {}
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        timed = rel == "run.json" or (
            rel.startswith("report/") and not rel.startswith("report/thumbs/")
        )
        if p.is_file() and not rel.startswith(".radprep") and not timed:
            keep[rel] = p.read_bytes()
    return keep


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": [{"op": "blur"}]}, r"steps\[0\]\.op: unknown op 'blur'; known ops: clahe, "),
        (
            {"steps": [{"op": "resize", "size": "big"}]},
            r"steps\[0\]\.size: Input should be a valid integer",
        ),
        (
            {"outputs": {"occluded": {"steps": [{"op": "occlude_roi", "buffer_px": "wide"}]}}},
            r"outputs\.occluded\.steps\[0\]\.buffer_px: Input should be a valid integer",
        ),
        (
            {"outputs": {"occluded": {"steps": [{"op": "occlude_roi", "buffer": 50}]}}},
            r"outputs\.occluded\.steps\[0\]\.buffer: occlude_roi has no option 'buffer'; its options: boxes, buffer_px, fill, masks, seed",
        ),
        (
            {"outputs": {"full": {"format": "jpeg"}}},
            r"outputs\.full\.format: unknown output format 'jpeg'; known: nifti, npy, npz, nrrd, png16, png8",
        ),
        ({"source": {"kind": "dicom-folder"}}, r"source\.root: missing required field"),
        (
            {"source": {"kind": "pacs", "root": "."}},
            r"source: unknown source kind 'pacs'; known: cbis-ddsm, dicom-folder, dicomweb, file-list, series-folder",
        ),
        ({"version": 7}, r"version: Input should be 1"),
        ({"colour": True}, r"colour: unknown field"),
        ({"read": {"window": "loud"}}, r"read\.window: window 'loud' is not understood"),
        ({"outputs": {}}, r"outputs: Dictionary should have at least 1 item"),
    ],
)
def test_recipe_errors_exit_2_with_the_location(
    tmp_path: Path, dataset: Path, change: dict, message: str
) -> None:
    recipe = write_recipe(tmp_path, dataset, **change)
    code, _, err = run_cli("run", str(recipe), "--out", str(tmp_path / "out"))
    assert code == 2
    assert "Traceback" not in err
    assert err.startswith("radprep: error: ")
    import re

    assert re.search(message, err), err
    code, _, err2 = run_cli("validate", str(recipe))
    assert code == 2 and re.search(message, err2)


def test_missing_recipe_and_bad_set(tmp_path: Path, dataset: Path) -> None:
    code, _, err = run_cli("run", "no-such-recipe", "--out", str(tmp_path))
    assert code == 2 and re.search(
        r"neither a file nor a built-in recipe; built-in: cbis-ddsm-299, .*dicom-png, .*radiograph-299",
        err,
    )
    recipe = write_recipe(tmp_path, dataset)
    code, _, err = run_cli(
        "run", str(recipe), "--set", "outputs.full.format", "--out", str(tmp_path / "o")
    )
    assert code == 2 and "use KEY=VALUE" in err
    code, _, err = run_cli("validate", str(recipe), "--set", "outputs.full.format=tiff")
    assert code == 2 and "outputs.full.format: unknown output format 'tiff'; known: " in err


def test_validate_and_builtin_recipes() -> None:
    code, out, _ = run_cli("recipes")
    assert code == 0 and "radiograph-299" in out and "dicom-png" in out
    code, out, _ = run_cli("recipes", "show", "radiograph-299")
    assert code == 0 and yaml.safe_load(out)["name"] == "radiograph-299"
    code, out, _ = run_cli("validate", "radiograph-299")
    assert code == 0 and "valid; 3 step(s), outputs: full, array; recipe hash " in out
    code, _, err = run_cli("recipes", "show", "nothing")
    assert code == 2 and "no built-in recipe 'nothing'" in err


def test_output_inside_the_input_is_refused(tmp_path: Path, dataset: Path) -> None:
    recipe = write_recipe(tmp_path, dataset)
    code, _, err = run_cli("run", str(recipe), "--out", str(dataset / "out"), "--serial")
    assert code == 2 and "is inside the input folder" in err
    assert not (dataset / "out").exists()


# -- runs ---------------------------------------------------------------------------------------


def test_serial_and_two_process_runs_write_identical_bytes(tmp_path: Path, dataset: Path) -> None:
    before = {p: sha(p) for p in dataset.rglob("*") if p.is_file()}
    recipe = write_recipe(tmp_path, dataset)
    code, out, _ = run_cli("run", str(recipe), "-o", str(tmp_path / "serial"), "--serial", "-q")
    assert code == 0, out
    assert "6 item(s): 6 done (0 already done), 0 failed; 18 output(s)" in out
    code, _, _ = run_cli("run", str(recipe), "-o", str(tmp_path / "pool"), "--workers", "2", "-q")
    assert code == 0
    a, b = tree_bytes(tmp_path / "serial"), tree_bytes(tmp_path / "pool")
    assert a == b
    assert "full/cr/chest.png" in a and "array/ct/head.npy" in a and "zipped/mr/knee.npz" in a
    assert before == {p: sha(p) for p in dataset.rglob("*") if p.is_file()}
    table = pq.read_table(tmp_path / "serial" / "manifest.parquet")
    assert table.num_rows == 18
    rows = table.to_pylist()
    assert {r["output"] for r in rows} == {"full", "array", "zipped"}
    head = next(r for r in rows if r["sample_id"] == "ct/head" and r["output"] == "array")
    assert head["shape"] == [64, 64] and head["dtype"] == "uint16"
    assert np.load(tmp_path / "serial" / head["path"]).shape == (64, 64)
    steps = [s["name"] for s in json.loads(head["steps"])]
    assert steps == [
        "read_dicom",
        "modality_lut",
        "voi",
        "remove_border_residue",
        "crop_square_keep_roi",
        "resize",
    ]
    assert head["sop_instance_uid"] and head["recipe_hash"]
    run = json.loads((tmp_path / "serial" / "run.json").read_text())
    assert run["counts"]["done"] == 6 and set(run["stage_seconds"]) == {
        "load",
        "steps",
        "write",
        "report",
    }
    assert run["versions"]["pydicom"] and run["executor"]["executor"] == "serial"
    # The run's phases, each timed once, add up to the run's seconds (the report's after it).
    phases = run["phase_seconds"]
    assert list(phases) == ["first_item", "items", "plan", "records", "report"]  # sort_keys
    assert all(v >= 0 for v in phases.values())
    before_report = sum(v for k, v in phases.items() if k != "report")
    assert abs(before_report - run["seconds"]) < 0.05, (phases, run["seconds"])
    # Serial: the items ran in this process, so the peaks recorded are this process's so far,
    # read here from the kernel (VmHWM): worker <= main <= now.
    hwm_kb = next(
        int(line.split()[1])
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmHWM")
    )
    peak = run["peak_rss_mb"]
    assert 0 < peak["worker"] <= peak["main"] <= hwm_kb / 1024 + 0.1


def test_resume_skips_done_items_and_redoes_changed_ones(tmp_path: Path, dataset: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    recipe = write_recipe(tmp_path, data)
    out = tmp_path / "out"
    assert run_cli("run", str(recipe), "-o", str(out), "--serial", "-q")[0] == 0
    code, stdout, _ = run_cli("run", str(recipe), "-o", str(out), "--serial", "-q")
    assert code == 0 and "6 done (6 already done)" in stdout
    # A changed input is redone, and only it.
    shutil.copy(testdata("MR_small_RLE.dcm"), data / "mr" / "knee.dcm")
    code, stdout, _ = run_cli("run", str(recipe), "-o", str(out), "--serial", "-q")
    assert code == 0 and "6 done (5 already done)" in stdout
    # A changed recipe redoes everything; --fresh too.
    code, stdout, _ = run_cli(
        "run", str(recipe), "-o", str(out), "--serial", "-q", "--set", "steps.2.size=[32,32]"
    )
    assert code == 0 and "6 done (0 already done)" in stdout
    code, stdout, _ = run_cli(
        "run",
        str(recipe),
        "-o",
        str(out),
        "--serial",
        "-q",
        "--set",
        "steps.2.size=[32,32]",
        "--fresh",
    )
    assert code == 0 and "6 done (0 already done)" in stdout
    assert np.load(out / "array" / "ct" / "head.npy").shape == (32, 32)


def test_all_items_failing_exit_1_with_reasons(tmp_path: Path, dataset: Path) -> None:
    recipe = write_recipe(
        tmp_path, dataset, outputs={"mask": {"format": "png8", "write": "mask:roi"}}
    )
    code, _, err = run_cli("run", str(recipe), "-o", str(tmp_path / "out"), "--serial", "-q")
    assert code == 1
    lines = (tmp_path / "out" / "failures.jsonl").read_text().splitlines()
    assert len(lines) == 6
    for line in lines:
        f = json.loads(line)
        assert f["error"] == "InputError"
        assert "output writes mask 'roi' but this sample has none" in f["message"]
    assert "radprep: error: cr/chest: output writes mask 'roi'" in err


def test_one_bad_item_does_not_stop_the_run(tmp_path: Path, dataset: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    raw = testdata("MR_small.dcm").read_bytes()
    (data / "mr" / "cut.dcm").write_bytes(raw[: len(raw) - 3000])
    recipe = write_recipe(tmp_path, data)
    code, stdout, _err = run_cli(
        "run", str(recipe), "-o", str(tmp_path / "out"), "-q", "--workers", "2"
    )
    assert code == 1
    assert "7 item(s): 6 done (0 already done), 1 failed" in stdout
    (failure,) = [
        json.loads(x) for x in (tmp_path / "out" / "failures.jsonl").read_text().splitlines()
    ]
    assert failure["item_id"] == "mr/cut" and failure["error"] == "TruncatedFileError"
    assert str(data) not in failure["message"] or "cut.dcm" in failure["message"]


def test_python_api_and_pipeline_on_an_in_memory_sample(tmp_path: Path, dataset: Path) -> None:
    recipe = write_recipe(tmp_path, dataset)
    result = radprep.run(recipe, out=tmp_path / "api", executor="serial", progress="quiet")
    assert result.ok and result.done == 6 and result.exit_code == 0
    pipe = Pipeline.from_recipe(recipe)
    image = radprep.read_dicom(testdata("693_UNCR.dcm"), voi="header", out_dtype="uint16")
    branches = pipe.process(Sample(image=image, id="ct/head"))
    assert set(branches) == {"full", "array", "zipped"}
    assert branches["full"].image.pixels.shape == (64, 64)
    written = np.load(tmp_path / "api" / "array" / "ct" / "head.npy")
    np.testing.assert_array_equal(branches["array"].image.pixels, written)
    with pytest.raises(SpecError, match=r"steps\[0\]\.op: unknown op"):
        Pipeline.from_recipe({**RECIPE, "steps": [{"op": "nope"}]})


def test_load_recipe_relative_root_is_the_recipe_folder(tmp_path: Path, dataset: Path) -> None:
    folder = tmp_path / "project"
    shutil.copytree(dataset, folder / "dicoms")
    path = write_recipe(tmp_path, Path("dicoms"))
    moved = folder / "recipe.yaml"
    path.rename(moved)
    _recipe, base = load_recipe(moved)
    assert base == folder.resolve()
    result = radprep.run(moved, out=tmp_path / "o", executor="serial", progress="quiet")
    assert result.done == 6


# -- a real Dask cluster ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_dask_cluster_run_is_byte_identical(tmp_path: Path, dataset: Path) -> None:
    import distributed  # noqa: F401  (the dask extra is part of make test)

    dask = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        from distributed import Client

        deadline = time.time() + 60
        while True:
            try:
                client = Client(address, timeout="2s")
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        dask,
                        "worker",
                        address,
                        "--nworkers",
                        "1",
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        client.wait_for_workers(2, timeout=60)
        client.close()
        recipe = write_recipe(tmp_path, dataset)
        code, stdout, _ = run_cli(
            "run", str(recipe), "-o", str(tmp_path / "dask"), "--scheduler", address, "-q"
        )
        assert code == 0, stdout
        run_cli("run", str(recipe), "-o", str(tmp_path / "serial"), "--serial", "-q")
        run_cli("run", str(recipe), "-o", str(tmp_path / "pool"), "--workers", "2", "-q")
        dask_tree = tree_bytes(tmp_path / "dask")
        top = [k for k in dask_tree if not k.startswith("report/")]
        assert len(top) == 18 + 5  # outputs, manifest.parquet and .csv, failures, warnings, inputs
        assert dask_tree == tree_bytes(tmp_path / "serial") == tree_bytes(tmp_path / "pool")
        run = json.loads((tmp_path / "dask" / "run.json").read_text())
        assert run["executor"] == {"executor": "dask", "workers": 2, "scheduler": address}
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


# -- SIGKILL and resume -------------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_gives_the_uninterrupted_outputs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(40):
        shutil.copy(testdata("RG3_UNCR.dcm" if i % 2 else "MR2_UNCR.dcm"), data / f"img{i:03d}.dcm")
    inputs_before = {p.name: sha(p) for p in data.iterdir()}
    recipe = write_recipe(
        tmp_path,
        data,
        steps=[{"op": "remove_border_residue"}],
        outputs={
            "full": {"format": "png16"},
            "small": {"format": "png8", "steps": [{"op": "resize", "size": [128, 128]}]},
        },
    )
    ref = tmp_path / "reference"
    assert run_cli("run", str(recipe), "-o", str(ref), "--serial", "-q")[0] == 0

    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [RADPREP, "run", str(recipe), "-o", str(out), "--workers", "2", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    ledger = out / ".radprep" / "ledger.sqlite"
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and proc.poll() is None:
        if ledger.exists():
            try:
                with sqlite3.connect(ledger, timeout=1) as db:
                    done = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
            except sqlite3.Error:
                done = 0
            if done >= 8:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; give it more items"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 8 <= done < 40
    assert not (out / "manifest.parquet").exists()

    code, stdout, _ = run_cli("run", str(recipe), "-o", str(out), "--workers", "2", "-q")
    assert code == 0
    assert "40 item(s): 40 done" in stdout
    skipped = int(stdout.split("done (")[1].split(" already")[0])
    assert skipped >= done
    assert tree_bytes(out) == tree_bytes(ref)
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert {p.name: sha(p) for p in data.iterdir()} == inputs_before
