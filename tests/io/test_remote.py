"""The fetch spool: files left by killed workers are swept by the next run's first fetch."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from radprep.io import remote


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_unreaped_worker_counts_as_gone(tmp_path: Path, monkeypatch) -> None:
    # A SIGKILLed worker is a zombie until its parent (or init) reaps it; a resumed run's first
    # worker can start inside that window, and must still sweep the zombie's spool files.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert remote._pid_alive(child.pid)
        child.kill()
        deadline = time.time() + 10
        while _state(child.pid) != "Z" and time.time() < deadline:
            time.sleep(0.01)
        assert _state(child.pid) == "Z"  # killed, not yet reaped
        assert not remote._pid_alive(child.pid)

        left = tmp_path / f"{remote._SPOOL_PREFIX}{child.pid}-abc.dcm"
        left.write_bytes(b"x")
        mine = tmp_path / f"{remote._SPOOL_PREFIX}{os.getpid()}-def.dcm"
        mine.write_bytes(b"x")
        monkeypatch.setenv("RADPREP_TMPDIR", str(tmp_path))
        monkeypatch.setattr(remote, "_SWEPT", set())
        new = Path(remote.spool_file(".dcm"))
        assert not left.exists()  # the dead worker's copy is swept
        assert mine.exists() and new.exists()  # a live process's files are left alone
    finally:
        child.wait()
    assert not remote._pid_alive(child.pid)
