"""The reference job: `cbis-ddsm-299` on mammogram-sized 16-bit inputs, beside the notebook's
way, a MONAI pipeline, and the machine's floor (issue 9).

Inputs: the built-in CBIS-DDSM sample (real radiographs of pydicom-data, 14 mammograms) at
4084x3328, once uncompressed and once with the full mammograms in JPEG 2000 lossless.
Rows: images per second, median and interquartile ms per image, peak RSS, ratio to radprep.
MONAI runs in its own virtual environment (torch==2.13.0, the CPU wheel on this machine);
set RADPREP_MONAI_PYTHON to its python, or the row is left out with the reason.
Run: ``make bench`` or ``.venv/bin/python benchmarks/reference.py``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pydicom
from PIL import Image as PILImage

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, stats, table, timeit, write_result
from radprep.datasets.cbis_demo import DEMO_CASES, build_cbis_dataset
from radprep.export.png import encode
from radprep.spatial.resize import resize

ROWS, COLS = 4084, 3328
HERE = Path(__file__).parent


def build_inputs(tmp: Path) -> dict[str, Path]:
    raw = build_cbis_dataset(tmp / "cbis-raw", DEMO_CASES, rows=ROWS, cols=COLS)
    j2k = tmp / "cbis-j2k"
    shutil.rmtree(j2k, ignore_errors=True)
    shutil.copytree(raw, j2k)
    for p in j2k.rglob("*.dcm"):
        ds = pydicom.dcmread(p)
        if ds.SeriesDescription == "full mammogram images":
            ds.compress(pydicom.uid.JPEG2000Lossless)
            ds.save_as(p, enforce_file_format=True)
    return {"uncompressed": raw, "j2k": j2k}


def full_images(root: Path) -> list[Path]:
    return sorted(
        p for p in root.rglob("*.dcm")
        if pydicom.dcmread(p, stop_before_pixels=True).SeriesDescription == "full mammogram images"
    )  # fmt: skip


RUN_SCRIPT = """
import json, resource, sqlite3, sys, time
from radprep.jobs.runner import run_recipe
t0 = time.perf_counter()
res = run_recipe("cbis-ddsm-299", out=sys.argv[2], overrides=json.loads(sys.argv[3]),
                 workers=int(sys.argv[1]), fresh=True, progress="quiet")
