"""What every command shares: the console, exit codes, one-line errors."""

from __future__ import annotations

import errno
import functools
import os
import shlex
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from radprep.cli._fast import one_line_warning as _one_line_warning
from radprep.errors import InputError, OutputError, RadprepError, SpecError

if TYPE_CHECKING:
    from radprep.batch.engine import Where

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
"""Everything asked for was done."""
EXIT_FAILURES = 1
"""Some inputs failed (each listed with its reason); the others were done."""
EXIT_USAGE = 2
"""Bad command line, option or recipe: nothing was done."""
EXIT_INTERNAL = 70
"""A bug in radprep (EX_SOFTWARE); run again with --debug for the traceback and report it."""

# Options several commands share, each declared once (``name: Alias = default``).
_OUT = typer.Option("--out", "-o", help="Output folder.")
Out = Annotated[Path, _OUT]
"""``--out/-o``: the output folder."""
OptionalOut = Annotated[Path | None, _OUT]
"""``--out/-o`` where the recipe may give the folder instead."""
Workers = Annotated[int | None, typer.Option("--workers", "-j", help="Worker processes.")]
"""``--workers/-j``: worker processes."""
Scheduler = Annotated[
    str | None,
    typer.Option("--scheduler", help="Dask: tcp://host:port of a running scheduler, or 'local'."),
]
"""``--scheduler``: a Dask scheduler's address, or ``local``."""
Fresh = Annotated[bool, typer.Option("--fresh", help="Forget earlier progress; redo all.")]
"""``--fresh``: forget the ledger; redo every unit."""
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress; summary only.")]
"""``--quiet/-q`` of the commands that show progress."""
QuietSummary = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only the summary and errors.")
]
"""``--quiet/-q`` of the commands that print a line per file."""

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class State:
    """Global options set by the app callback, and the progress a command reports on SIGINT."""

    debug: bool = False
    done: int = 0
    total: int | None = None
    resume_hint: str = "run the same command again"


def started(total: int | None, *, resumable: bool) -> None:
    """Note that a batch started (for the SIGINT message): its size and how to go on."""
    State.done, State.total = 0, total
    cmd = "radprep " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "the same command"
    State.resume_hint = (
        f"resume with: {cmd}" if resumable else f"start again with: {cmd} (it redoes every item)"
    )


def tick(n: int = 1) -> None:
    """Count items finished (for the SIGINT message)."""
    State.done += n


def where_from(workers: int | None, scheduler: str | None) -> Where:
    """Where a batch command's units run: in this process unless ``-j`` or ``--scheduler``
    asks for worker processes or Dask (exit 2 for ``-j`` below 1)."""
    from radprep.batch.engine import Where

    check_workers(workers)
    if scheduler:
        return Where("dask", workers, scheduler)
    return Where("serial") if workers is None else Where("processes", workers)


def check_inputs(paths: Iterable[Path]) -> None:
    """Exit 2 before any work when an input is missing or cannot be read."""
    for p in paths:
        if not p.exists():
            raise fail(f"no such file or folder: {p}", EXIT_USAGE)
        if not os.access(p, os.R_OK | (os.X_OK if p.is_dir() else 0)):
            raise fail(f"cannot read {p}: permission denied", EXIT_USAGE)


def check_output(out: Path, inputs: Iterable[Path], *, is_file: bool = False) -> None:
    """Exit 2 before any work when the output is inside an input folder or cannot be written.

    `out` is a folder (created if needed), or a file whose folder must be writable.
    """
    target = out.resolve()
    for p in inputs:
        if p.is_dir() and (target == p.resolve() or p.resolve() in target.parents):
            raise fail(
                f"output {out} is inside the input folder {p}; inputs are never written to: "
                "choose an output elsewhere",
                EXIT_USAGE,
            )
    folder = out.parent if is_file else out
    # Nothing is created here: the nearest folder that exists must let us create what is missing.
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise fail(f"cannot write to {folder}: {existing} is not a folder", EXIT_USAGE)
    if not os.access(existing, os.W_OK | os.X_OK):
        reason = "read-only file system" if _read_only(existing) else "permission denied"
        raise fail(f"cannot write to {folder}: {reason}", EXIT_USAGE)


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def check_workers(workers: int | None) -> None:
    """Exit 2 when --workers is given and below 1."""
    if workers is not None and workers < 1:
        raise fail(f"--workers must be >= 1, got {workers}", EXIT_USAGE)


_DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}


def _disk_error(e: BaseException) -> OSError | None:
    """The OSError behind an output that could not be written (disk full, read-only), if any."""
    for err in (e, e.__cause__):
        if isinstance(err, OSError) and err.errno in _DISK_ERRNOS:
            return err
    return None


def fail(message: str, code: int) -> typer.Exit:
    """Print a one-line error and return the Exit to raise."""
    err_console.print(f"radprep: error: {message}", markup=False)
    return typer.Exit(code)


def handle_errors(fn: F) -> F:
    """Turn radprep errors into one-line messages and exit codes (tracebacks with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            # One line per warning, no source line quoted (restored when the command ends).
            warnings.showwarning = _one_line_warning
            if kwargs.get("quiet") and not State.debug:
                # -q: the summary and errors only; no library's warnings (pydicom, matplotlib).
                warnings.simplefilter("ignore")
            elif not State.debug:
                # pydicom's parser warnings are noise at the command line; ours are reported.
                warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\\..*)?")
            State.done, State.total = 0, None
            try:
                return fn(*args, **kwargs)
            except typer.Exit:
                raise
            except SpecError as e:
                _trace()
                raise fail(str(e), EXIT_USAGE) from None
            except KeyboardInterrupt:
                of = f" of {State.total}" if State.total is not None else ""
                raise fail(
                    f"interrupted: {State.done}{of} item(s) done; {State.resume_hint}", 130
                ) from None
            except (RadprepError, OSError) as e:
                _trace()
                disk = None if isinstance(e, InputError) else _disk_error(e)
                if disk is not None or isinstance(e, OutputError):
                    what = disk.strerror if disk is not None and disk.strerror else str(e)
                    where = disk.filename if disk is not None and disk.filename else None
                    msg = (
                        f"cannot write {where}: {what}; nothing more can be written there"
                        if where
                        else str(e)
                    )
                    raise fail(msg, EXIT_USAGE) from None
                if isinstance(e, RadprepError):
                    raise fail(str(e), EXIT_FAILURES) from None
                raise fail(
                    f"{e.filename or ''}: {e.strerror or e}".lstrip(": "), EXIT_USAGE
                ) from None
            except Exception as e:
                _trace()
                raise fail(
                    f"internal error {type(e).__name__}: {e} (run with --debug for the traceback, "
                    "and please report it)",
                    EXIT_INTERNAL,
                ) from None

    return wrapper  # type: ignore[return-value]


def _trace() -> None:
    if State.debug:
        traceback.print_exc(file=sys.stderr)
