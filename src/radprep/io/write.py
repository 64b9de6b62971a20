"""Atomic file writing: a finished file under its final name, or nothing there at all."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from radprep.errors import OutputError

__all__ = ["atomic_link_or_write", "atomic_open", "atomic_write_bytes"]

# Temporary names: ``.<name>.<pid>-<n><token>.tmp`` beside the target (the batch engine sweeps
# ``.<name>.*.tmp`` a killed run left). The process id and a counter make a name no other
# process on this machine uses; the random token, one per import, keeps processes of other
# machines sharing the folder apart; O_EXCL makes sure: a name that exists is never reused.
_COUNTER = itertools.count()
_TOKEN = os.urandom(4).hex()
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_CREATE |= getattr(os, "O_BINARY", 0)  # Windows: no newline translation


def _temp_name(target: Path) -> str:
    """A fresh temporary name in `target`'s folder (not created)."""
    return os.path.join(target.parent, f".{target.name}.{os.getpid()}-{next(_COUNTER)}{_TOKEN}.tmp")


def _create_temp(target: Path) -> tuple[int, str]:
    """Create a new, empty temporary file beside `target`, making its folder when missing.

    The file is created with mode 0o666, which the process umask (and a default ACL of the
    folder) then narrows, as for any file ``open()`` creates: a finished output can be read
    by whoever may read the folder's other files. One system call in the usual case.
    """
    for attempt in itertools.count():
        tmp = _temp_name(target)
        try:
            return os.open(tmp, _CREATE, 0o666), tmp
        except FileExistsError:
            if attempt > 100:
                raise
        except FileNotFoundError:
            if attempt > 2:
                raise
            target.parent.mkdir(parents=True, exist_ok=True)
    raise AssertionError("unreachable")  # pragma: no cover


def _discard(tmp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _output_error(target: Path, e: OSError, what: str) -> OutputError:
    if isinstance(e, OutputError):
        return e
    return OutputError(f"{target}: cannot {what} the output ({e.strerror or e})")


@contextlib.contextmanager
def _replacing(target: Path) -> Iterator[int]:
    """A new temporary file beside `target`, as a descriptor the block must close: renamed to
    `target` when the block ends normally, removed when it raises."""
    try:
        fd, tmp = _create_temp(target)
    except OSError as e:
        raise _output_error(target, e, "create") from e
    try:
        yield fd
        os.replace(tmp, target)
    except OSError as e:
        _discard(tmp)
        raise _output_error(target, e, "write") from e
    except BaseException:
        _discard(tmp)
        raise


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes | memoryview, *, fsync: bool = False
) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and a rename.

    A reader (or a resumed run) never sees a partial file under the final name: the bytes go to a
    hidden temporary name and the temporary file is renamed into place (``os.replace`` is atomic
    on POSIX and Windows within one file system). That survives a killed process (SIGKILL
    included: the page cache keeps what was written). `fsync` also forces the bytes to the disk
    before the rename, which only a power cut needs, at a cost of milliseconds per file.
    The file gets the mode ``open()`` would give it (0o666 less the umask).

    Raises
    ------
    OutputError
        If the folder cannot be created or the file cannot be written.
    """
    target = Path(path)
    with _replacing(target) as fd:
        try:
            view = memoryview(data).cast("B")
            while view:
                view = view[os.write(fd, view) :]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
    return target


def atomic_link_or_write(
    path: str | os.PathLike[str], source: str | os.PathLike[str], data: bytes | memoryview
) -> Path:
    """Give `path` the finished file `source` (whose bytes are `data`), atomically.

    A hard link to `source` under a temporary name, renamed into place: no second copy of the
    bytes is written or stored. Where the file system has no hard links (or `source` is on
    another one), `data` is written instead, as :func:`atomic_write_bytes` does. Either way
    `path` holds `data`; a later atomic rewrite of `source` (a new file renamed over it) leaves
    `path` as it was.

    Raises
    ------
    OutputError
        If the folder cannot be created or the file cannot be written.
    """
    target = Path(path)
    for attempt in range(2):
        tmp = _temp_name(target)
        try:
            os.link(source, tmp)
        except FileNotFoundError:
            if attempt or not Path(source).is_file():
                break
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise _output_error(target, e, "create") from e
            continue
        except (OSError, NotImplementedError):
            break  # no links here (EXDEV, EPERM, EMLINK, ENOTSUP...): write the bytes
        try:
            os.replace(tmp, target)
        except OSError:
            _discard(tmp)
            break
        except BaseException:
            _discard(tmp)
            raise
        # POSIX rename does nothing when both names are links to one file (`path` was linked
        # to `source` already, by an earlier run): the temporary name is then still there.
        _discard(tmp)
        return target
    return atomic_write_bytes(target, data)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; on success rename it to `path`, else remove it.

    For outputs written in pieces (a streamed manifest): the final name only ever holds a
    complete file, as with :func:`atomic_write_bytes`.
    """
    with _replacing(Path(path)) as fd:
        try:
            fh: IO[Any] = (
                os.fdopen(fd, "wb")
                if "b" in mode
                else os.fdopen(fd, "w", newline="", encoding="utf-8")
            )
        except BaseException:
            os.close(fd)
            raise
        with fh:
            yield fh
