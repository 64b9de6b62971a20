"""One item of a recipe run: load, shared steps, each output's steps, write atomically.

:class:`ItemJob` is a small picklable callable: what crosses to a worker process or a Dask
worker is the recipe's JSON and the output folder; each worker builds the pipeline once.
:func:`process_item` is the same work without the writing, for engines radprep does not drive
(Ray Data ``map_batches``, Spark ``mapPartitions``): an item in, arrays and records out.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np

from radprep.datasets.sources import Item, get_source
from radprep.errors import RadprepWarning
from radprep.export.writers import get_writer
from radprep.io.write import atomic_write_bytes
from radprep.jobs.outputs import item_outputs, make_record, output_path
from radprep.pipeline.build import Pipeline
from radprep.pipeline.spec import Recipe, load_recipe, recipe_hash
from radprep.report.thumbs import item_report
from radprep.sample import Sample

__all__ = [
    "ItemJob",
    "ProcessedItem",
    "list_items",
    "make_record",
    "output_path",
    "peak_rss_mb",
    "process_item",
]

Built = tuple[Recipe, Pipeline, Callable[[Item, Any], Sample]]
_CACHE: dict[str, Built] = {}


def _build(recipe_json: str) -> Built:
    """The recipe, its pipeline and its source's loader (in the process that has them all)."""
    recipe = Recipe.model_validate_json(recipe_json)
    return recipe, Pipeline.from_recipe(recipe), get_source(recipe.source.kind)[1]


@functools.lru_cache(maxsize=2)
def _build_cached(recipe_json: str) -> Built:
    """:func:`_build`, once per process and recipe (for :func:`process_item`)."""
    return _build(recipe_json)


def _unpickle_built(blob: bytes) -> Built:
    """What a worker runs: built once per worker from the bytes the parent shipped."""
    key = hashlib.sha256(blob).hexdigest()
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = pickle.loads(blob)
    return _CACHE[key]


@contextlib.contextmanager
def quirks_caught(strict: bool) -> Iterator[list[warnings.WarningMessage]]:
    """Collect the data quirks (RadprepWarning) met inside; with `strict` they raise instead.
    Other libraries' warnings are ignored."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore")
        warnings.simplefilter("error" if strict else "always", RadprepWarning)
        yield caught


def peak_rss_mb() -> float | None:
    """This process's peak resident memory so far, in MB (None where the OS does not say)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux counts kilobytes, macOS bytes.
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


@dataclass(frozen=True)
class ItemJob:
    """Process one item of a recipe and write its outputs under `out_dir`.

    Returns a JSON-serialisable payload: ``records`` (one per written output), ``warnings``,
    ``timings`` (seconds spent loading, stepping, writing and on the QA thumbnails) and
    ``peak_rss_mb`` (the peak memory of the process that ran it, so far).
    """

    recipe_json: str
    out_dir: str
    run_hash: str
    strict: bool = False

    def _built(self) -> Built:
        built: Built | None = self.__dict__.get("_built_cache")
        if built is None:
            built = _build(self.recipe_json)
            object.__setattr__(self, "_built_cache", built)
        return built

    def __getstate__(self) -> dict[str, Any]:
        # The pipeline and the loader go by value with cloudpickle: an op or a source defined
        # in a script, a notebook or piped code (``__main__``, which workers cannot import)
        # runs in worker processes and on Dask as it does here. Pickled once per job.
        blob = self.__dict__.get("_blob")
        if blob is None:
            blob = cloudpickle.dumps(self._built())
            object.__setattr__(self, "_blob", blob)
        fields = ("recipe_json", "out_dir", "run_hash", "strict")
        return {**{k: getattr(self, k) for k in fields}, "_blob": blob}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__["_built_cache"] = _unpickle_built(state["_blob"])

    def __call__(self, item: Item) -> dict[str, Any]:
        recipe, pipe, load = self._built()
        out = Path(self.out_dir)
        with quirks_caught(self.strict) as caught:
            t0 = time.perf_counter()
            sample = load(item, recipe.read)
            t1 = time.perf_counter()
            branches = pipe.process(sample)
            t2 = time.perf_counter()
            outputs, written = item_outputs(item, recipe, branches, self.run_hash)
            # The report shows an 8-bit PNG output as written: its thumbnail links to the file.
            encoded: dict[str, bytes] = {}
            files: dict[str, Path] = {}
            for o in outputs:
                spec = recipe.outputs[o.record.output]
                writer = get_writer(spec.format, spec.format_options)
                data = writer(o.array, o.geometry)
                path = atomic_write_bytes(out / o.record.path, data)
                if spec.format == "png8" and spec.write != "patches":
                    encoded[o.record.output], files[o.record.output] = data, path
            records = [o.record.to_row() for o in outputs]
            t3 = time.perf_counter()
            report = (
                item_report(sample, written, out, encoded=encoded, files=files)
                if recipe.report.enabled
                else None
            )
            t4 = time.perf_counter()
        return {
            "records": records,
            "warnings": sorted({str(w.message) for w in caught}),
            "timings": {"load": t1 - t0, "steps": t2 - t1, "write": t3 - t2, "report": t4 - t3},
            "peak_rss_mb": peak_rss_mb(),
            "report": report,
        }


