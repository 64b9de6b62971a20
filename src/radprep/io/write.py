"""Atomic file writing: a finished file under its final name, or nothing there at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from radprep.errors import OutputError

__all__ = ["atomic_open", "atomic_write_bytes"]


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes | memoryview, *, fsync: bool = False
) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and a rename.

    A reader (or a resumed run) never sees a partial file under the final name: the bytes go to a
    hidden temporary name and the temporary file is renamed into place (``os.replace`` is atomic
    on POSIX and Windows within one file system). That survives a killed process (SIGKILL
    included: the page cache keeps what was written). `fsync` also forces the bytes to the disk
    before the rename, which only a power cut needs, at a cost of milliseconds per file.

    Raises
    ------
    OutputError
        If the folder cannot be created or the file cannot be written.
    """
    with atomic_open(path, "wb") as fh:
        fh.write(data)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def _umask() -> int:
    """The process umask (read by setting it and putting it back: POSIX has no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; on success rename it to `path`, else remove it.

    For outputs written in pieces (a streamed manifest): the final name only ever holds a
    complete file, as with :func:`atomic_write_bytes`.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise OutputError(f"{target}: cannot create the output ({e.strerror or e})") from e
    try:
        # mkstemp creates the file 0600; a finished output gets what open() would have given it
        # (0666 less the umask), so that others can read a shared dataset.
        if hasattr(os, "fchmod"):  # POSIX
            os.fchmod(fd, 0o666 & ~_umask())
        fh: IO[Any] = (
            os.fdopen(fd, "wb") if "b" in mode else os.fdopen(fd, "w", newline="", encoding="utf-8")
        )
        with fh:
            yield fh
        os.replace(tmp, target)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OutputError):
            raise
        raise OutputError(f"{target}: cannot write the output ({e.strerror or e})") from e
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
