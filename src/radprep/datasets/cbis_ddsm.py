"""CBIS-DDSM: the case-description CSVs (read by :mod:`radprep.datasets.cbis_csv`), the DICOM
files in either download layout, and samples with ROI masks and per-abnormality labels.

The dataset is hard to use correctly. This source reads the four CSVs with TCIA's exact schema
and its quirks (``breast density`` in the calc files and ``breast_density`` in the mass files,
CRLF rows, newlines inside quoted paths, ``N/A``/``NA``, out-of-range values flagged); it finds the
files by their headers and UIDs rather than trusting the CSV paths, so the classic layout
(``<case>/<study uid>/<series uid>/000000.dcm``) and the NBIA retriever's
(``<case>/08-29-2017-DDSM-NA-<n>/1.000000-full mammogram images-<n>/1-1.dcm``) both work; it
tells the ROI mask from the cropped image by content (the mask has the full image's shape and
two values), whatever the CSV says; several abnormalities of one image become one sample with a
union mask (or one sample each).
"""

from __future__ import annotations

import random
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radprep.datasets.cbis_csv import (
    CSV_FILES,
    PATHOLOGIES,
    CaseRow,
    parse_case_path,
    read_case_csv,
)
from radprep.datasets.cbis_masks import _roi_mask
from radprep.datasets.scan import scan_dicom
from radprep.datasets.sources import Item, fingerprint, register_source, resolve
from radprep.errors import InputError, RadprepWarning, SpecError
from radprep.intensity.window import VOI
from radprep.io.dicom import (
    read_dicom,
)
from radprep.pipeline.spec import CbisDdsmSource
from radprep.roi.mask import merge_masks
from radprep.sample import Sample

__all__ = [
    "CSV_FILES",
    "PATHOLOGIES",
    "CaseRow",
    "cbis_items",
    "load_cbis",
    "parse_case_path",
    "read_case_csv",
]

_SEVERITY = {"MALIGNANT": 2, "BENIGN": 1, "BENIGN_WITHOUT_CALLBACK": 0}


def _find_csvs(root: Path, given: Sequence[str], base: Path) -> list[Path]:
    if given:
        return [resolve(base, g) for g in given]
    found = sorted(p for p in root.rglob("*.csv") if p.name in CSV_FILES)
    if not found:
        raise SpecError(
            f"source.root: no CBIS-DDSM case-description CSV under {root}; give source.csv "
            f"(the files are named {', '.join(CSV_FILES)})"
        )
    return found


@dataclass(frozen=True)
class _Instance:
    path: str
    rows: int
    columns: int
    series: str