@dataclass(frozen=True)
class ProcessedItem:
    """What :func:`process_item` gives for one item.

    Attributes
    ----------
    records : list of dict
        One manifest record per output (ids, labels, output name, the relative ``path`` a run
        would write it to, format, shape, written dtype, applied steps, recipe hash, UIDs).
    arrays : list of ndarray
        ``arrays[i]`` is the array ``records[i]`` describes, as handed to the writer (PNG
        formats quantise display values when encoding).
    warnings : list of str
        The data quirks met (``strict=True`` makes them errors instead).
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    arrays: list[np.ndarray] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per output: its record plus ``array`` (a Ray Data or pandas row)."""
        return [{**r, "array": a} for r, a in zip(self.records, self.arrays, strict=True)]


def _as_recipe(recipe: Recipe | str | os.PathLike[str] | Mapping[str, Any]) -> tuple[Recipe, Path]:
    if isinstance(recipe, Recipe):
        return recipe, Path.cwd()
    loaded, base = load_recipe(recipe)
    return loaded, base or Path.cwd()


def _as_item(item: Item | Mapping[str, Any]) -> Item:
    """An :class:`Item`, or one from its ``dataclasses.asdict`` form."""
    if isinstance(item, Item):
        return item
    fields_ = {k: v for k, v in item.items() if k in Item.__dataclass_fields__}
    fields_.setdefault("fingerprint", "")
    for key in ("labels", "source", "extra"):
        fields_[key] = dict(fields_.get(key) or {})
    fields_["identifying"] = tuple(fields_.get("identifying") or ())
    return Item(**fields_)


def list_items(recipe: Recipe | str | os.PathLike[str] | Mapping[str, Any]) -> list[Item]:
    """List a recipe's items (its ``source``), sorted by id, as a run would.

    Items are small, picklable and JSON-friendly (``dataclasses.asdict``): hand them to any
    engine and call :func:`process_item` where they land.
    """
    recipe, base = _as_recipe(recipe)
    enumerate_items, _ = get_source(recipe.source.kind)
    return sorted(enumerate_items(recipe.source, base), key=lambda it: it.id)


def process_item(
    item: Item | Mapping[str, Any],
    recipe: Recipe | str | os.PathLike[str] | Mapping[str, Any],
    *,
    strict: bool = False,
) -> ProcessedItem:
    """Process one item of a recipe in memory: load, steps, outputs; no file is written.

    The same work as one item of ``radprep run`` (the same arrays its writers encode, the same
    manifest records), for engines radprep does not drive. The pipeline is built once per
    process and recipe. De-identification of ids (the recipe's ``deid``) is the run's, not
    this function's.

    Parameters
    ----------
    item : Item or mapping
        An item of :func:`list_items`, or its ``dataclasses.asdict`` form (``id``, ``path``,
        ``labels``, ``source``, ``extra``).
    recipe : Recipe, path, built-in name or mapping
        The recipe (its ``source.kind`` says how the item loads).
    strict : bool
        Raise on any data quirk (RadprepWarning) instead of listing it.

    Returns
    -------
    ProcessedItem
        Records and arrays, one per output.

    Raises
    ------
    RadprepError
        The item's failure (one line naming the input), as a run would record it.

    Examples
    --------
    Ray Data, one item per row::

        items = [dataclasses.asdict(it) for it in radprep.list_items("recipe.yaml")]
        ds = ray.data.from_items(items).flat_map(
            lambda row: radprep.process_item(row, "recipe.yaml").rows()
        )

    Spark::

        rdd = sc.parallelize(items).mapPartitions(
            lambda part: (r for it in part for r in radprep.process_item(it, spec).rows())
        )
    """
    recipe_obj, _ = _as_recipe(recipe)
    recipe_obj, pipe, load = _build_cached(recipe_obj.model_dump_json(exclude={"out"}))
    item = _as_item(item)
    with quirks_caught(strict) as caught:
        sample = load(item, recipe_obj.read)
        outputs, _ = item_outputs(item, recipe_obj, pipe.process(sample), recipe_hash(recipe_obj))
    return ProcessedItem(
        records=[o.record.to_row() for o in outputs],
        arrays=[o.array for o in outputs],
        warnings=sorted({str(w.message) for w in caught}),
    )
