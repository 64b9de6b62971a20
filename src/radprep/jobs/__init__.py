"""Recipe runs: the per-item job (load, steps, write) and the run around it."""

from radprep.jobs.process import ItemJob, ProcessedItem, list_items, process_item
from radprep.jobs.runner import RunResult, run_recipe

__all__ = ["ItemJob", "ProcessedItem", "RunResult", "list_items", "process_item", "run_recipe"]
