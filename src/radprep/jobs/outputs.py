"""The outputs of one processed item: the array each output writes, and its manifest record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from radprep.clean.foreground import foreground_mask
from radprep.datasets.manifest import Record
from radprep.datasets.sources import Item
from radprep.errors import InputError
from radprep.export.writers import suffix_of
from radprep.geometry import Geometry
from radprep.pipeline.build import sample_rng
from radprep.pipeline.spec import PatchSpec, Recipe
from radprep.roi.bbox import bbox_from_mask, bboxes_from_mask
from radprep.roi.patches import extract_patches
from radprep.sample import Sample

__all__ = ["ItemOutput", "item_outputs", "make_record", "output_path"]


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


def make_record(
    item: Item,
    branch: Sample,
    run_hash: str,
    *,
    output: str,
    path: str,
    fmt: str,
    array: np.ndarray,
    roi_bbox: list[int] | None = None,
    patch: tuple[str, list[int]] | None = None,
) -> Record:
    """The manifest record of one written output (the one place records are built).

    `patch` is ``(kind, box)`` of a patch output.
    """
    return Record(
        sample_id=item.id,
        patient_id=item.source.get("patient_id"),
        output=output,
        path=path,
        format=fmt,
        shape=tuple(int(v) for v in array.shape),
        dtype=_written_dtype(fmt, array),
        steps=tuple(s.to_dict() for s in branch.image.history),
        recipe_hash=run_hash,
        labels=dict(branch.labels),
        roi_bbox=tuple(roi_bbox) if roi_bbox is not None else None,
        patch_kind=patch[0] if patch else None,
        patch_box=tuple(int(v) for v in patch[1]) if patch else None,
        source_path=item.source.get("path"),
        study_instance_uid=item.source.get("study_instance_uid"),
        series_instance_uid=item.source.get("series_instance_uid"),
        sop_instance_uid=item.source.get("sop_instance_uid"),
        decoder=branch.image.meta.decoder,
    )


@dataclass(frozen=True)
class ItemOutput:
    """One output array of an item, what its writer needs, and its manifest record."""

    array: np.ndarray
    geometry: Geometry | None
    record: Record


def _patch_outputs(
    name: str, branch: Sample, spec: Any, item: Item, run_hash: str, seed: int
) -> list[ItemOutput]:
    """Cut ROI-centred and background patches: one output (and record) each."""
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
    suffix = suffix_of(spec.format)
    outputs = []
    for k, p in enumerate(patches):
        side = p.box[2] - p.box[0] + 1
        record = make_record(
            item,
            branch,
            run_hash,
            output=name,
            path=f"{name}/{item.id}/{k:03d}_{p.kind}_{side}{suffix}",
            fmt=spec.format,
            array=p.pixels,
            patch=(p.kind, list(p.box)),
        )
        outputs.append(ItemOutput(p.pixels, None, record))
    return outputs


def item_outputs(
    item: Item, recipe: Recipe, branches: Mapping[str, Sample], run_hash: str
) -> tuple[list[ItemOutput], dict[str, tuple[np.ndarray, bool]]]:
    """Every output of one processed item, and what the report shows of each branch."""
    outputs: list[ItemOutput] = []
    shown: dict[str, tuple[np.ndarray, bool]] = {}
    for name, branch in branches.items():
        spec = recipe.outputs[name]
        if spec.write == "patches":
            patches = _patch_outputs(name, branch, spec, item, run_hash, recipe.seed)
            outputs += patches
            if patches:
                shown[name] = (patches[0].array, False)  # the report shows the first patch
            continue
        array = _array_to_write(branch, spec.write)
        shown[name] = (array, spec.write != "image")
        record = make_record(
            item,
            branch,
            run_hash,
            output=name,
            path=output_path(name, item.id, spec.format),
            fmt=spec.format,
            array=array,
            roi_bbox=_roi_bbox(branch),
        )
        outputs.append(ItemOutput(array, branch.image.geometry, record))
    return outputs, shown
