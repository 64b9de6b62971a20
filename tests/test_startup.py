"""Start-up of a run: what the main process and the workers import, the forkserver the workers
are forked from (started before the source is indexed, with the item job preloaded), and the
report's figures, drawn without a plotting library (its start-up took seconds at the end of
every run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

import radprep
from radprep.report.figures import label_distribution, sample_grid
from radprep.report.stats import GalleryItem

SRC = Path(radprep.__file__).parents[1]
NEVER = ("matplotlib", "SimpleITK", "torch", "dask", "distributed")  # none needed by a 2D run

_MODULES = "\nimport json, sys\nprint(json.dumps({'modules': sorted(sys.modules)}))\n"


def _fresh(code: str, env: dict[str, str] | None = None) -> dict:
    """Run `code` in a new interpreter; it prints a JSON object as its last line."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(SRC), **(env or {})},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_runner_loads_no_plotting_or_learning_library() -> None:
    found = _fresh("import radprep.jobs.runner" + _MODULES)["modules"]
    for name in NEVER:
        assert name not in found, name


def test_a_worker_loads_the_item_job_not_the_run_around_it() -> None:
    # What the forkserver imports for the workers: the job, with one thread per library.
    code = (
        "import os\nimport radprep.jobs.preload\n"
        "assert os.environ['OMP_NUM_THREADS'] == '1', os.environ['OMP_NUM_THREADS']\n" + _MODULES
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])["modules"]
    assert "radprep.jobs.process" in found and "cv2" in found
    # pyarrow too: a worker builds manifest records, the main process writes the manifest.
    run_side = ("jinja2", "pyarrow", "radprep.jobs.runner", "radprep.report.render", "radprep.deid")
    for name in (*NEVER, *run_side):
        assert name not in found, name


_RUN = r"""
import json, os, shutil, sys
from pathlib import Path
import radprep
from realfiles import CT_SMALL, testdata

tmp = Path(sys.argv[1])
root = tmp / "in"
root.mkdir()
for name in ("ct.dcm", "mr.dcm"):
    shutil.copy(testdata(CT_SMALL if name == "ct.dcm" else "MR_small.dcm"), root / name)
(tmp / "labels.csv").write_text("path,pathology\nct.dcm,BENIGN\nmr.dcm,MALIGNANT\n")
recipe = {
    "version": 1,
    "name": "startup-test",
    "source": {"kind": "dicom-folder", "root": str(root), "labels_csv": str(tmp / "labels.csv")},
    "read": {"window": "header", "frame": 0},
    "steps": [{"op": "crop_square_keep_roi"}, {"op": "resize", "size": [64, 64]}],
    "outputs": {"full": {"format": "png8"}},
}
res = radprep.run(recipe, out=tmp / "out", workers=1, progress="quiet")
# The forkserver: this process's child whose command line runs multiprocessing's forkserver.
servers = []
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
        maps = open(f"/proc/{pid}/maps").read()
    except OSError:
        continue
    if int(stat[1]) == os.getpid() and "multiprocessing.forkserver" in cmdline:
        servers.append({"cmdline": cmdline, "cv2_loaded": "cv2" in maps})
print(json.dumps({"done": res.done, "report": str(res.report), "servers": servers,
                  "modules": sorted(sys.modules)}))
"""


