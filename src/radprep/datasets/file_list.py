"""The ``file-list`` source: a table of files (local paths or ``s3://``, ``gs://``, ``https://``
URLs) with their labels, each file fetched by the worker that processes it.

The list is a CSV or Parquet with a ``path`` column (or ``url``, or an ``idc-index`` export's
``series_aws_url``), optional ``patient_id`` (or ``PatientID``), ``split`` (kept as the label
``official_split``) and ``id`` columns, every other column a label; or an ``s5cmd`` manifest
(``cp s3://bucket/series/* .`` lines) as ``s5cmd run`` takes it. A path with ``*`` or ending in
``/`` stands for every object under it (the IDC's series folders).

Listing costs one request per folder, not per file; each item's fingerprint is the object's ETag
(or GCS generation), else its size and modification time, so a resumed run redoes exactly the
objects that changed. A row that cannot be used (no path, a scheme no filesystem serves, an object
that is missing or refused) is that item's failure with a one-line reason; an endpoint that cannot
be reached fails the listing at once with a one-line error.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radprep.datasets.file_list_read import read_file_list
from radprep.datasets.sources import (
    Item,
    fingerprint,
    load_dicom,
    load_fetched,
    register_source,
    resolve,
)
from radprep.errors import InputError, SpecError
from radprep.io.remote import (
    UnreachableError,
    fetched,
    filesystem,
    info_fingerprint,
    is_url,
    retrying,
    s3_endpoint,
)
from radprep.pipeline.spec import FileListSource
from radprep.sample import Sample

__all__ = ["file_list_items", "load_file_list_item", "read_file_list"]

PATH_COLUMNS = ("path", "url", "series_aws_url", "series_aws_location", "aws_url", "gcs_url")
PATIENT_COLUMNS = ("patient_id", "PatientID")
_SOURCE_COLUMNS = {
    "study_instance_uid": ("study_instance_uid", "StudyInstanceUID"),
    "series_instance_uid": ("series_instance_uid", "SeriesInstanceUID"),
    "sop_instance_uid": ("sop_instance_uid", "SOPInstanceUID"),
}
_DICOM_SUFFIXES = (".dcm", ".dicom")


def _column(columns: list[str], wanted: str | None, candidates: tuple[str, ...], where: str) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise SpecError(f"source.path_column: {where} has no column {wanted!r}")
        return wanted
    found = next((c for c in candidates if c in columns), None)
    if found is None:
        raise SpecError(
            f"source.list: {where} has no path column ({', '.join(candidates)}); "
            f"its columns: {', '.join(columns) or '(none)'}; set source.path_column"
        )
    return found


def _stem(key: str) -> str:
    """An item id from a path or URL: without scheme, leading '/' and a .dcm suffix."""
    key = key.split("://", 1)[-1].lstrip("/")
    low = key.lower()
    for s in _DICOM_SUFFIXES:
        if low.endswith(s):
            return key[: -len(s)]
    return key


def _is_pattern(url: str) -> bool:
    return url.endswith("/") or any(c in url for c in "*?[")


def _remote_infos(
    urls: list[str], options: Mapping[str, Any]
) -> Iterator[tuple[str, dict[str, Any] | None, str]]:
    """``(url, info or None, error)`` for every URL: one listing per folder, a HEAD each where
    listing is refused or not offered (http)."""
    retries = int(options.get("retries", 3))
    backoff = float(options.get("backoff_s", 0.5))
    by_parent: dict[str, list[str]] = {}
    for u in urls:
        by_parent.setdefault(posixpath.dirname(u), []).append(u)
    singles: list[str] = []
    for parent, group in by_parent.items():
        fs, ppath = filesystem(parent, options)
        if parent.startswith(("http://", "https://")) or len(group) == 1:
            singles += group
            continue
        try:
            listing: list[dict[str, Any]] = retrying(
                lambda fs=fs, ppath=ppath: fs.ls(ppath, detail=True, refresh=True),  # type: ignore[misc]
                where=parent,
                retries=retries,
                backoff_s=backoff,
            )
        except UnreachableError:
            raise
        except InputError:
            singles += group  # GetObject may be allowed where ListBucket is not
            continue
        names = {str(e["name"]).rstrip("/"): e for e in listing}
        for u in group:
            info = names.get(filesystem(u, options)[1])
            if info is None:
                yield u, None, f"{u}: no such object (404); check the path in the list"
            else:
                yield u, info, ""

    def head(u: str) -> tuple[str, dict[str, Any] | None, str]:
        fs, p = filesystem(u, options)
        try:
            return u, retrying(lambda: fs.info(p), where=u, retries=retries, backoff_s=backoff), ""
        except UnreachableError:
            raise  # the endpoint, not this object
        except InputError as e:
            return u, None, str(e)

    with ThreadPoolExecutor(max_workers=8) as pool:
        yield from pool.map(head, singles)


def _expand(url: str, options: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every object a pattern row stands for: ``url -> info``."""
    fs, p = filesystem(url, options)
    scheme = url.split("://", 1)[0]
    pattern = p + "*" if url.endswith("/") else p
    found = retrying(
        lambda: fs.glob(pattern, detail=True),
        where=url,
        retries=int(options.get("retries", 3)),
        backoff_s=float(options.get("backoff_s", 0.5)),
    )
    return {
        f"{scheme}://{name}": info
        for name, info in sorted(found.items())
        if info.get("type", "file") == "file"
    }


