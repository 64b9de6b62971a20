"""How the command line starts a run's workers and ends: the workers' server started before
the command-line framework loads, and the end without the interpreter's teardown (exit code,
printed lines and the atexit work all kept)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import radprep
from radprep.batch import worker_process
from radprep.cli import _fast
from realfiles import CT_SMALL, testdata

SRC = Path(radprep.__file__).parents[1]


@pytest.mark.parametrize(
    ("argv", "started"),
    [
        (["run", "cbis-ddsm-299"], True),
        (["--debug", "run", "recipe.yaml", "-j", "2"], True),
        (["demo", "--out", "x"], True),
        (["run", "recipe.yaml", "--serial"], False),
        (["run", "recipe.yaml", "--scheduler=tcp://127.0.0.1:8786"], False),
        (["run", "recipe.yaml", "--scheduler", "local"], False),
        (["run", "--help"], False),
        (["validate", "recipe.yaml"], False),
        (["deid", "in", "out"], False),
        ([], False),
    ],
)
def test_the_workers_server_starts_early_for_pool_runs_only(
    argv: list[str], started: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(worker_process, "start_forkserver", lambda pre: calls.append(list(pre)))
    assert _fast.start_workers_early(argv) is started
    assert calls == ([["radprep.jobs.preload"]] if started else [])


def _callbacks_after_preload(env: dict[str, str]) -> int:
    code = (
        "import atexit\nn = atexit._ncallbacks()\nimport os, radprep.jobs.preload\n"
        "from radprep.batch.worker_process import FORKSERVER_ENV\n"
        "assert FORKSERVER_ENV not in os.environ\n"
        "print(atexit._ncallbacks() - n)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(SRC), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split()[-1])


def test_only_the_forkserver_skips_the_teardown() -> None:
    # The flag start_forkserver gives the server: its preload ends it with os._exit, after the
    # atexit functions registered before (none of the server's own work is pending then).
    plain = _callbacks_after_preload({})
    flagged = _callbacks_after_preload({worker_process.FORKSERVER_ENV: "1"})
    assert flagged == plain + 1
    assert worker_process.FORKSERVER_ENV not in os.environ  # not kept in this process


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    tests = str(Path(__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), tests])}
    return subprocess.run(
        [sys.executable, "-m", "radprep.cli.app", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_a_run_ends_with_its_exit_code_and_every_line_printed(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(testdata(CT_SMALL), root / "ct.dcm")
    data = testdata(CT_SMALL).read_bytes()
    (root / "cut.dcm").write_bytes(data[: len(data) - 50_000])  # ends inside its pixel data
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "version: 1\nname: exit-test\n"
        f"source: {{kind: dicom-folder, root: {root}}}\n"
        "read: {window: header}\n"
        "steps: [{op: resize, size: [32, 32]}]\n"
        "outputs: {full: {format: png8}}\n"
    )
    done = _cli(["run", str(recipe), "-o", str(tmp_path / "out"), "-j", "1", "-q"], tmp_path)
    # One file done, one failed: exit code 1, the summary and the failure said in full.
    assert done.returncode == 1, done.stderr[-2000:]
    assert "2 file(s) found: 1 done, 1 failed, 0 skipped" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith("failures:")
    assert "cut.dcm" in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "out" / "run.json").is_file()
    assert (tmp_path / "out" / "report" / "index.html").is_file()


def test_a_usage_error_keeps_its_code(tmp_path: Path) -> None:
    done = _cli(["run", str(tmp_path / "missing.yaml"), "-o", str(tmp_path / "o")], tmp_path)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "missing.yaml" in done.stderr and "Traceback" not in done.stderr


def test_atexit_functions_still_run_before_the_end(tmp_path: Path) -> None:
    # What the interpreter's exit would do first is done: a registered function runs, and what
    # it prints reaches the pipe.
    marker = tmp_path / "atexit.txt"
    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))\n"
        "atexit.register(lambda: print('said at exit'))\n"
        "sys.argv = ['radprep', 'recipes']\n"
        "from radprep.cli.app import entry\nentry()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert marker.read_text() == "ran"
    assert done.stdout.rstrip().endswith("said at exit")
    assert "cbis-ddsm-299" in done.stdout
