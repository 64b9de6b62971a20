"""Executors behind one interface: serial, a local process pool, Dask distributed.

Every executor streams: it submits at most ``max_in_flight`` items ahead of the results it has
handed back, so memory does not grow with the number of items. Results come back as they finish
(not in input order), each as an :class:`Outcome`; an item whose function raised is a failed
Outcome with the error's class and one-line message, and the run goes on.
"""

from __future__ import annotations

import errno
import os
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from radprep.batch.worker_process import init_worker, main_not_rerun, single_threaded
from radprep.batch.worker_process import start_forkserver as start_forkserver  # re-exported
from radprep.batch.worker_process import watch_parent as watch_parent  # re-exported
from radprep.errors import RadprepError, RadprepWarning, SpecError

__all__ = [
    "EXECUTORS",
    "DaskExecutor",
    "Executor",
    "Outcome",
    "ProcessExecutor",
    "SerialExecutor",
    "UnitFailed",
    "get_executor",
    "start_forkserver",
]

T = TypeVar("T")
R = TypeVar("R")

ExecutorName = Literal["serial", "processes", "dask"]


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """What one item gave: a value, or the error that stopped it.

    Attributes
    ----------
    ok : bool
        True when the function returned.
    value : object
        The return value (None on failure).
    error : str
        The exception class name on failure (``""`` otherwise).
    message : str
        The one-line message on failure. Errors radprep raises on purpose carry their own
        message; anything else is marked ``internal error`` with the last traceback line.
    seconds : float
        Wall time of the call in the worker.
    disk_full : bool
        True when the call failed because its output cannot be written at all (no space left,
        a read-only file system, a quota): every later item would fail the same way.
    """

    ok: bool
    value: R | None = None
    error: str = ""
    message: str = ""
    seconds: float = 0.0
    disk_full: bool = False


_DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT}


def _is_disk_full(e: BaseException) -> bool:
    return any(
        isinstance(x, OSError) and x.errno in _DISK_ERRNOS for x in (e, e.__cause__, e.__context__)
    )


class UnitFailed(RadprepError):
    """A unit of work failed: raised by a job to name the error class and the one-line
    message its failure record carries (e.g. ``RadprepWarning``, ``"x.dcm: ... (--strict)"``).
    """

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return (type(self), (self.error, str(self)))


def call_safely(fn: Callable[[T], R], item: T) -> Outcome[R]:
    """Call ``fn(item)`` and wrap what happens in an Outcome (runs inside the worker)."""
    import time

    t0 = time.perf_counter()
    try:
        value = fn(item)
    except (RadprepError, RadprepWarning) as e:
        # A RadprepWarning arrives here only as an error (--strict).
        return Outcome(
            False,
            None,
            e.error if isinstance(e, UnitFailed) else type(e).__name__,
            _one_line(str(e)),
            time.perf_counter() - t0,
            _is_disk_full(e),
        )
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # decoders raise BaseException subclasses (Rust panics)
        where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
        at = f" at {os.path.basename(where.filename)}:{where.lineno}" if where else ""
        text = _one_line(str(e))
        msg = f"internal error {type(e).__name__}{at}" + (f": {text}" if text else "")
        if _is_disk_full(e):
            msg = f"cannot write the output: {text or type(e).__name__}"
        return Outcome(
            False, None, type(e).__name__, msg, time.perf_counter() - t0, _is_disk_full(e)
        )
    return Outcome(True, value, "", "", time.perf_counter() - t0)


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 500 else flat[:497] + "..."


