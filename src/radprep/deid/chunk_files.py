"""Output bytes as chunks: bytes made here, and spans of the source file copied, never loaded.

A de-identified file is written as a list of chunks (:class:`Span` for a value pydicom left in
the source file, copied by the kernel with ``os.copy_file_range``), to a temporary file
hard-linked to its name, so that an existing output is never overwritten.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from radprep.errors import OutputError

__all__ = ["Chunk", "Span", "chunks_size", "same_content", "write_exclusive"]

_COPY_BLOCK = 1 << 20


@dataclass(frozen=True)
class Span:
    """`length` bytes of the source file from `offset`: copied, never loaded."""

    offset: int
    length: int


Chunk = bytes | Span


def _copy_span(src_fd: int, dst_fd: int, span: Span) -> None:
    offset, left = span.offset, span.length
    with contextlib.suppress(OSError, AttributeError):
        while left:
            n = os.copy_file_range(src_fd, dst_fd, min(left, 1 << 30), offset)
            if n <= 0:
                break
            offset += n
            left -= n
    while left:  # no copy_file_range (another OS, a file system without it): read and write
        block = os.pread(src_fd, min(left, _COPY_BLOCK), offset)
        if not block:
            raise OutputError(f"the source ended {left} bytes early while copying its pixel data")
        os.write(dst_fd, block)
        offset += len(block)
        left -= len(block)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _write_chunks(fd: int, chunks: Iterable[Chunk], source: Path | None) -> None:
    src_fd: int | None = None
    pending: list[bytes] = []
    try:
        for chunk in chunks:
            if isinstance(chunk, Span):
                if pending:
                    _write_all(fd, b"".join(pending))
                    pending = []
                if src_fd is None:
                    if source is None:
                        raise OutputError("a deferred value has no source file to copy it from")
                    src_fd = os.open(source, os.O_RDONLY)
                _copy_span(src_fd, fd, chunk)
            else:
                pending.append(chunk)
        if pending:
            _write_all(fd, b"".join(pending))
    finally:
        if src_fd is not None:
            os.close(src_fd)


def _chunk_bytes(chunks: Iterable[Chunk], source: Path | None) -> Iterable[bytes]:
    src_fd: int | None = None
    try:
        for chunk in chunks:
            if isinstance(chunk, Span):
                if src_fd is None:
                    src_fd = os.open(source, os.O_RDONLY)  # type: ignore[arg-type]
                offset, left = chunk.offset, chunk.length
                while left:
                    block = os.pread(src_fd, min(left, _COPY_BLOCK), offset)
                    if not block:
                        return
                    yield block
                    offset += len(block)
                    left -= len(block)
            else:
                yield chunk
    finally:
        if src_fd is not None:
            os.close(src_fd)


def chunks_size(chunks: Iterable[Chunk]) -> int:
    """Return the number of bytes the chunks make."""
    return sum(c.length if isinstance(c, Span) else len(c) for c in chunks)


def same_content(path: Path, chunks: list[Chunk], source: Path | None) -> bool:
    """Return True when the file at `path` holds exactly the bytes of `chunks`."""
    try:
        if path.stat().st_size != chunks_size(chunks):
            return False
        with open(path, "rb") as fh:
            for block in _chunk_bytes(chunks, source):
                if fh.read(len(block)) != block:
                    return False
            return fh.read(1) == b""
    except OSError:
        return False


_MADE: set[str] = set()  # folders this process has made or found


def write_exclusive(target: Path, chunks: list[Chunk], source: Path | None) -> bool:
    """Write `chunks` at `target` unless a file is there; return False (nothing written) if so.

    The bytes go to a temporary file in the same folder, which is then hard-linked to the final
    name: the link fails when the name exists, so two writers (processes of one run) never
    overwrite each other, and the final name only ever holds a complete file. On a file system
    without hard links the temporary file is renamed into place after a check.

    Raises
    ------
    OutputError
        If the folder cannot be created or the file cannot be written.
    """
    try:
        folder = str(target.parent)
        if folder not in _MADE:
            target.parent.mkdir(parents=True, exist_ok=True)
            _MADE.add(folder)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        except FileNotFoundError:  # the folder went away since: make it again
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise OutputError(f"{target.parent}: cannot write there ({e.strerror or e})") from e
    try:
        try:
            _write_chunks(fd, chunks, source)
        finally:
            os.close(fd)
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            if target.exists():
                return False
            os.replace(tmp, target)
        return True
    except OSError as e:
        if isinstance(e, OutputError):
            raise
        raise OutputError(f"{target}: cannot write the output ({e.strerror or e})") from e
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
