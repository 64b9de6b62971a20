"""What a worker process of a pool or a Dask cluster needs: start it without re-running a
piped ``__main__``, give it the parent's environment and one thread per library, and end it
with the main process."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence

__all__ = [
    "FORKSERVER_ENV",
    "init_worker",
    "main_not_rerun",
    "single_threaded",
    "start_forkserver",
    "watch_parent",
]


@contextlib.contextmanager
def main_not_rerun() -> Iterator[None]:
    """Start worker processes without re-running ``__main__`` when it is not a file.

    A spawned or forkserver worker re-runs the parent's main script from its path; for code
    piped to ``python -`` that path is ``<stdin>`` and every worker dies at start. Functions and
    classes defined there reach the workers by value (cloudpickle), so the workers need not run
    it. Hidden only while processes start.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or getattr(main, "__spec__", None) or os.path.isfile(path):
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


FORKSERVER_ENV = "_RADPREP_FORKSERVER"
"""Set to ``1`` in the forkserver's environment only: :mod:`radprep.jobs.preload` then lets it
end without the interpreter's teardown."""


def start_forkserver(preload: Sequence[str] = ()) -> None:
    """Start the forkserver the process pools fork their workers from, now, with `preload`.

    The forkserver is a fresh interpreter that imports `preload` (module names) once; every
    worker is then forked from it with those modules loaded. Started at the beginning of a run,
    those imports (a second or more for the item job's libraries) proceed on another core while
    the main process reads the recipe and indexes the source, instead of after it, in each
    worker. Returns at once; a pool's first worker waits for the imports to finish. Does nothing
    where there is no forkserver (Windows) or when it is already running (its preload is fixed
    then). This module imports nothing heavy, so the command line can call it first thing.
    """
    if os.name != "posix":
        return
    import multiprocessing as mp
    from multiprocessing import forkserver

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["__main__", *preload])  # __main__: multiprocessing's default
    os.environ[FORKSERVER_ENV] = "1"  # what the server starts with; not kept here
    try:
        with main_not_rerun():
            forkserver.ensure_running()
    finally:
        os.environ.pop(FORKSERVER_ENV, None)


def init_worker(main_pid: int, environ: dict[str, str] | None = None) -> None:
    """Worker initialiser: the parent's environment, one thread per library, and end with the
    main process.

    A forkserver worker inherits the environment the forkserver had when the first pool of the
    process started; credentials or endpoints set since (``AWS_*``, ``RADPREP_*``) would be
    missing, so the parent's current environment is passed and set here.
    """
    if environ is not None:
        os.environ.clear()
        os.environ.update(environ)
    single_threaded()
    watch_parent(main_pid)


def watch_parent(main_pid: int, interval_s: float = 0.5) -> None:
    """End this process when `main_pid` dies, ``kill -9`` included.

    A pool worker's parent is the forkserver, not the main process, so the kernel's parent-death
    signal (``prctl(PR_SET_PDEATHSIG)``, set too where Linux offers it) is not enough on its own:
    a daemon thread polls the main process and exits hard when it is gone, whatever the worker is
    busy with.
    """
    import signal
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass

    def alive() -> bool:
        try:
            os.kill(main_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover - the pid was reused by another user
            return False
        return True

    def watch() -> None:
        while alive():
            time.sleep(interval_s)
        os._exit(1)

    threading.Thread(target=watch, name="radprep-parent-watch", daemon=True).start()


def single_threaded() -> None:
    """Worker initialiser: one thread per library, one worker per core."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - opencv is a dependency
        pass
