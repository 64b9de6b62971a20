"""What a run's worker processes load before their first item.

The forkserver the workers are forked from imports this module once, at the start of the run
(:func:`radprep.batch.executor.start_forkserver`), so that every worker starts with the item job's
libraries loaded: one thread per numerical library first (as each worker sets it), then the job.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import radprep.jobs.process  # noqa: E402, F401  (the job, its readers, steps and writers)
