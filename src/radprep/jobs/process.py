"""One item of a recipe run: load, shared steps, each output's steps, write atomically.

:class:`ItemJob` is a small picklable callable: what crosses to a worker process or a Dask
worker is the recipe's JSON and the output folder; each worker builds the pipeline once.
"""

from __future__ import annotations

import hashlib
import pickle
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np

from radprep.clean.foreground import foreground_mask
from radprep.datasets.sources import Item, get_source
from radprep.errors import InputError, RadprepWarning
from radprep.export.writers import get_writer, suffix_of
from radprep.io.write import atomic_write_bytes
from radprep.pipeline.build import Pipeline, sample_rng
from radprep.pipeline.spec import PatchSpec, Recipe
from radprep.report.thumbs import item_report
from radprep.roi.bbox import bbox_from_mask, bboxes_from_mask
from radprep.roi.patches import extract_patches
from radprep.sample import Sample

__all__ = ["ItemJob", "output_path"]

Built = tuple[Recipe, Pipeline, Callable[[Item, Any], Sample]]
_CACHE: dict[str, Built] = {}


def _build(recipe_json: str) -> Built:
    """The recipe, its pipeline and its source's loader (in the process that has them all)."""
    recipe = Recipe.model_validate_json(recipe_json)
    return recipe, Pipeline.from_recipe(recipe), get_source(recipe.source.kind)[1]


def _unpickle_built(blob: bytes) -> Built:
    """What a worker runs: built once per worker from the bytes the parent shipped."""
    key = hashlib.sha256(blob).hexdigest()
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = pickle.loads(blob)
    return _CACHE[key]


def output_path(output: str, sample_id: str, fmt: str) -> str:
    """The relative path of one output file: ``<output>/<sample id><suffix>``."""
    return f"{output}/{sample_id}{suffix_of(fmt)}"


def _array_to_write(branch: Sample, write: str) -> np.ndarray:
    if write == "image":
        return branch.image.pixels
    name = write.split(":", 1)[1]
    if name not in branch.masks:
        known = ", ".join(branch.masks) or "none"
        raise InputError(
            f"output writes mask {name!r} but this sample has none (its masks: {known}); "
            "check the source or the output's write: setting"
        )
    mask = branch.masks[name]
    return np.where(mask > 0, np.uint8(255), np.uint8(0))


def _written_dtype(fmt: str, array: np.ndarray) -> str:
    """The sample type of the written file: PNG writers quantise display values."""
    return {"png8": "uint8", "png16": "uint16"}.get(fmt, str(array.dtype))


def _roi_bbox(branch: Sample) -> list[int] | None:
    """The ROI's inclusive box in output pixels: (y0, x0, y1, x1), or (z0, y0, x0, z1, y1, x1)
    for a volume."""
    mask = branch.masks.get("roi")
    if mask is None or not np.any(mask):
        return None
    if mask.ndim == 2:
        return [int(v) for v in bbox_from_mask(mask)]
    idx = np.nonzero(mask)
    return [int(i.min()) for i in idx] + [int(i.max()) for i in idx]


def _base_record(item: Item, branch: Sample, run_hash: str) -> dict[str, Any]:
    return {
        "sample_id": item.id,
        "patient_id": item.source.get("patient_id"),
        "steps": [s.to_dict() for s in branch.image.history],
        "recipe_hash": run_hash,
        "labels": dict(branch.labels),
        "source_path": item.source.get("path"),
        "study_instance_uid": item.source.get("study_instance_uid"),
        "series_instance_uid": item.source.get("series_instance_uid"),
        "sop_instance_uid": item.source.get("sop_instance_uid"),
    }


def _write_patches(
    name: str, branch: Sample, spec: Any, item: Item, out: Path, run_hash: str, seed: int
) -> tuple[list[dict[str, Any]], np.ndarray | None]:
    """Cut ROI-centred and background patches, write one file each; return their records and
    the first patch (for the report)."""
    opts = spec.patches or PatchSpec()
    roi = branch.roi_mask(None)
    boxes = bboxes_from_mask(roi) if roi is not None and roi.any() else []
    pixels = branch.image.pixels
    patches = extract_patches(
        pixels,
        boxes,
        sizes=tuple(opts.sizes),
        jitter_px=opts.jitter_px,
        per_roi=opts.per_roi,
        background=opts.background,
        background_mask=foreground_mask(pixels) if opts.background and pixels.ndim == 2 else None,
        seed=int(sample_rng(seed, item.id).integers(2**31 - 1)),
    )
    writer, suffix = get_writer(spec.format, spec.format_options), suffix_of(spec.format)
    records = []
    for k, p in enumerate(patches):
        side = p.box[2] - p.box[0] + 1
        rel = f"{name}/{item.id}/{k:03d}_{p.kind}_{side}{suffix}"
        atomic_write_bytes(out / rel, writer(p.pixels, None))
        records.append(
            {
                **_base_record(item, branch, run_hash),
                "output": name,
                "path": rel,
                "format": spec.format,
                "shape": [int(v) for v in p.pixels.shape],
                "dtype": _written_dtype(spec.format, p.pixels),
                "roi_bbox": None,
                "patch_kind": p.kind,
                "patch_box": [int(v) for v in p.box],
            }
        )
    return records, (patches[0].pixels if patches else None)


@dataclass(frozen=True)
class ItemJob:
    """Process one item of a recipe and write its outputs under `out_dir`.

    Returns a JSON-serialisable payload: ``records`` (one per written output), ``warnings``,
    and ``timings`` (seconds spent loading, stepping and writing).
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
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("ignore")
            warnings.simplefilter("error" if self.strict else "always", RadprepWarning)
            t0 = time.perf_counter()
            sample = load(item, recipe.read)
            t1 = time.perf_counter()
            branches = pipe.process(sample)
            t2 = time.perf_counter()
            records = []
            written: dict[str, tuple[np.ndarray, bool]] = {}
            for name, branch in branches.items():
                spec = recipe.outputs[name]
                if spec.write == "patches":
                    recs, first = _write_patches(
                        name, branch, spec, item, out, self.run_hash, recipe.seed
                    )
                    records += recs
                    if first is not None:
                        written[name] = (first, False)  # the report shows the first patch
                    continue
                array = _array_to_write(branch, spec.write)
                written[name] = (array, spec.write != "image")
                rel = output_path(name, item.id, spec.format)
                atomic_write_bytes(
                    out / rel,
                    get_writer(spec.format, spec.format_options)(array, branch.image.geometry),
                )
                records.append(
                    {
                        **_base_record(item, branch, self.run_hash),
                        "output": name,
                        "path": rel,
                        "format": spec.format,
                        "shape": [int(v) for v in array.shape],
                        "dtype": _written_dtype(spec.format, array),
                        "roi_bbox": _roi_bbox(branch),
                    }
                )
            t3 = time.perf_counter()
            report = item_report(sample, written, out) if recipe.report.enabled else None
            t4 = time.perf_counter()
        return {
            "records": records,
            "warnings": sorted({str(w.message) for w in caught}),
            "timings": {"load": t1 - t0, "steps": t2 - t1, "write": t3 - t2, "report": t4 - t3},
            "report": report,
        }