wall = time.perf_counter() - t0
db = sqlite3.connect(sys.argv[2] + "/.radprep/ledger.sqlite")
per_item = [row[0] for row in db.execute("SELECT seconds FROM items")]
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"wall": wall, "items": res.items, "failed": res.failed, "per_item": per_item,
  "parent_mb": hwm / 1024,
  "worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def radprep_run(root: Path, out: Path, workers: int, extra: list[str]) -> dict:
    overrides = [f"source.root={root}", *extra]
    proc = subprocess.run(
        [sys.executable, "-c", RUN_SCRIPT, str(workers), str(out), json.dumps(overrides)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["failed"] == 0, res
    return res


def notebook_way(root: Path, out: Path) -> list[float]:
    """The notebook, faithfully: DICOM -> 16-bit PNG first; then PIL crop, residue, resize, save."""
    out.mkdir(parents=True, exist_ok=True)
    times = []
    for full in full_images(root):
        t0 = time.perf_counter()
        ds = pydicom.dcmread(full)
        png16 = out / f"{full.parent.name}.png"
        PILImage.fromarray(ds.pixel_array.astype(np.uint16)).save(png16)  # step 1: PNG16
        mask_path = next(
            (full.parents[2].parent / (full.parents[2].name + "_1")).rglob("000001.dcm"), None
        )
        mask = (
            pydicom.dcmread(mask_path).pixel_array
            if mask_path
            else np.zeros((ROWS, COLS), np.uint8)
        )
        img = PILImage.open(png16)
        arr = np.asarray(img).astype(np.uint16)
        rows = np.nonzero(mask.any(axis=1))[0]
        h, w = arr.shape
        centre = (rows[0] + rows[-1]) // 2 if rows.size else h // 2
        top = int(min(max(centre - w // 2, 0), h - w))
        crop = arr[top : top + w, :].copy()
        crop[crop == crop.max()] = 0  # the white-residue rule, 16-bit
        small = PILImage.fromarray(crop).resize((299, 299), PILImage.BICUBIC)
        small8 = PILImage.fromarray((np.asarray(small) / 257).astype(np.uint8))
        small8.save(out / f"{full.parent.name}-299.png")
        times.append(time.perf_counter() - t0)
    return times


def monai_way(root: Path, out: Path) -> list[float] | str:
    py = os.environ.get("RADPREP_MONAI_PYTHON") or "/tmp/venv-monai/bin/python"
    if not Path(py).exists():
        return "no MONAI environment (set RADPREP_MONAI_PYTHON)"
    args = []
    for full in full_images(root):
        side = COLS
        args.append(f"{full}:{(ROWS - side) // 2},0,{side}")
    proc = subprocess.run(
        [py, str(HERE / "monai_job.py"), str(out), *args], capture_output=True, text=True
    )
    if proc.returncode:
        return "MONAI failed: " + proc.stderr.strip().splitlines()[-1][:200]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def floors(raw: Path, j2k: Path) -> list[list[str]]:
    f_raw, f_j2k = full_images(raw)[0], full_images(j2k)[0]
    rows = []

    def add(name: str, fn) -> float:
        med, iqr = stats(timeit(fn, repeat=5))
        rows.append([name, f"{med:.1f}", f"{iqr:.1f}"])
        return med

    read = add("read the file's bytes (uncompressed, 27 MB)", lambda: f_raw.read_bytes())
    dec = add(
        "decode, uncompressed (pydicom pixel_array)", lambda: pydicom.pixels.pixel_array(f_raw)
    )
    ds = pydicom.dcmread(f_j2k)
    for plugin in ("pylibjpeg", "gdcm", "pillow"):
        try:
            pydicom.pixels.pixel_array(ds, decoding_plugin=plugin)
        except Exception as e:
            rows.append([f"decode, JPEG 2000 lossless ({plugin})", "n/a", type(e).__name__])
            continue
        add(
            f"decode, JPEG 2000 lossless ({plugin})",
            lambda p=plugin: pydicom.pixels.pixel_array(ds, decoding_plugin=p),
        )
    frame = next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1))

    def reduced() -> None:
        im = PILImage.open(io.BytesIO(frame))
        im.reduce = 3
        im.load()

    add("decode, JPEG 2000 at 1/8 (Pillow reduce=3)", reduced)
    arr = pydicom.pixels.pixel_array(f_raw)
    square = arr[:COLS, :COLS]
    rs = add(
        "resize 3328x3328 uint16 -> 299x299 (area)",
        lambda: resize(square, (299, 299), interpolation="area"),
    )
    small = (resize(square, (299, 299), interpolation="area") >> 8).astype(np.uint8)
    enc = add("PNG encode 299x299 8-bit", lambda: encode(small, "png8"))
    rows.append(["floor: decode + resize + encode", f"{dec + rs + enc:.1f}", ""])
    _ = read
    return rows


def main() -> None:
    cv2.setNumThreads(1)
    tmp = Path(os.environ.get("RADPREP_BENCH_TMP") or tempfile.mkdtemp(prefix="radprep-ref-"))
    try:
        t0 = time.perf_counter()
        inputs = build_inputs(tmp)
        built = time.perf_counter() - t0
        n = len(DEMO_CASES)
        results: dict[str, tuple[float, float, float]] = {}
        iqr: dict[str, float] = {}

        def radprep_rows(label: str, root: Path, workers: int, extra: list[str]) -> None:
            res = radprep_run(root, tmp / f"out-{len(results)}", workers, extra)
            per = res["wall"] / res["items"] * 1000
            # Steady state: the median time of one item in a worker (load, steps, write, QA
            # thumbnails) over the workers, without the run's fixed start-up (worker processes,
            # dataset index, report pages), which a 3,100-image dataset amortises.
            ms = np.array(res["per_item"]) * 1000
            q1, med, q3 = np.percentile(ms, [25, 50, 75])
            results[label] = (med / workers, per, max(res["parent_mb"], res["worker_mb"]))
            iqr[label] = q3 - q1

        radprep_rows("radprep, uncompressed, 1 worker", inputs["uncompressed"], 1, [])
        radprep_rows("radprep, uncompressed, 2 workers", inputs["uncompressed"], 2, [])
        radprep_rows(
            "radprep, uncompressed, 1 worker, full-size read (reduce=0)",
            inputs["uncompressed"],
            1,
            ["read.reduce=0"],
        )
        radprep_rows("radprep, JPEG 2000, 1 worker", inputs["j2k"], 1, [])
        radprep_rows("radprep, JPEG 2000, 2 workers", inputs["j2k"], 2, [])
        radprep_rows(
            "radprep, JPEG 2000, 1 worker, full decode (reduce=0)",
            inputs["j2k"],
            1,
            ["read.reduce=0"],
        )

        base = results["radprep, uncompressed, 1 worker"][0]
        rows = []
        for label, (marginal, per, mb) in results.items():
            rows.append(
                [
                    label,
                    f"{1000 / marginal:.1f}",
                    f"{marginal:.0f} (IQR {iqr[label]:.0f})",
                    f"{per:.0f}",
                    f"{mb:.0f}",
                    f"{marginal / base:.2f}",
                ]
            )
        nb = notebook_way(inputs["uncompressed"], tmp / "notebook")
        med = statistics.median(nb) * 1000
        q = np.percentile(np.array(nb) * 1000, [25, 75])
        rows.append(
            [
                "notebook's way (PNG16 first, PIL), uncompressed",
                f"{1000 / med:.2f}",
                f"{med:.0f}",
                f"{med:.0f} (IQR {q[1] - q[0]:.0f})",
                "-",
                f"{med / base:.1f}",
            ]
        )
        mo = monai_way(inputs["uncompressed"], tmp / "monai")
        if isinstance(mo, str):
            rows.append(
                [
                    "MONAI (LoadImage, ScaleIntensity, SpatialCrop, Resize, SaveImage)",
                    "-",
                    "-",
                    "-",
                    "-",
                    mo,
                ]
            )
        else:
            med = statistics.median(mo[1:] or mo) * 1000
            q = np.percentile(np.array(mo) * 1000, [25, 75])
            rows.append(
                [
                    "MONAI (LoadImage, ScaleIntensity, SpatialCrop, Resize, SaveImage)",
                    f"{1000 / med:.2f}",
                    f"{med:.0f}",
                    f"{med:.0f} (IQR {q[1] - q[0]:.0f})",
                    "-",
                    f"{med / base:.1f}",
                ]
            )
        t1 = table(
            [
                "job (14 mammograms, 4084x3328, 16-bit)",
                "images/s (steady)",
                "ms/image (steady)",
                "wall ms/image",
                "peak RSS MB",
                "x radprep 1 worker",
            ],
            rows,
        )
        t2 = table(
            ["floor (one image)", "median ms", "IQR ms"],
            floors(inputs["uncompressed"], inputs["j2k"]),
        )
        note = (
            f"radprep rows run the whole shipped recipe (3 outputs: full, roi_mask, occluded; "
            "the ROI mask file read and checked; residue and label removal; QA thumbnails). "
            "Steady ms/image: the median time of one item in a worker, divided by the workers "
            "(IQR of the per-item times); wall: the "
            f"run's wall time / {n}, start-up included (worker processes, the dataset index, "
            "the report pages). The notebook and MONAI rows time one output per image and "
            f"read no mask file (wall = steady for them). Inputs built in {built:.0f} s."
        )
        write_result("reference", f"# Reference job\n\n{machine()}\n\n{t1}\n\n{note}\n\n{t2}")
    finally:
        if not os.environ.get("RADPREP_BENCH_TMP"):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
