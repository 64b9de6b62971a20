"""What the QA report says, computed from a run folder: pure functions over plain data.

:func:`load_run` reads a run folder once (``run.json``, the manifest, ``report/items.jsonl``,
``failures.jsonl``, ``warnings.jsonl``, ``deid_summary.json``); the other functions turn that
into tables, counts and shapes for :mod:`radprep.report.render` and
:mod:`radprep.report.figures`.

The report never shows a source path, a patient ID or a UID from the manifest: only sample
ids (pseudonyms when de-identification is on), labels and counts. Free text (failure messages,
warnings) goes through a :class:`radprep.deid.redact.Redactor` first (re-exported here).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from radprep.deid.redact import Redactor
from radprep.report.gallery import GalleryItem, crop_boxes, gallery_items
from radprep.report.run_folder import (
    NO_SPLIT,
    PHI_COLUMNS,
    RunData,
    load_run,
    sample_labels,
    sample_splits,
)

__all__ = [
    "NO_SPLIT",
    "PHI_COLUMNS",
    "WARNING_KINDS",
    "GalleryItem",
    "Redactor",
    "RunData",
    "aggregate_histograms",
    "crop_boxes",
    "gallery_items",
    "label_split_counts",
    "load_run",
    "pick_samples",
    "sample_labels",
    "sample_splits",
    "split_order",
    "summary",
    "warning_kind",
    "warning_kind_counts",
]

# (kind, pattern) in order: the first pattern found in a warning names its kind.
WARNING_KINDS: tuple[tuple[str, str], ...] = (
    ("quarantined for burned-in text", r"quarantin|burned.?in"),
    ("mask resized", r"mask\w*.{0,40}resiz|resiz\w*.{0,40}mask"),
    ("laterality flipped", r"laterality|flip"),
    ("residue removed", r"residue|border"),
    ("header window missing", r"window"),
)
_OTHER_KIND = "other"

_MAX_LABEL_VALUES = 50  # a label with more distinct values is not a category to count or filter


def summary(data: RunData) -> dict[str, Any]:
    """Return the run's headline numbers.

    Returns
    -------
    dict
        ``items``, ``done``, ``failed``, ``skipped``, ``outputs``, ``warnings``, ``seconds``,
        ``throughput`` (items processed per second, None when nothing ran), ``recipe_hash``,
        ``started``, ``ended``, ``executor``, ``versions``.
    """
    counts = data.run.get("counts") or {}
    seconds = float(data.run.get("seconds") or 0.0)
    processed = int(counts.get("items", 0)) - int(counts.get("skipped_already_done", 0))
    executor = data.run.get("executor") or {}
    return {
        "items": int(counts.get("items", len(data.items) + len(data.failures))),
        "done": int(counts.get("done", len(data.items))),
        "failed": int(counts.get("failed", len(data.failures))),
        "skipped": int(counts.get("skipped_already_done", 0)),
        "outputs": int(counts.get("outputs", len(data.manifest))),
        "warnings": int(counts.get("warnings", len(data.warnings))),
        "seconds": seconds,
        "throughput": processed / seconds if seconds > 0 and processed > 0 else None,
        "recipe_hash": str(data.run.get("recipe_hash", "")),
        "started": str(data.run.get("started", "")),
        "ended": str(data.run.get("ended", "")),
        "executor": ", ".join(f"{k} {v}" for k, v in sorted(executor.items())),
        "versions": dict(sorted((data.run.get("versions") or {}).items())),
        "stage_seconds": dict(sorted((data.run.get("stage_seconds") or {}).items())),
    }


def label_split_counts(
    labels: Mapping[str, Mapping[str, str]], splits: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Count samples by label value and split, for each categorical label.

    Parameters
    ----------
    labels : mapping
        Sample id -> label name -> value (text).
    splits : mapping
        Sample id -> split.

    Returns
    -------
    dict
        Label name -> ``{"splits": [...], "rows": [(value, [count per split], total)]}``; labels
        with more than 50 distinct values, and list or record labels (such as CBIS-DDSM's
        per-abnormality list), are left out (they are not categories).
    """
    names = sorted({k for v in labels.values() for k in v})
    all_splits = sorted(set(splits.values()) or {NO_SPLIT}, key=split_order)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        counter: Counter[tuple[str, str]] = Counter()
        for sid, lab in labels.items():
            if name in lab:
                counter[(lab[name], splits.get(sid, NO_SPLIT))] += 1
        values = sorted({v for v, _ in counter})
        structured = any(v.startswith(("[", "{")) for v in values)
        if len(values) > _MAX_LABEL_VALUES or structured:
            continue  # not a category: many values, or a list of records (per-abnormality)
        rows = []
        for v in values:
            per = [counter[(v, s)] for s in all_splits]
            rows.append((v, per, sum(per)))
        out[name] = {"splits": all_splits, "rows": rows}
    return out


def split_order(split: str) -> tuple[int, str]:
    """Sort key of a split name: train, validation, test, others, then no split."""
    order = {"train": 0, "training": 0, "val": 1, "valid": 1, "validation": 1, "test": 2}
    return (order.get(split.lower(), 3 if split != NO_SPLIT else 4), split)


def warning_kind(message: str) -> str:
    """Return the kind of a warning (see :data:`WARNING_KINDS`), or ``"other"``."""
    for kind, pattern in WARNING_KINDS:
        if re.search(pattern, message, re.IGNORECASE):
            return kind
    return _OTHER_KIND


def warning_kind_counts(warnings: Iterable[Mapping[str, Any]]) -> list[tuple[str, int, int]]:
    """Return (kind, warnings, samples) for every kind seen, most frequent first."""
    n: Counter[str] = Counter()
    samples: dict[str, set[str]] = {}
    for w in warnings:
        kind = warning_kind(str(w.get("warning", "")))
        n[kind] += 1
        samples.setdefault(kind, set()).add(str(w.get("sample_id")))
    return sorted(((k, c, len(samples[k])) for k, c in n.items()), key=lambda t: (-t[1], t[0]))


def aggregate_histograms(items: Iterable[Mapping[str, Any]]) -> dict[str, list[int]]:
    """Sum the per-item histograms: ``"before"`` and one entry per output."""
    total: dict[str, list[int]] = {}
    for it in items:
        pairs = [("before", it.get("hist_before"))]
        pairs += list((it.get("hist_after") or {}).items())
        for name, counts in pairs:
            if not counts:
                continue
            acc = total.setdefault(name, [0] * len(counts))
            for i, c in enumerate(counts[: len(acc)]):
                acc[i] += int(c)
    return total


def pick_samples(ids: Sequence[str], k: int, *, prefer: Iterable[str] = ()) -> list[str]:
    """Pick up to `k` ids spread evenly over the sorted list, `prefer` ones first.

    Deterministic: the same ids give the same pick.
    """
    preferred = sorted(set(prefer) & set(ids))
    chosen = _spread(preferred, k)
    rest = sorted(set(ids) - set(chosen))
    chosen += _spread(rest, k - len(chosen))
    return sorted(chosen)


def _spread(ids: Sequence[str], k: int) -> list[str]:
    if k <= 0 or not ids:
        return []
    if len(ids) <= k:
        return list(ids)
    step = len(ids) / k
    return [ids[int(i * step)] for i in range(k)]
