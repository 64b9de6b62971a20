"""Every input accounted for: file modes, worker lifetimes, batch records and exit codes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from radprep.io.write import atomic_open, atomic_write_bytes


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_atomic_outputs_follow_the_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        a = atomic_write_bytes(tmp_path / "sub" / "a.bin", b"x")
        with atomic_open(tmp_path / "sub" / "b.txt", "w") as fh:
            fh.write("y")
    finally:
        os.umask(old)
    for p in (a, tmp_path / "sub" / "b.txt"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE((tmp_path / "sub").stat().st_mode) == 0o777 & ~mask


_ORPHAN_SCRIPT = """
import time
from radprep.run.executor import ProcessExecutor
pool = ProcessExecutor(workers=2)._ensure()
busy = [pool.submit(time.sleep, 60.0) for _ in range(4)]
while len(pool._processes) < 2:
    time.sleep(0.05)
time.sleep(1.0)
print(" ".join(str(p) for p in pool._processes), flush=True)
busy[0].result()
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to see the workers")
def test_workers_end_when_the_main_process_is_killed_9(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_SCRIPT], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2 and all(_alive(p) for p in pids)  # busy sleeping 60 s
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids), "workers outlived the killed main process"