class _Index:
    """The DICOM instances of the download, by SeriesInstanceUID and by PatientID (case folder)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.by_series: dict[str, list[_Instance]] = defaultdict(list)
        self.by_case: dict[str, list[_Instance]] = defaultdict(list)
        self.by_folder: dict[str, list[_Instance]] = defaultdict(list)
        # The columns used here only: each header's parse keeps five elements, not twenty.
        found = scan_dicom(root, columns=("patient_id", "series_instance_uid", "rows", "columns"))
        for r in found.table.to_pylist():
            if not r["has_pixels"]:
                continue
            inst = _Instance(
                str(root / r["path"]),
                r["rows"] or 0,
                r["columns"] or 0,
                r["series_instance_uid"] or "",
            )
            self.by_series[inst.series].append(inst)
            if r["patient_id"]:
                self.by_case[r["patient_id"].strip()].append(inst)
            self.by_folder[r["path"].split("/", 1)[0]].append(inst)

    def lookup(self, csv_path: str) -> tuple[list[_Instance], str]:
        """Instances for a CSV path: by the series UID folder, else by the case folder."""
        parts = csv_path.split("/")
        if len(parts) >= 3 and self.by_series.get(parts[2]):
            return self.by_series[parts[2]], "series"
        case = parts[0]
        found = self.by_case.get(case) or self.by_folder.get(case) or []
        return found, "case"


def _select(groups: list[dict[str, Any]], select: Any) -> list[dict[str, Any]]:
    """Filter on labels, then pick N per stratum (the notebook's balanced pick), seeded."""
    if select is None:
        return groups
    kept = groups
    for key, allowed in (select.where or {}).items():
        values = {str(v).upper() for v in (allowed if isinstance(allowed, list) else [allowed])}
        kept = [g for g in kept if str(g["labels"].get(key)).upper() in values]
    if not select.per_stratum:
        return kept
    strata: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for g in kept:
        strata[tuple(g["labels"].get(k) for k in select.strata)].append(g)
    rng = random.Random(select.seed)
    picked = []
    for key in sorted(strata, key=lambda k: tuple(str(v) for v in k)):
        members = sorted(strata[key], key=lambda g: g["id"])
        rng.shuffle(members)
        picked.extend(members[: select.per_stratum])
    return sorted(picked, key=lambda g: g["id"])


def _image_labels(rows: Sequence[CaseRow], binary: Mapping[str, int]) -> dict[str, Any]:
    worst = max(rows, key=lambda r: _SEVERITY.get(r.pathology, -1))
    first = rows[0]
    pathologies = sorted({r.pathology for r in rows})
    return {
        **dict(worst.labels),
        "pathology": worst.pathology,
        "pathology_binary": binary.get(worst.pathology),
        "mixed_pathology": len(pathologies) > 1,
        "laterality": first.laterality,
        "view": first.view,
        "official_split": first.official_split,
        "n_abnormalities": len(rows),
        "abnormalities": [
            {
                "abnormality_id": r.abnormality_id,
                **dict(r.labels),
                "pathology_binary": binary.get(r.pathology),
            }
            for r in rows
        ],
    }


def cbis_items(spec: Any, base: Path) -> list[Item]:
    """List the samples of a CBIS-DDSM download (see the module docstring).

    Files the CSVs name but the download lacks become items that fail with the reason, so the
    run's failures list them; rows whose values are out of range keep their labels and carry a
    warning.
    """
    root = resolve(base, spec.root)
    if not root.is_dir():
        raise SpecError(f"source.root: {root} is not a folder")
    csvs = _find_csvs(root, spec.csv, base)
    rows = [r for p in csvs for r in read_case_csv(p)]
    index = _Index(root)
    by_image: dict[str, list[CaseRow]] = defaultdict(list)
    for r in rows:
        by_image[r.image_case].append(r)
    binary = dict(spec.pathology_binary)
    groups: list[dict[str, Any]] = []
    for case, case_rows in sorted(by_image.items()):
        case_rows = sorted(case_rows, key=lambda r: r.abnormality_id)
        units = [[r] for r in case_rows] if spec.per == "abnormality" else [case_rows]
        for unit in units:
            sid = case if spec.per == "image" else f"{case}_{unit[0].abnormality_id}"
            groups.append(
                {"id": sid, "case": case, "rows": unit, "labels": _image_labels(unit, binary)}
            )
    groups = _select(groups, spec.select)
    both = _patients_in_both(rows)
    items = []
    for g in groups:
        items.append(_item(g, index, both))
    return items


def _patients_in_both(rows: Iterable[CaseRow]) -> set[str]:
    splits: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        splits[r.patient_id].add(r.official_split)
    return {p for p, s in splits.items() if len(s) > 1}


def _item(group: dict[str, Any], index: _Index, both: set[str]) -> Item:
    rows: list[CaseRow] = group["rows"]
    notes = [p for r in rows for p in r.problems]
    full, how = index.lookup(rows[0].image_path)
    if how == "case" and full:
        notes.append(
            f"the CSV's uid folders for {rows[0].image_case} are not in the download; "
            "matched by PatientID"
        )
    rois: list[dict[str, Any]] = []
    for r in rows:
        candidates: dict[str, _Instance] = {}
        for p in (r.mask_path, r.crop_path):
            if p:
                found, _ = index.lookup(p)
                candidates.update({i.path: i for i in found})
        # The ROI folder also holds the other abnormalities' files only in odd downloads: keep
        # the candidates of this row's ROI folder. Their sizes, as the index read them, let the
        # loader open the mask first without parsing every candidate's header again.
        names = sorted(candidates)
        rois.append(
            {
                "abnormality_id": r.abnormality_id,
                "candidates": names,
                "shapes": [[candidates[c].rows, candidates[c].columns] for c in names],
            }
        )
    labels = dict(group["labels"])
    labels["patient_in_both_official_splits"] = rows[0].patient_id in both
    paths: list[str] = [full[0].path] if full else []
    paths += [str(c) for roi in rois for c in roi["candidates"]]
    return Item(
        id=group["id"],
        path=full[0].path if full else "",
        fingerprint=fingerprint(*paths)
        if paths and all(Path(p).exists() for p in paths)
        else "missing",
        labels=labels,
        source={
            "path": str(Path(full[0].path).relative_to(index.root)) if full else None,
            "patient_id": rows[0].patient_id,
            "series_instance_uid": full[0].series if full else None,
        },
        extra={
            "full_candidates": [i.path for i in full],
            "image_case": rows[0].image_case,
            "rois": rois,
            "notes": notes,
            "mask_tolerance_px": None,
        },
        official_split=labels.get("official_split"),
        identifying=(
            *(i.path for i in full),
            rows[0].image_case,
            *(str(c) for roi in rois for c in roi["candidates"]),
        ),
    )


def load_cbis(item: Item, read: Any) -> Sample:
    """Load a CBIS-DDSM sample: the full image, and the ROI masks told apart from the crops."""
    if not item.path or not Path(item.path).exists():
        raise InputError(
            f"{item.extra.get('image_case', item.id)}: the full mammogram the CSV names is not in "
            "the download (neither its uid folders nor a DICOM with that PatientID)"
        )
    for note in item.extra.get("notes", []):
        warnings.warn(note, RadprepWarning, stacklevel=2)
    voi = VOI.parse(read.window)
    image = read_dicom(
        item.path,
        frames=read.frame,
        voi=None if voi.mode == "none" else voi,
        out_dtype=read.dtype,
        **read.reduce_args(),
    )
    # Masks are checked against the full-size image the header describes, then brought onto
    # the grid the image was read at (smaller when read reduced).
    shape = (image.meta.rows, image.meta.columns)
    grid = (image.spatial_shape[0], image.spatial_shape[1])
    masks: dict[str, np.ndarray] = {}
    tolerance = item.extra.get("mask_tolerance_px") or max(8, round(0.005 * max(shape)))
    for roi in item.extra["rois"]:
        masks[f"roi_{roi['abnormality_id']}"] = _roi_mask(roi, shape, grid, tolerance)
    union = merge_masks(masks)
    masks = {"roi": union, **masks} if len(masks) > 1 else {"roi": union}
    return Sample(
        image=image, masks=masks, labels=dict(item.labels), id=item.id, source=dict(item.source)
    )


register_source("cbis-ddsm", cbis_items, load_cbis, options=CbisDdsmSource)
