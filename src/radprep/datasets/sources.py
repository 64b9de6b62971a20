"""Dataset sources: what a recipe's ``source`` section turns into (Items), and how one loads.

An :class:`Item` is small and picklable: what to load, its labels, where it came from, and a
fingerprint of its input files so a resumed run notices a changed input. Sources are registered
by kind; each gives an enumerator and a loader.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from radprep.datasets.scan import scan_dicom
from radprep.errors import RadprepError, SpecError
from radprep.intensity.window import VOI
from radprep.io.dicom import read_dicom
from radprep.pipeline.spec import DicomFolderSource, SourceOptions
from radprep.plugins import SOURCES
from radprep.sample import Sample

__all__ = [
    "Item",
    "ItemList",
    "fingerprint",
    "get_source",
    "known_sources",
    "load_fetched",
    "load_item",
    "register_source",
]


@dataclass(frozen=True)
class Item:
    """One unit of work as a source describes it.

    Attributes
    ----------
    id : str
        Unique in the dataset; the outputs' file stem (``/`` allowed: folders).
    path : str
        The main input file.
    fingerprint : str
        What changes when an input changes: sizes and modification times of local files, an
        object's ETag (or size and modification time), a DICOMweb instance's SOP Instance UID.
    labels : mapping
        JSON-serialisable labels.
    source : mapping
        Provenance: relative path, UIDs, patient id.
    extra : mapping
        Source-specific inputs for the source's own loader (e.g. mask files); nothing outside
        the source reads it.
    official_split : str or None
        The split the dataset itself assigns (e.g. CBIS-DDSM's train/test), for
        ``split: {method: official}``; None where it assigns none.
    identifying : tuple of str
        Other values of the source that may identify the patient (folder and file names of
        candidate files, case names): with de-identification on, they are removed from every
        message, as the id, the path and the provenance values are.
    """

    id: str
    path: str
    fingerprint: str
    labels: Mapping[str, Any] = field(default_factory=dict)
    source: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    official_split: str | None = None
    identifying: tuple[str, ...] = ()

    @property
    def patient_id(self) -> str | None:
        """The patient the item belongs to (``source["patient_id"]``), None when unknown."""
        value = self.source.get("patient_id")
        return str(value) if value else None


class ItemList(list[Item]):
    """A source's items, and the files it met that are not items (a list, for any caller).

    ``left_out`` holds ``(path, status, reason)`` with status ``"skipped"`` (reason ``not
    DICOM``, ``no pixels``, ``duplicate``) or ``"failed"`` (the one-line error), so that a run
    accounts for every file under its source, not only for its items.
    """

    left_out: list[tuple[str, str, str]]

    def __init__(self, items: list[Item], left_out: list[tuple[str, str, str]]) -> None:
        super().__init__(items)
        self.left_out = left_out


def fingerprint(*paths: str | os.PathLike[str]) -> str:
    """Return a cheap fingerprint of input files: size and modification time of each."""
    parts = []
    for p in paths:
        st = os.stat(p)
        parts.append(f"{st.st_size}:{st.st_mtime_ns}")
    return ";".join(parts)


Enumerate = Callable[[Any, Path], list[Item]]
Load = Callable[[Item, Any], Sample]


def register_source(
    kind: str, enumerate_items: Enumerate, load: Load, *, options: type[SourceOptions]
) -> None:
    """Register a source kind: its options model, how to list its items and how to load one.

    Once registered, ``source: {kind: KIND, ...}`` is valid in a recipe, validated by
    `options` (a :class:`~radprep.pipeline.spec.SourceOptions` subclass whose ``kind`` is
    ``Literal[KIND]``; list where the data lives in its ``location_fields``).

    Parameters
    ----------
    kind : str
        The name recipes use.
    enumerate_items : callable
        ``(options, base folder) -> list[Item]``.
    load : callable
        ``(item, read options) -> Sample``.
    options : type
        The pydantic model of the source's options.
    """
    if not (isinstance(options, type) and issubclass(options, SourceOptions)):
        raise TypeError(f"source {kind!r}: options must subclass SourceOptions, got {options!r}")
    SOURCES.register(kind, (enumerate_items, load), options)


def known_sources() -> list[str]:
    """The registered source kinds."""
    return SOURCES.known()


def get_source(kind: str) -> tuple[Enumerate, Load]:
    """Return the (enumerate, load) pair of a source kind (SpecError lists the known ones)."""
    found: tuple[Enumerate, Load] = SOURCES.get(kind)
    return found


def load_item(item: Item, kind: str, read: Any) -> Sample:
    """Load one item into a Sample with the source's loader."""
    return get_source(kind)[1](item, read)


def resolve(base: Path | None, value: str) -> Path:
    """A recipe path: absolute, or relative to the recipe's folder (the working folder)."""
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() or base is None else (base / p)


def _read_labels(path: Path, key: str) -> dict[str, dict[str, Any]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    if rows and key not in rows[0]:
        raise SpecError(
            f"source.labels_key: {path.name} has no column {key!r}; columns: {', '.join(rows[0])}"
        )
    return {r[key]: {k: v for k, v in r.items() if k != key} for r in rows}


def dicom_folder_items(spec: Any, base: Path) -> list[Item]:
    """Every DICOM image instance under ``spec.root`` (non-images and non-DICOM left out)."""
    root = resolve(base, spec.root)
    if not root.is_dir():
        raise SpecError(
            f"source.root: no such file or folder: {root}"
            if not root.exists()
            else f"source.root: {root} is not a folder"
        )
    scan = scan_dicom(root)
    table = scan.table
    left_out = [(str(root / rel), "skipped", why) for rel, why in scan.skipped]
    left_out += [(str(root / rel), "failed", why) for rel, why in scan.failed]
    labels = (
        _read_labels(resolve(base, spec.labels_csv), spec.labels_key) if spec.labels_csv else {}
    )
    items = []
    # Row dicts a batch at a time: the index of a large tree is not copied into Python objects
    # all at once.
    rows = (row for batch in table.to_batches(max_chunksize=1000) for row in batch.to_pylist())
    for row in rows:
        if not row["has_pixels"] and row["rows"] is None:
            # No Image Pixel module either: a report, a plan. (A header with Rows but no pixel
            # data was cut off: it stays an item, and reading it says so.)
            left_out.append((str(root / row["path"]), "skipped", "no pixels"))
            continue
        rel = row["path"]
        stem = rel.rsplit(".", 1)[0] if rel.lower().endswith((".dcm", ".dicom")) else rel
        path = root / rel
        key = rel if spec.labels_key == "path" else str(row.get(spec.labels_key) or "")
        items.append(
            Item(
                id=stem,
                path=str(path),
                fingerprint=fingerprint(path),
                labels=labels.get(key, {}),
                source={
                    "path": rel,
                    "patient_id": row["patient_id"],
                    "study_instance_uid": row["study_instance_uid"],
                    "series_instance_uid": row["series_instance_uid"],
                    "sop_instance_uid": row["sop_instance_uid"],
                },
            )
        )
    return ItemList(items, left_out)


def load_dicom(item: Item, read: Any) -> Sample:
    """Read the item's file with the recipe's read options into a Sample without masks."""
    voi = VOI.parse(read.window)
    image = read_dicom(
        item.path,
        frames=read.frame,
        voi=None if voi.mode == "none" else voi,
        out_dtype=read.dtype,
        **read.reduce_args(),
    )
    return Sample(image=image, labels=dict(item.labels), id=item.id, source=dict(item.source))


def load_fetched(item: Item, local: Path, read: Any) -> Sample:
    """Read `local`, a fetched copy of ``item.path`` (a URL), as the item's DICOM.

    Errors and warnings name the URL, never the temporary copy.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sample = load_dicom(replace(item, path=str(local)), read)
        except RadprepError as e:
            raise type(e)(str(e).replace(str(local), item.path)) from None
    for w in caught:
        warnings.warn_explicit(
            str(w.message).replace(str(local), item.path), w.category, w.filename, w.lineno
        )
    return sample


register_source("dicom-folder", dicom_folder_items, load_dicom, options=DicomFolderSource)