def file_list_items(spec: Any, base: Path) -> list[Item]:
    """One item per file the list names (a pattern row: per object under it).

    Raises
    ------
    SpecError
        When the list cannot be read, has no path column, or names a file twice.
    InputError
        When the storage endpoint cannot be reached (after the retries).
    """
    options: dict[str, Any] = {
        "storage_options": dict(spec.storage_options),
        # The S3 endpoint travels with the items: a cluster's workers need not share the
        # environment (credentials stay in theirs, or in storage_options).
        "s3_endpoint_url": s3_endpoint(),
        "retries": spec.retries,
        "timeout_s": spec.timeout_s,
        "backoff_s": spec.backoff_s,
    }
    rows = read_file_list(spec.list, base=base, options=options)
    cols = _Columns.of(spec, rows, base)
    entries, patterns, bad = _sort_rows(rows, cols.path, spec.list)
    infos = _object_infos(entries, patterns, bad, options)
    items: list[Item] = []
    seen: dict[str, int] = {}
    for row, value in entries:
        item = _row_item(row, value, cols, infos, options)
        if item.id in seen:
            raise SpecError(
                f"source.list: {spec.list} row {row['_row']}: item {item.id!r} is listed twice "
                f"(first at row {seen[item.id]}); list each file once or give an id column"
            )
        seen[item.id] = row["_row"]
        items.append(item)
    for row, error in bad:
        item_id = f"row-{row['_row']:06d}"
        items.append(Item(item_id, "", "unavailable", source={"path": ""}, extra={"error": error}))
    return items


Row = dict[str, Any]
ObjectInfos = dict[str, tuple[dict[str, Any] | None, str]]
"""Per URL: what the store says of the object (None when it cannot say), and the error."""


@dataclass(frozen=True)
class _Columns:
    """Which of a list's columns hold the path, the id and the patient, and where it lies."""

    path: str
    id: str | None
    patient: str | None
    list_dir: Path | None

    @classmethod
    def of(cls, spec: Any, rows: list[Row], base: Path) -> _Columns:
        columns = [c for c in (rows[0] if rows else {}) if not c.startswith("_")]
        path_col = (
            _column(columns, spec.path_column, PATH_COLUMNS, spec.list) if columns else "path"
        )
        id_col = spec.id_column if spec.id_column else ("id" if "id" in columns else None)
        if id_col is not None and id_col not in columns:
            raise SpecError(f"source.id_column: {spec.list} has no column {id_col!r}")
        patient_col = next((c for c in PATIENT_COLUMNS if c in columns), None)
        list_dir = None if is_url(spec.list) else resolve(base, spec.list).resolve().parent
        return cls(path_col, id_col, patient_col, list_dir)

    @property
    def special(self) -> set[str | None]:
        """The columns that are not labels."""
        return {self.path, self.id, self.patient, "split"}