class Executor(ABC):
    """Map a function over items, streaming; subclasses say where the calls run."""

    name: str = ""

    def __init__(self, *, workers: int = 1, max_in_flight: int | None = None) -> None:
        if workers < 1:
            raise SpecError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.max_in_flight = max_in_flight or 2 * workers

    @abstractmethod
    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, Outcome[R]]]:
        """Yield ``(item, outcome)`` for every item, as calls finish."""

    def close(self) -> None:  # noqa: B027 - a no-op by default; pools and clients override it
        """Release workers (pools, cluster clients)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        """Return what the run record says of the executor."""
        return {"executor": self.name, "workers": self.workers}


class SerialExecutor(Executor):
    """Run every call in this process, in order (tests, debugging, one core)."""

    name = "serial"

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, Outcome[R]]]:
        for item in items:
            yield item, call_safely(fn, item)


def _bounded(
    submit: Callable[[T], Any],
    items: Iterable[T],
    limit: int,
    wait_some: Callable[[set[Any]], tuple[set[Any], set[Any]]],
    result_of: Callable[[Any], Outcome[R]],
) -> Iterator[tuple[T, Outcome[R]]]:
    """Keep at most `limit` calls in flight; yield results as they complete."""
    pending: dict[Any, T] = {}
    it = iter(items)
    exhausted = False
    while True:
        while not exhausted and len(pending) < limit:
            try:
                item = next(it)
            except StopIteration:
                exhausted = True
                break
            pending[submit(item)] = item
        if not pending:
            return
        done, _ = wait_some(set(pending))
        for fut in done:
            item = pending.pop(fut)
            yield item, result_of(fut)


class ProcessExecutor(Executor):
    """A local pool of worker processes (the default: one per core).

    Each worker limits OpenCV and BLAS to one thread, so that N workers use N cores and do not
    fight over them.
    """

    name = "processes"

    def __init__(self, *, workers: int | None = None, max_in_flight: int | None = None) -> None:
        super().__init__(workers=workers or os.cpu_count() or 1, max_in_flight=max_in_flight)
        self._pool: ProcessPoolExecutor | None = None

    def _ensure(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing as mp

            # forkserver: workers start clean (no inherited threads or open handles) yet fast.
            ctx = mp.get_context("forkserver" if os.name == "posix" else "spawn")
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=ctx,
                initializer=init_worker,
                # the environment of now, not the forkserver's (started by the first pool)
                initargs=(os.getpid(), dict(os.environ)),
            )
        return self._pool

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, Outcome[R]]]:
        def submit(item: T) -> Future[Outcome[R]]:
            # The pool starts worker processes inside submit.
            with main_not_rerun():
                try:
                    return self._ensure().submit(call_safely, fn, item)
                except BrokenProcessPool:
                    self._pool = None  # a worker died: start a fresh pool for what remains
                    return self._ensure().submit(call_safely, fn, item)

        def wait_some(futs: set[Future[Outcome[R]]]) -> tuple[set[Any], set[Any]]:
            done, rest = wait(futs, return_when=FIRST_COMPLETED)
            return set(done), set(rest)

        def result_of(fut: Future[Outcome[R]]) -> Outcome[R]:
            try:
                return fut.result()
            except BrokenProcessPool:
                return Outcome(
                    False,
                    None,
                    "WorkerDied",
                    "a worker process died while this item was in flight (out of memory, or a "
                    "crash in a native library); it is redone when the run is resumed",
                )

        yield from _bounded(submit, items, self.max_in_flight, wait_some, result_of)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskExecutor(Executor):
    """Dask distributed: an existing scheduler (``tcp://host:port``) or a LocalCluster (``local``).

    Dask is an optional extra, imported only here; without it the error names the extra.
    """

    name = "dask"

    def __init__(
        self,
        *,
        scheduler: str = "local",
        workers: int | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise SpecError(
                "--scheduler needs Dask distributed: pip install 'radprep[dask]'"
            ) from None
        self.scheduler = scheduler
        self._cluster = None
        if scheduler == "local":
            n = workers or os.cpu_count() or 1
            with main_not_rerun():
                self._cluster = LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
                )
            self._client = Client(self._cluster)
        else:
            try:
                self._client = Client(scheduler, timeout="30s")
            except OSError as e:
                raise SpecError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
        n_workers = max(1, len(self._client.scheduler_info().get("workers", {})) or (workers or 1))
        super().__init__(workers=n_workers, max_in_flight=max_in_flight)
        self._client.run(single_threaded)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, Outcome[R]]]:
        from distributed import wait as dwait

        client = self._client

        def wait_some(futs: set[Any]) -> tuple[set[Any], set[Any]]:
            res = dwait(list(futs), return_when="FIRST_COMPLETED")
            return set(res.done), set(res.not_done)

        yield from _bounded(
            # pure=False: the same item submitted twice (a resumed run) is computed again.
            lambda item: client.submit(call_safely, fn, item, pure=False),
            items,
            self.max_in_flight,
            wait_some,
            lambda fut: fut.result(),
        )

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "workers": self.workers, "scheduler": self.scheduler}


EXECUTORS: tuple[ExecutorName, ...] = ("serial", "processes", "dask")


def get_executor(
    name: str = "processes",
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    max_in_flight: int | None = None,
) -> Executor:
    """Return an executor by name.

    Parameters
    ----------
    name : {"serial", "processes", "dask"}
        Where the calls run. A `scheduler` implies ``"dask"``.
    workers : int, optional
        Worker processes (default: all cores); ``1`` with ``"processes"`` still uses a worker
        process, so that the parent stays responsive and memory is released per item.
    scheduler : str, optional
        ``tcp://host:port`` of a running Dask scheduler, or ``local`` for a LocalCluster.
    max_in_flight : int, optional
        Items submitted ahead of the results (default: twice the workers).

    Raises
    ------
    SpecError
        For an unknown name (the known ones are listed) or a missing Dask extra.
    """
    if scheduler:
        name = "dask"
    if name == "serial":
        return SerialExecutor(workers=1, max_in_flight=1)
    if name == "processes":
        return ProcessExecutor(workers=workers, max_in_flight=max_in_flight)
    if name == "dask":
        return DaskExecutor(
            scheduler=scheduler or "local", workers=workers, max_in_flight=max_in_flight
        )
    raise SpecError(f"executor {name!r} is not known; choose one of {', '.join(EXECUTORS)}")
