"""The ``series-folder`` source: every image series under a folder, as a volume or as slices.

Items are named without patient data (:func:`radprep.io.series.series_key`: modality, series
number and a hash of the SeriesInstanceUID; ``<key>/<slice>`` per slice). Masks come from DICOM
SEG objects in the folder (attached to the series their ReferencedSeriesSequence (0008,1115)
names) and from NIfTI/NRRD label files in ``masks`` named ``<key or UID>[__<name>].<ext>``; all
are brought onto the series' grid by nearest-neighbour resampling.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from radprep.datasets.sources import Item, fingerprint, register_source, resolve
from radprep.errors import RadprepError, RadprepWarning, SpecError
from radprep.geometry import Geometry
from radprep.image import AppliedStep
from radprep.io.dicom import read_header
from radprep.io.seg import label_file_to_grid, seg_to_grid
from radprep.io.series import SeriesInfo, find_series, load_series, series_slice_count
from radprep.pipeline.spec import SeriesFolderSource
from radprep.roi.mask import merge_masks
from radprep.sample import Sample
from radprep.spatial.volume import slice_geometry

# The volume transforms (resample_spacing, n4_bias, ct_normalize, window_stack, slice_volume...)
# register their ops on import; recipes over this source use them.
from radprep.transforms import volume as _volume_ops  # noqa: F401

__all__ = ["load_series_item", "series_folder_items"]

_LABEL_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


def _segs_by_series(root: Path) -> dict[str, list[str]]:
    """DICOM SEG files under `root`, by the SeriesInstanceUID they reference."""
    out: dict[str, list[str]] = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            try:
                ds = read_header(path)
            except RadprepError:
                continue
            if str(ds.get("Modality", "")).upper() != "SEG":
                continue
            for ref in ds.get("ReferencedSeriesSequence", []) or []:
                uid = str(ref.get("SeriesInstanceUID", "") or "")
                if uid:
                    out.setdefault(uid, []).append(str(path))
    return out


def _label_files(folder: Path | None, series: SeriesInfo) -> dict[str, str]:
    """Label files named after the series: mask name -> path."""
    if folder is None:
        return {}
    out = {}
    for p in sorted(folder.iterdir()):
        low = p.name.lower()
        suffix = next((s for s in _LABEL_SUFFIXES if low.endswith(s)), None)
        if suffix is None or not p.is_file():
            continue
        stem = p.name[: -len(suffix)]
        base, _, mask_name = stem.partition("__")
        if base in (series.key, series.series_instance_uid):
            out[mask_name or "label"] = str(p)
    return out


def series_folder_items(spec: Any, base: Path) -> list[Item]:
    """One item per image series under ``spec.root`` (or per slice with ``per: slice``)."""
    root = resolve(base, spec.root)
    if not root.is_dir():
        raise SpecError(f"source.root: {root} is not a folder")
    masks_dir = resolve(base, spec.masks) if spec.masks else None
    if masks_dir is not None and not masks_dir.is_dir():
        raise SpecError(f"source.masks: {masks_dir} is not a folder")
    wanted = {m.upper() for m in spec.modalities}
    segs = _segs_by_series(root)
    items = []
    for series in find_series(root):
        if wanted and series.modality.upper() not in wanted:
            continue
        labels = _label_files(masks_dir, series)
        seg_paths = segs.get(series.series_instance_uid, [])
        fp = fingerprint(*series.paths, *seg_paths, *labels.values())
        extra = {
            "paths": list(series.paths),
            "segs": seg_paths,
            "label_files": labels,
            "irregular": spec.irregular,
            "tilt": spec.tilt,
            "merge_masks": spec.merge_masks,
        }
        source = {
            "path": os.path.relpath(os.path.dirname(series.paths[0]), root),
            "patient_id": series.patient_id or None,
            "study_instance_uid": series.study_instance_uid or None,
            "series_instance_uid": series.series_instance_uid or None,
            "sop_instance_uid": None,
        }
        item_labels = {"modality": series.modality, "series_number": series.series_number}
        if spec.per == "series":
            items.append(Item(series.key, series.paths[0], fp, item_labels, source, extra))
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            n = series_slice_count(
                series.paths,
                series_instance_uid=series.series_instance_uid,
                irregular=spec.irregular,
                tilt=spec.tilt,
            )
        for k in range(n):
            items.append(
                Item(
                    f"{series.key}/{k:04d}",
                    series.paths[0],
                    fp,
                    {**item_labels, "slice": k},
                    source,
                    {**extra, "slice": k},
                )
            )
    return items


def _masks_on_grid(
    extra: Mapping[str, Any], shape: tuple[int, ...], geometry: Geometry
) -> dict[str, np.ndarray]:
    masks: dict[str, np.ndarray] = {}
    for path in extra.get("segs", []):
        for name, mask in seg_to_grid(path, shape, geometry).items():
            masks[name if name not in masks else f"{name}_{len(masks)}"] = mask
    for name, path in (extra.get("label_files") or {}).items():
        labels = label_file_to_grid(path, shape, geometry)
        values = [int(v) for v in np.unique(labels) if v != 0]
        if len(values) <= 1:
            masks[name] = labels != 0
        else:
            for v in values:
                masks[f"{name}_{v}"] = labels == v
    merged = extra.get("merge_masks")
    if merged and masks:
        masks = {merged: merge_masks(masks)}
    return masks


def load_series_item(item: Item, read: Any) -> Sample:
    """Read an item's series (or one slice of it) with its masks on the same grid.

    The recipe's ``read`` section does not apply: volumes keep modality values (Hounsfield
    units for CT); window them with ``window_stack`` or normalise them with the volume steps.
    """
    extra = item.extra
    k = extra.get("slice")
    sv = load_series(
        extra["paths"],
        series_instance_uid=item.source.get("series_instance_uid"),
        irregular=extra.get("irregular", "warn"),
        tilt=extra.get("tilt", "resample"),
        slice_index=k,
        volume_index=0,
    )
    if sv.report.n_volumes > 1:
        warnings.warn(
            f"{item.id}: a 4D series of {sv.report.n_volumes} volumes ({sv.report.volume_axis}); "
            "the series-folder source reads volume 0 only (radprep convert --to nifti writes all)",
            RadprepWarning,
            stacklevel=2,
        )
    image = sv.image
    masks = _masks_on_grid(extra, image.spatial_shape, image.geometry)
    labels = dict(item.labels)
    if k is not None:
        origin = [float(v) for v in image.geometry.origin]
        image = image.evolve(
            image.pixels[0],
            AppliedStep("slice_volume", {"slice": int(k), "origin": origin}),
            geometry=slice_geometry(image.geometry, 0),
            number_of_frames=1,
        )
        masks = {name: m[0] for name, m in masks.items()}
    return Sample(image=image, masks=masks, labels=labels, id=item.id, source=dict(item.source))


register_source("series-folder", series_folder_items, load_series_item, options=SeriesFolderSource)