def test_a_run_forks_its_workers_from_a_preloaded_forkserver_and_reports_every_figure(
    tmp_path: Path,
) -> None:
    tests = str(Path(__file__).parent)
    found = _fresh(
        _RUN.replace("sys.argv[1]", repr(str(tmp_path))),
        env={"PYTHONPATH": os.pathsep.join([str(SRC), tests])},
    )
    assert found["done"] == 2
    # The workers' server imported the item job (OpenCV is mapped in it) before forking them.
    (server,) = found["servers"]
    assert "radprep.jobs.preload" in server["cmdline"] and server["cv2_loaded"]
    for name in NEVER:  # the report drew its figures without matplotlib
        assert name not in found["modules"], name
    report = Path(found["report"])
    html = report.read_text()
    figures = report.parent / "figures"
    assert sorted(p.name for p in figures.iterdir()) == ["grid.png", "labels.png"]
    for name in ("grid.png", "labels.png"):
        assert html.count(f'src="figures/{name}"') == 1
        img = cv2.imread(str(figures / name))
        assert img is not None and img.std() > 5
    # One grid row per sample, each with the original and the output: two framed images.
    grid = cv2.imread(str(figures / "grid.png"), cv2.IMREAD_GRAYSCALE)
    assert grid.shape[0] > 2 * 200 and grid.shape[1] > 2 * 200


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a 1-D array."""
    edges = np.flatnonzero(np.diff(np.r_[0, flags.astype(np.int8), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def test_label_bars_are_as_tall_as_their_counts(tmp_path: Path) -> None:
    counts = {
        "view": {
            "splits": ["train", "test"],
            "rows": [("CC", [60, 20], 80), ("MLO", [30, 0], 30), ("XCCL", [45, 15], 60)],
        }
    }
    path = label_distribution(counts, tmp_path / "labels.png")
    assert path is not None
    img = cv2.imread(str(path))[:, :, ::-1].astype(int)
    heights: dict[str, list[tuple[float, int]]] = {}
    for split, colour in (("train", (0x4C, 0x72, 0xB0)), ("test", (0xDD, 0x84, 0x52))):
        mask = np.all(img == colour, axis=2)
        mask[:40] = False  # the legend's swatches
        columns = mask.sum(axis=0)
        heights[split] = [((a + b) / 2, int(columns[a:b].max())) for a, b in _runs(columns > 0)]
    train, test = heights["train"], heights["test"]
    assert len(train) == 3 and len(test) == 2  # no bar for a zero count
    # Heights in proportion to the counts (within a pixel of rounding); bars in value order.
    unit = train[0][1] / 60
    assert unit > 1.5
    for (_, h), n in zip(train, (60, 30, 45), strict=True):
        assert abs(h - n * unit) <= 1.5, (h, n * unit)
    for (_, h), n in zip(test, (20, 15), strict=True):
        assert abs(h - n * unit) <= 1.5, (h, n * unit)
    assert train[0][0] < test[0][0] < train[1][0] < train[2][0] < test[1][0]


def test_grid_overlays_sit_where_the_roi_and_the_crop_are(tmp_path: Path) -> None:
    # An original of 2000x1200 pixels with its ROI (a disk) centred at row 1010, column 610,
    # and a crop box over rows 100-1299, all columns: the thumbnails a run writes, at 1/10 and
    # 1/20 scale.
    thumbs = tmp_path / "report" / "thumbs"
    for kind in ("source", "source-roi", "full"):
        (thumbs / kind).mkdir(parents=True)
    cv2.imwrite(str(thumbs / "source" / "a.png"), np.full((200, 120), 90, np.uint8))
    roi = np.zeros((100, 60), np.uint8)
    cv2.circle(roi, (30, 50), 6, 255, -1)
    cv2.imwrite(str(thumbs / "source-roi" / "a.png"), roi)
    cv2.imwrite(str(thumbs / "full" / "a.png"), np.full((64, 64), 140, np.uint8))
    item = GalleryItem(
        sample_id="a",
        split="train",
        labels={"pathology": "BENIGN"},
        thumbs={k: f"report/thumbs/{k}/a.png" for k in ("source", "source-roi", "full")},
        source_shape=(2000, 1200),
        boxes=[("full", [100.0, 0.0, 1299.0, 1199.0])],
    )
    path = sample_grid(
        tmp_path, [item], {"mask": None, "processed": "full", "occluded": None}, tmp_path / "g.png"
    )
    assert path is not None
    img = cv2.imread(str(path))[:, :, ::-1].astype(int)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    ys, xs = np.nonzero((r > 200) & (g > 170) & (b < 60))  # the crop box
    red_y, red_x = np.nonzero((r > 200) & (g < 90) & (b < 90))  # the ROI contour
    assert len(ys) and len(red_y)
    # Shown pixels back to the original's, through the box (rows 100-1299, columns 0-1199).
    row = 100 + (red_y.mean() - ys.min()) / (ys.max() - ys.min()) * 1200
    col = (red_x.mean() - xs.min()) / (xs.max() - xs.min()) * 1200
    assert abs(row - 1010) < 30 and abs(col - 610) < 30, (row, col)
    # The contour is the disk's outline: about 6 / 60 of the width across (radius 120 px).
    assert abs((red_x.max() - red_x.min()) / (xs.max() - xs.min()) * 1200 - 250) < 60


def test_a_source_kind_loads_its_own_module_only() -> None:
    code = (
        "from radprep.pipeline.spec import load_recipe\n"
        "from radprep.datasets.sources import get_source, known_sources\n"
        "recipe, _ = load_recipe('cbis-ddsm-299')\n"
        "assert get_source(recipe.source.kind)[0].__module__ == 'radprep.datasets.cbis_ddsm'\n"
        "import sys, json\n"
        "before = sorted(sys.modules)\n"
        "kinds = known_sources()\n"
        "print(json.dumps({'modules': before, 'kinds': kinds}))\n"
    )
    found = _fresh(code)
    others = ("series_source", "file_list", "dicomweb")
    for name in others:
        assert f"radprep.datasets.{name}" not in found["modules"], name
    # Listing the kinds still finds every built-in source.
    assert found["kinds"] == ["cbis-ddsm", "dicom-folder", "dicomweb", "file-list", "series-folder"]
