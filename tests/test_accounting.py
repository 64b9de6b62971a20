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
