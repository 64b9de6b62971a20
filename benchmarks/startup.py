"""Where a small run's wall time goes: the phases of `cbis-ddsm-299` on 9 images, 1 worker.

Each repeat is a fresh process that imports the command's modules, runs the recipe and stamps
the phases as they end: the runner's imports, the recipe and the source's index, the first and
the last item back from the worker (the worker's start, its imports and the first item are in
"first item"), the run record (manifest, logs, run.json), the report. Medians over the repeats,
with the load average of the machine at the end (it is shared: compare runs made together).

``--early`` starts the workers' server before the runner's imports, as the ``run`` command could
(the imports of the main process and of the server then overlap). Run:
``.venv/bin/python benchmarks/startup.py [--repeat 5] [--report off] [--early]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, table, write_result
from cbis_inputs import build_replicated

# Runs in a fresh interpreter: argv = out, root, report on/off. Prints the phases as JSON.
PHASES = r"""
import importlib, json, sys, time
T0 = time.perf_counter()
marks = {}
def mark(name):
    marks.setdefault(name, time.perf_counter() - T0)
if __name__ == "__main__":
    import radprep.cli.app
    for name in ("radprep.batch.executor", "radprep.run.executor"):  # after / before a rename
        try:
            E = importlib.import_module(name)
            break
        except ImportError:
            continue
    if sys.argv[4] == "early":  # the workers' server started before the runner's imports
        E.start_forkserver(["radprep.jobs.preload"])
    import radprep.jobs.runner
    mark("imports")
    R = radprep.jobs.runner
    try:
        import radprep.jobs.run_plan as P  # where the run's plan indexes the source
    except ImportError:
        P = R
    enumerate_of = P.get_source
    def get_source(kind):
        enum, load = enumerate_of(kind)
        def timed(*a, **k):
            found = enum(*a, **k)
            mark("recipe and index")
            return found
        return timed, load
    P.get_source = get_source
    map_of = E.ProcessExecutor.map
    def pmap(self, fn, items):
        for x in map_of(self, fn, items):
            mark("first item")
            yield x
        mark("last item")
    E.ProcessExecutor.map = pmap
    report_of = R.build_report
    def build_report(out):
        mark("run record")
        path = report_of(out)
        mark("report")
        return path
    R.build_report = build_report
    R.run_recipe("cbis-ddsm-299", out=sys.argv[1], overrides=[f"source.root={sys.argv[2]}",
                 f"report.enabled={sys.argv[3]}"], workers=1, fresh=True, progress="quiet")
    mark("run record")
    mark("report")
    mark("exit")
    print(json.dumps(marks))
"""
ORDER = ["imports", "recipe and index", "first item", "last item", "run record", "report"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--report", choices=("on", "off"), default="on")
    parser.add_argument(
        "--early",
        action="store_true",
        help="start the workers' server before importing the runner (as the command could)",
    )
    args = parser.parse_args()
    tmp = Path(os.environ.get("RADPREP_BENCH_TMP") or tempfile.mkdtemp(prefix="radprep-startup-"))
    root = build_replicated(tmp, 9)
    runs = []
    for k in range(args.repeat):
        report = "true" if args.report == "on" else "false"
        early = "early" if args.early else "in-run"
        cmd = [sys.executable, "-c", PHASES, str(tmp / f"out-{k}"), str(root), report, early]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(done.stderr.strip().splitlines()[-1])
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    load = os.getloadavg()
    rows = []
    previous = 0.0
    for name in ORDER:
        at = statistics.median(r[name] for r in runs)
        rows.append([name, f"{at:.2f}", f"{at - previous:.2f}"])
        previous = at
    text = (
        f"# Start-up of a 9-image run, phase by phase (report {args.report}"
        + (", workers' server started before the imports" if args.early else "")
        + f")\n\n{machine()}; "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) at the "
        f"end; median of {args.repeat} runs, each a fresh process, 1 worker.\n\n"
        + table(["phase ends", "at s", "phase s"], rows)
        + "\n\nThe process's own start (Python, before the first import) is not in these "
        "times; the reference benchmark's start-up (t9 - 9 x marginal) includes it."
    )
    write_result(f"startup-report-{args.report}" + ("-early" if args.early else ""), text)


if __name__ == "__main__":
    main()
