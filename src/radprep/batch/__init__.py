"""Running a function over many items: serial, a process pool, or Dask; resumable; streaming.

This package knows nothing of imaging: it maps one picklable function over items and collects
what comes back, so the same work runs in a test, on a pool or on a cluster.
"""

from radprep.batch.executor import (
    EXECUTORS,
    Executor,
    Outcome,
    get_executor,
)

__all__ = ["EXECUTORS", "Executor", "Outcome", "get_executor"]
