"""Recipe runs: the per-item job (load, steps, write) and the run around it.

The names load on first use, so that a worker process, which needs the item job only
(:mod:`radprep.jobs.process`), does not import the run around it (report, de-identification,
manifest).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"radprep.jobs.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
