"""Where a small run's wall time goes: `radprep run cbis-ddsm-299` on 9 images, 1 worker.

Each repeat runs the real program (its console-script entry, ``radprep.cli.app.entry``) as a
fresh process, timed from just before the process starts to the moment the caller's pipes
close (the workers' server holds them too, so its end counts). Phases, seconds from the start:
when the command-line framework, the command's module and the runner begin to import (an
import hook notes them), when the first and the last output files, the manifest, the run's
records and the report's page are written (their modification times), and the end. Medians over the
repeats, with the load average of the machine at the end (it is shared: compare runs made
together). Run: ``.venv/bin/python benchmarks/startup.py [--repeat 5] [--report off]``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import compile_radprep, machine, table, write_result
from cbis_inputs import build_replicated

# Runs the program in a fresh interpreter; an import hook notes when some modules start loading.
BOOT = r"""
import importlib.abc, json, os, sys, time
T0 = float(os.environ["RADPREP_BENCH_T0"])
marks = {}
WATCH = {"typer": "command-line framework", "radprep.cli.run": "command module",
         "radprep.jobs.runner": "runner"}
class Note(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name in WATCH and WATCH[name] not in marks:
            marks[WATCH[name]] = time.time() - T0
        return None
sys.meta_path.insert(0, Note())
import atexit
atexit.register(lambda: open(os.environ["RADPREP_BENCH_MARKS"], "w").write(json.dumps(marks)))
sys.argv = ["radprep", *sys.argv[1:]]
from radprep.cli.app import entry
entry()
"""
ORDER = [
    "command-line framework",
    "command module",
    "runner",
    "first output",
    "last output",
    "manifest",
    "run record",
    "report",
    "end (pipes closed)",
]


def _one_run(out: Path, root: Path, report: str) -> dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)  # no file of an earlier run taken for this one's
    marks_file = out.with_suffix(".marks.json")
    t0 = time.time()
    env = {**os.environ, "RADPREP_BENCH_T0": repr(t0), "RADPREP_BENCH_MARKS": str(marks_file)}
    cmd = [sys.executable, "-c", BOOT, "run", "cbis-ddsm-299", "--set", f"source.root={root}"]
    cmd += ["--set", f"report.enabled={report}", "-o", str(out), "-j", "1", "--fresh", "-q"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    end = time.time() - t0
    if done.returncode:
        sys.exit(done.stderr.strip().splitlines()[-1])
    marks = json.loads(marks_file.read_text())
    written = sorted(os.path.getmtime(p) - t0 for p in glob.glob(f"{out}/full/*.png"))
    marks |= {"first output": written[0], "last output": written[-1]}
    # run.json is written again once the report is done (its phase_seconds): inputs.jsonl,
    # written just before its first version, marks the end of the run's records.
    for name, rel in (("manifest", "manifest.parquet"), ("run record", "inputs.jsonl")):
        marks[name] = os.path.getmtime(out / rel) - t0
    if (out / "report" / "index.html").exists():
        marks["report"] = os.path.getmtime(out / "report" / "index.html") - t0
    marks["end (pipes closed)"] = end
    return marks


def main() -> None:
    compile_radprep()
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--report", choices=("on", "off"), default="on")
    args = parser.parse_args()
    tmp = Path(os.environ.get("RADPREP_BENCH_TMP") or tempfile.mkdtemp(prefix="radprep-startup-"))
    root = build_replicated(tmp, 9)
    report = "true" if args.report == "on" else "false"
    runs = [_one_run(tmp / f"out-{k}", root, report) for k in range(args.repeat)]
    load = os.getloadavg()
    rows = []
    previous = 0.0
    for name in ORDER:
        if not all(name in r for r in runs):
            continue
        at = statistics.median(r[name] for r in runs)
        rows.append([name, f"{at:.2f}", f"{at - previous:+.2f}"])
        previous = at
    text = (
        f"# Start-up of a 9-image run, phase by phase (report {args.report})\n\n{machine()}; "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) at the "
        f"end; median of {args.repeat} runs, each a fresh process, 1 worker.\n\n"
        + table(["phase (begins or is written)", "at s", "since the row above"], rows)
        + "\n\nTimes count from just before the process starts (Python's own start included); "
        "the workers' server starts first thing and imports the item job on the other core."
    )
    write_result(f"startup-report-{args.report}", text)


if __name__ == "__main__":
    main()
