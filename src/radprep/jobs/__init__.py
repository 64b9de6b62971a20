"""Recipe runs: the per-item job (load, steps, write) and the run around it."""

from radprep.jobs.process import ItemJob
from radprep.jobs.runner import RunResult, run_recipe

__all__ = ["ItemJob", "RunResult", "run_recipe"]
