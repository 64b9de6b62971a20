"""What a run's worker processes load before their first item.

The forkserver the workers are forked from imports this module once, at the start of the run
(:func:`radprep.batch.worker_process.start_forkserver`), so that every worker starts with the
item job's libraries loaded: one thread per numerical library first (as each worker sets it),
then the job, and the installed plugins (found by a scan of every package's metadata, which
each worker would otherwise repeat before its first item).

The forkserver ends when the main process does. It holds nothing to flush or close, so it
leaves without the interpreter's teardown of those libraries (0.2 s or more): a caller that
reads the run's output through pipes waits for every process holding them, the forkserver
included.
"""

import atexit
import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# What the first item would load otherwise: numpy's numpy.ma (np.unique asks for it) and
# numpy.random (the steps' generators), and resource (the job reads its peak memory).
import resource  # noqa: E402, F401

import numpy.ma  # noqa: E402
import numpy.random  # noqa: E402, F401

import radprep.jobs.process  # noqa: E402, F401  (the job, its readers, steps and writers)
from radprep.batch.worker_process import FORKSERVER_ENV  # noqa: E402
from radprep.plugins import load_entry_points  # noqa: E402

load_entry_points()


def _quick_exit() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# Set for the forkserver only (:func:`radprep.batch.worker_process.start_forkserver`); its
# workers get the main process's environment (:func:`radprep.batch.worker_process.init_worker`).
if os.environ.pop(FORKSERVER_ENV, None) == "1":
    atexit.register(_quick_exit)
