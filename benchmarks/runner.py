"""Runner benchmark: the runner's own overhead per item, 1 vs 2 workers, memory against items.

1. Overhead: a recipe with no steps on tiny real images (MR_small, 64x64): wall time minus the
   time the jobs themselves report (load + steps + write), per item. Target: under 2 ms.
2. Throughput: `radiograph-299` on mammogram-sized 16-bit CRs (4084x3328, from the real RG1),
   1 and 2 workers. Target: 2 workers at least 1.8x one.
3. Memory: the same small recipe on N, 10N and 100N items, peak RSS of the parent and of the
   largest worker, each run in a fresh process. Target: within 10%.
Run: ``make bench`` or ``.venv/bin/python benchmarks/runner.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydicom.data import get_testdata_file

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, mammogram_sized, table, write_result
from radprep.jobs.runner import run_recipe

TINY = {
    "version": 1,
    "source": {"kind": "dicom-folder", "root": "."},
    "read": {"window": "header"},
    "outputs": {"full": {"format": "npy"}},
    "report": {"enabled": False},  # the runner alone: no QA thumbnails or pages
}


def copies(folder: Path, src: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        target = folder / f"{i:06d}.dcm"
        if not target.exists():
            os.link(src, target) if hasattr(os, "link") else shutil.copy(src, target)
    return folder


def overhead(tmp: Path, n: int, executor: str, workers: int) -> tuple[float, float]:
    data = copies(tmp / f"tiny{n}", Path(get_testdata_file("MR_small.dcm", download=False)), n)
    recipe = {**TINY, "source": {"kind": "dicom-folder", "root": str(data)}}
    out = tmp / f"out-{executor}-{workers}-{n}"
    t0 = time.perf_counter()
    res = run_recipe(
        recipe, out=out, executor=executor, workers=workers, fresh=True, progress="quiet"
    )
    wall = time.perf_counter() - t0
    run = json.loads(res.run_file.read_text())  # type: ignore[union-attr]
    job_s = sum(run["stage_seconds"].values()) / (workers if executor != "serial" else 1)
    return (wall - job_s) / n * 1000.0, wall / n * 1000.0


def throughput(tmp: Path, n: int, workers: int) -> float:
    mammo = mammogram_sized(tmp)["uncompressed"]
    data = copies(tmp / "mammo", mammo, n)
    out = tmp / f"mammo-out-{workers}"
    t0 = time.perf_counter()
    res = run_recipe(
        "radiograph-299",
        out=out,
        overrides=[f"source.root={data}"],
        workers=workers,
        fresh=True,
        progress="quiet",
    )
    assert res.ok, res.failures[:3]
    return n / (time.perf_counter() - t0)


MEM_SCRIPT = """
import resource, sys, json
from radprep.jobs.runner import run_recipe
recipe = json.loads(sys.argv[1])
run_recipe(recipe, out=sys.argv[2], workers=2, fresh=True, progress="quiet")
# VmHWM: this process's own peak (ru_maxrss would carry the launching process's over exec).
me = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"parent_mb": me / 1024, "worker_mb": kids / 1024}))
"""


def peak_memory(tmp: Path, n: int) -> dict[str, float]:
    data = copies(tmp / f"tiny{n}", Path(get_testdata_file("MR_small.dcm", download=False)), n)
    recipe = {**TINY, "source": {"kind": "dicom-folder", "root": str(data)}}
    out = tmp / f"mem-{n}"
    proc = subprocess.run(
        [sys.executable, "-c", MEM_SCRIPT, json.dumps(recipe), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="radprep-runner-"))
    try:
        rows = []
        for executor, workers in (("serial", 1), ("processes", 1), ("processes", 2)):
            over, per = overhead(tmp, 1000, executor, workers)
            rows.append([f"{executor}, {workers} worker(s)", f"{per:.2f}", f"{over:.2f}"])
        t1 = table(
            ["1000 tiny items, no steps", "wall ms / item", "runner overhead ms / item"], rows
        )

        n = 48  # enough that the pool's start-up (about a second) is a small part
        one = throughput(tmp, n, 1)
        two = throughput(tmp, n, 2)
        t2 = table(
            ["radiograph-299, 4084x3328 16-bit CR", "images/s", "vs 1 worker"],
            [["1 worker", f"{one:.1f}", "1.00"], ["2 workers", f"{two:.1f}", f"{two / one:.2f}"]],
        )

        mem = {n: peak_memory(tmp, n) for n in (300, 3000, 30000)}
        base = mem[300]
        t3 = table(
            [
                "items (2 workers)",
                "parent peak RSS MB",
                "largest worker peak RSS MB",
                "parent vs 300",
            ],
            [
                [
                    f"{n}" + ("" if n == 300 else f" ({n // 300}x)"),
                    f"{m['parent_mb']:.0f}",
                    f"{m['worker_mb']:.0f}",
                    f"{m['parent_mb'] / base['parent_mb']:.2f}",
                ]
                for n, m in mem.items()
            ],
        )
        write_result("runner", f"# Runner\n\n{machine()}\n\n{t1}\n\n{t2}\n\n{t3}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
