"""Running a function over many items: serial, a process pool, or Dask; resumable; streaming.

This package knows nothing of imaging: it maps one picklable function over items and collects
what comes back, so the same work runs in a test, on a pool or on a cluster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from radprep._lazy import lazy_exports

if TYPE_CHECKING:
    from radprep.batch.executor import EXECUTORS, Executor, Outcome, get_executor

__all__ = ["EXECUTORS", "Executor", "Outcome", "get_executor"]

# Loaded on first use: the command line starts the workers' server from
# :mod:`radprep.batch.worker_process` before it imports anything else.
__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(__all__, "executor"))
