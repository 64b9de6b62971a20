"""Atomic writes: a complete file under the final name or none; temporaries the sweep finds;
hard links for a second name of the same bytes, and the bytes written where links fail."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from radprep.batch.engine import clean_temporaries
from radprep.errors import OutputError
from radprep.io import write
from radprep.io.write import atomic_link_or_write, atomic_open, atomic_write_bytes


def test_a_write_makes_its_folders_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c.png"
    assert atomic_write_bytes(target, b"one") == target
    atomic_write_bytes(target, memoryview(b"two!"))  # over an existing file
    assert target.read_bytes() == b"two!"
    assert sorted(p.name for p in target.parent.iterdir()) == ["c.png"]


def test_a_taken_temporary_name_is_never_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process's temporary file under the name this one would pick first: O_EXCL
    # refuses it, the next name is taken, and the other file is left alone.
    target = tmp_path / "x.bin"
    names = iter([str(tmp_path / ".x.bin.other.tmp"), str(tmp_path / ".x.bin.mine.tmp")])
    monkeypatch.setattr(write, "_temp_name", lambda t: next(names))
    (tmp_path / ".x.bin.other.tmp").write_bytes(b"theirs")
    atomic_write_bytes(target, b"mine")
    assert target.read_bytes() == b"mine"
    assert (tmp_path / ".x.bin.other.tmp").read_bytes() == b"theirs"


def test_a_failed_write_leaves_neither_file(tmp_path: Path) -> None:
    target = tmp_path / "m.csv"
    with pytest.raises(RuntimeError), atomic_open(target, "w") as fh:
        fh.write("half")
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_bytes(b"")  # a folder that is a file
    with pytest.raises(OutputError, match=r"x\.bin: cannot create the output"):
        atomic_write_bytes(tmp_path / "file" / "x.bin", b"")


_KILLED = """
import sys, time
from radprep.io.write import atomic_open
with atomic_open(sys.argv[1]) as fh:
    fh.write(b"partial")
    fh.flush()
    print("writing", flush=True)
    time.sleep(60)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_writer_leaves_only_a_temporary_the_sweep_removes(tmp_path: Path) -> None:
    target = tmp_path / "out" / "full" / "s.png"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED, str(target)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert not target.exists()
    left = list(target.parent.iterdir())
    assert len(left) == 1 and left[0].name.startswith(".s.png.") and left[0].suffix == ".tmp"
    assert left[0].read_bytes() == b"partial"
    assert clean_temporaries(tmp_path / "out") == 1
    assert list(target.parent.iterdir()) == []


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_a_link_and_its_fallback_follow_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mask: int
) -> None:
    old = os.umask(mask)
    try:
        source = atomic_write_bytes(tmp_path / "full" / "s.png", b"png bytes")
        linked = atomic_link_or_write(tmp_path / "thumbs" / "full" / "s.png", source, b"png bytes")
        monkeypatch.setattr(os, "link", _no_links)
        written = atomic_link_or_write(tmp_path / "thumbs" / "f2" / "s.png", source, b"png bytes")
    finally:
        os.umask(old)
    for p in (source, linked, written):
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE((tmp_path / "thumbs" / "f2").stat().st_mode) == 0o777 & ~mask


def _no_links(*args: object, **kwargs: object) -> None:
    raise OSError(errno.EXDEV, "Invalid cross-device link")


def test_a_second_name_is_a_hard_link_that_outlives_a_rewrite(tmp_path: Path) -> None:
    source = atomic_write_bytes(tmp_path / "full" / "s.png", b"first")
    thumb = atomic_link_or_write(tmp_path / "report" / "thumbs" / "s.png", source, b"first")
    assert thumb.read_bytes() == b"first"
    assert thumb.stat().st_ino == source.stat().st_ino and source.stat().st_nlink == 2
    # Linked again (a resumed run): replaced atomically, still one inode.
    atomic_link_or_write(thumb, source, b"first")
    assert thumb.stat().st_ino == source.stat().st_ino and source.stat().st_nlink == 2
    # The output rewritten (a new file renamed over it): the thumbnail keeps what it showed.
    atomic_write_bytes(source, b"second")
    assert thumb.read_bytes() == b"first" and source.read_bytes() == b"second"
    assert [p.name for p in thumb.parent.iterdir()] == ["s.png"]


def test_where_links_fail_the_bytes_are_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = atomic_write_bytes(tmp_path / "s.png", b"bytes")
    monkeypatch.setattr(os, "link", _no_links)
    thumb = atomic_link_or_write(tmp_path / "t" / "s.png", source, b"bytes")
    assert thumb.read_bytes() == b"bytes" and thumb.stat().st_ino != source.stat().st_ino
    monkeypatch.undo()
    # A source that is gone: the bytes given are written.
    missing = atomic_link_or_write(tmp_path / "t" / "m.png", tmp_path / "gone.png", b"own")
    assert missing.read_bytes() == b"own"
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["m.png", "s.png"]


def test_temporary_names_differ_between_processes(tmp_path: Path) -> None:
    # Forked workers share the counter and token they inherited; the process id tells them
    # apart.
    target = tmp_path / "x"
    names = {write._temp_name(target) for _ in range(3)}
    if hasattr(os, "fork"):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover (the child)
            os.write(w, write._temp_name(target).encode())
            os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        with os.fdopen(r) as fh:
            names.add(fh.read())
    assert len(names) == (4 if hasattr(os, "fork") else 3)
    assert all(Path(n).name.startswith(".x.") and n.endswith(".tmp") for n in names)
