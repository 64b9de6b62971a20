"""Recipe runs: the per-item job (load, steps, write) and the run around it.

The names load on first use, so that a worker process, which needs the item job only
(:mod:`radprep.jobs.process`), does not import the run around it (report, de-identification,
manifest).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from radprep._lazy import lazy_exports

if TYPE_CHECKING:
    from radprep.jobs.process import ItemJob, ProcessedItem, list_items, process_item
    from radprep.jobs.runner import RunResult, run_recipe

__all__ = ["ItemJob", "ProcessedItem", "RunResult", "list_items", "process_item", "run_recipe"]

_WHERE = {
    "ItemJob": "process",
    "ProcessedItem": "process",
    "list_items": "process",
    "process_item": "process",
    "RunResult": "runner",
    "run_recipe": "runner",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