def _sort_rows(
    rows: list[Row], path_col: str, list_where: str
) -> tuple[list[tuple[Row, str]], list[tuple[Row, str]], list[tuple[Row, str]]]:
    """The rows as (row, path or url) entries, (row, url pattern) pairs and (row, error)."""
    entries: list[tuple[Row, str]] = []
    patterns: list[tuple[Row, str]] = []
    bad: list[tuple[Row, str]] = []
    for row in rows:
        value = str(row.get(path_col) or "").strip()
        if row.get("_error") or not value:
            bad.append((row, row.get("_error") or f"{list_where} row {row['_row']}: empty path"))
        elif is_url(value) and _is_pattern(value):
            patterns.append((row, value))
        else:
            entries.append((row, value))
    return entries, patterns, bad


def _object_infos(
    entries: list[tuple[Row, str]],
    patterns: list[tuple[Row, str]],
    bad: list[tuple[Row, str]],
    options: Mapping[str, Any],
) -> ObjectInfos:
    """Expand the patterns into `entries` (a pattern that fails or matches nothing goes to
    `bad`) and ask the stores about every remote object, in bulk."""
    infos: ObjectInfos = {}
    for row, url in patterns:
        try:
            found = _expand(url, options)
        except UnreachableError:
            raise
        except InputError as e:
            bad.append((row, str(e)))
            continue
        if not found:
            bad.append((row, f"{url}: no objects match; check the path in the list"))
        for u, object_info in found.items():
            entries.append((row, u))
            infos[u] = (object_info, "")
    remote = []
    for _, u in entries:
        if is_url(u) and u not in infos:
            try:
                filesystem(u, options)
            except SpecError as e:
                infos[u] = (None, str(e))
                continue
            remote.append(u)
    for u, info, error in _remote_infos(sorted(set(remote)), options):
        infos[u] = (info, error)
    return infos


def _locate(value: str, infos: ObjectInfos, list_dir: Path | None) -> tuple[str, str, str, str]:
    """Where a listed file is: (path or url, fingerprint, id stem, error)."""
    if is_url(value):
        found_info, error = infos[value]
        fp = info_fingerprint(found_info) if found_info is not None else "unavailable"
        return value, fp, _stem(value), error
    error = ""
    p = Path(os.path.expanduser(value))
    p = p if p.is_absolute() or list_dir is None else list_dir / p
    try:
        fp = fingerprint(p)
    except OSError:
        fp, error = "unavailable", f"{value}: no such file; check the path in the list"
    try:
        stem = _stem(p.resolve().relative_to(list_dir).as_posix()) if list_dir else ""
    except ValueError:
        stem = ""
    return str(p), fp, stem or _stem(p.as_posix()), error


def _row_item(
    row: Row, value: str, cols: _Columns, infos: ObjectInfos, options: Mapping[str, Any]
) -> Item:
    """The item of one listed file: its id, labels, source columns and where it is."""
    path, fp, stem, error = _locate(value, infos, cols.list_dir)
    item_id = str(row[cols.id]) if cols.id is not None and row.get(cols.id) else stem
    special = cols.special
    labels = {k: v for k, v in row.items() if k not in special and not k.startswith("_")}
    if row.get("split"):
        labels["official_split"] = row["split"]
    source = {"path": value, "patient_id": row.get(cols.patient) if cols.patient else None}
    for key, names in _SOURCE_COLUMNS.items():
        col = next((c for c in names if c in row), None)
        if col is not None and row[col]:
            source[key] = row[col]
    extra: dict[str, Any] = {"remote": options} if is_url(path) else {}
    if error:
        extra["error"] = error
    return Item(
        item_id,
        path,
        fp,
        labels=labels,
        source=source,
        extra=extra,
        official_split=labels.get("official_split"),
    )


def load_file_list_item(item: Item, read: Any) -> Sample:
    """Fetch the item's file (a local path is read in place) and read it as DICOM.

    Errors and warnings name the URL, never the temporary file.
    """
    if item.extra.get("error"):
        raise InputError(item.extra["error"])
    with fetched(item.path, item.extra.get("remote")) as local:
        if str(local) == item.path:
            return load_dicom(item, read)
        return load_fetched(item, local, read)


register_source("file-list", file_list_items, load_file_list_item, options=FileListSource)
