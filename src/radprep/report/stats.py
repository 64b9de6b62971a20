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

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radprep.deid.redact import Redactor, path_values
from radprep.errors import SpecError

__all__ = [
    "NO_SPLIT",
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

NO_SPLIT = "(none)"
"""The split shown for samples the manifest gives no split."""

# Manifest columns that may hold PHI: the report never prints them.
PHI_COLUMNS = (
    "patient_id",
    "source_path",
    "study_instance_uid",
    "series_instance_uid",
    "sop_instance_uid",
)

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


@dataclass
class RunData:
    """Everything the report reads from one run folder."""

    out_dir: Path
    run: dict[str, Any]
    items: list[dict[str, Any]]
    manifest: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    deid: dict[str, Any] | None
    page_size: int = 200

    @property
    def outputs(self) -> list[str]:
        """The output names, in the recipe's order (else sorted)."""
        names = list((self.run.get("recipe") or {}).get("outputs") or {})
        seen = {r["output"] for r in self.manifest if r.get("output")}
        seen |= {k for it in self.items for k in it.get("thumbs", {}) if not k.startswith("source")}
        return [n for n in names if n in seen] + sorted(seen - set(names))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def _read_manifest(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    # PHI columns are never read, so nothing downstream can print them by mistake.
    wanted = [n for n in schema.names if n not in PHI_COLUMNS]
    return pq.read_table(path, columns=wanted).to_pylist()


def _phi_values(path: Path, root: str | None) -> list[str]:
    """The manifest's patient ids and source paths (with their file and folder names under
    the data root `root`: see :func:`radprep.deid.redact.path_values`)."""
    if not path.is_file():
        return []
    import pyarrow.parquet as pq

    # UIDs need no list: every UID outside the standard's own is redacted by its shape.
    names = [n for n in pq.read_schema(path).names if n in ("patient_id", "source_path")]
    values: set[str] = set()
    for name in names:
        for v in pq.read_table(path, columns=[name]).column(0).to_pylist():
            if isinstance(v, str) and v:
                values.update(path_values(v, below=root) if name == "source_path" else [v])
    return sorted(values)


def load_run(out_dir: str | Path) -> tuple[RunData, Redactor]:
    """Read a run folder; return its data and a redactor for its free text (active only when the
    run de-identified: a ``deid`` section in its recipe, or ``deid_summary.json``).

    Parameters
    ----------
    out_dir : path
        A folder written by ``radprep run`` (it holds ``run.json``).

    Returns
    -------
    RunData, Redactor

    Raises
    ------
    SpecError
        If `out_dir` is not a run folder.
    """
    out = Path(out_dir)
    run_file = out / "run.json"
    if not run_file.is_file():
        raise SpecError(
            f"{out} is not a radprep run folder (no run.json); give the --out folder of "
            "`radprep run`"
        )
    try:
        run = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SpecError(f"{run_file} cannot be read as JSON ({e}); rerun `radprep run`") from e
    deid_file = out / "deid_summary.json"
    deid = json.loads(deid_file.read_text(encoding="utf-8")) if deid_file.is_file() else None
    report_spec = (run.get("recipe") or {}).get("report") or {}
    data = RunData(
        out_dir=out,
        run=run,
        items=sorted(_read_jsonl(out / "report" / "items.jsonl"), key=lambda r: r["sample_id"]),
        manifest=_read_manifest(out / "manifest.parquet"),
        failures=sorted(_read_jsonl(out / "failures.jsonl"), key=lambda r: str(r.get("item_id"))),
        warnings=_read_jsonl(out / "warnings.jsonl"),
        deid=deid if isinstance(deid, dict) else None,
        page_size=int(report_spec.get("page_size") or 200),
    )
    shown_ids = [str(r["sample_id"]) for r in data.items] + [
        str(r.get("item_id")) for r in data.failures
    ]
    deid_on = data.deid is not None or bool((run.get("recipe") or {}).get("deid"))
    root = ((run.get("recipe") or {}).get("source") or {}).get("root")
    secrets = _phi_values(out / "manifest.parquet", str(root) if root else None) if deid_on else []
    return data, Redactor(secrets, keep=shown_ids, active=deid_on)


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


def _label_text(v: Any) -> str:
    if v is None:
        return "(none)"
    if isinstance(v, float) and math.isnan(v):
        return "(none)"
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def sample_splits(manifest: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Return each sample's split (:data:`NO_SPLIT` when the manifest has none)."""
    out: dict[str, str] = {}
    for r in manifest:
        sid = str(r.get("sample_id"))
        if sid not in out or out[sid] == NO_SPLIT:
            out[sid] = str(r["split"]) if r.get("split") else NO_SPLIT
    return out


def sample_labels(data: RunData) -> dict[str, dict[str, str]]:
    """Return each sample's labels as text (from ``items.jsonl``, else the manifest)."""
    out: dict[str, dict[str, str]] = {}
    for r in data.manifest:
        sid = str(r.get("sample_id"))
        if sid in out:
            continue
        out[sid] = {
            k[len("label_") :]: _label_text(v)
            for k, v in sorted(r.items())
            if k.startswith("label_") and v is not None
        }
    for it in data.items:
        out[str(it["sample_id"])] = {
            str(k): _label_text(v) for k, v in sorted((it.get("labels") or {}).items())
        }
    return out


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


_CROPS = ("crop_square_keep_roi", "crop_to_bbox", "crop_to_foreground")
_INTENSITY_ONLY = frozenset(
    {
        "read_dicom",
        "modality_lut",
        "voi",
        "remove_border_residue",
        "remove_labels",
        "clahe",
        "zscore",
        "minmax",
        "percentile_clip",
        "occlude_roi",
        "n4",
        "bias_correction",
    }
)


def crop_boxes(
    steps: Sequence[Mapping[str, Any]], source_shape: Sequence[int]
) -> list[tuple[str, list[float]]]:
    """Return the crop boxes of `steps` in the original image's pixel coordinates.

    Follows crops, padding, laterality flips and stretching resizes back to the original grid;
    after a step whose geometry it does not know (rotation, letterbox, resampling) it stops.

    Parameters
    ----------
    steps : sequence of mapping
        The applied history (``{"name", "params"}``), as in the manifest's ``steps``.
    source_shape : sequence of int
        (rows, cols) of the original image.

    Returns
    -------
    list of (str, list of float)
        (step name, [y0, x0, y1, x1] inclusive, in original pixels) per crop.
    """
    # current (y, x) -> original: (ay * y + by, ax * x + bx)
    ay, ax, by, bx = 1.0, 1.0, 0.0, 0.0
    rows, cols = float(source_shape[0]), float(source_shape[1])
    out: list[tuple[str, list[float]]] = []
    for step in steps:
        name = str(step.get("name"))
        params = step.get("params") or {}
        box = params.get("box")
        if name in _CROPS or name == "pad_to_square":
            if not (isinstance(box, (list, tuple)) and len(box) == 4):
                break
            y0, x0, y1, x1 = (float(v) for v in box)
            if name in _CROPS:
                ys = sorted((ay * y0 + by, ay * y1 + by))
                xs = sorted((ax * x0 + bx, ax * x1 + bx))
                out.append((name, [ys[0], xs[0], ys[1], xs[1]]))
            by, bx = ay * y0 + by, ax * x0 + bx
            rows, cols = y1 - y0 + 1, x1 - x0 + 1
        elif name == "flip_to_laterality":
            if params.get("flipped"):
                bx, ax = ax * (cols - 1) + bx, -ax
        elif name == "resize":
            shape = params.get("shape")
            if params.get("fit", "stretch") != "stretch" or not shape or len(shape) < 2:
                break
            sy, sx = rows / float(shape[0]), cols / float(shape[1])
            # pixel centres: old = (new + 0.5) * s - 0.5
            by, bx = by + ay * (0.5 * sy - 0.5), bx + ax * (0.5 * sx - 0.5)
            ay, ax = ay * sy, ax * sx
            rows, cols = float(shape[0]), float(shape[1])
        elif name not in _INTENSITY_ONLY:
            break
    return out


@dataclass
class GalleryItem:
    """One sample's row in the gallery."""

    sample_id: str
    split: str
    labels: dict[str, str]
    thumbs: dict[str, str]
    source_shape: tuple[int, int]
    boxes: list[tuple[str, list[float]]] = field(default_factory=list)
    contours: list[str] = field(default_factory=list)
    n_warnings: int = 0
    outline: list[list[list[int]]] | None = None

    @property
    def tokens(self) -> list[str]:
        """The filter tokens: ``split=<split>`` and ``label.<name>=<value>``."""
        return [f"split={self.split}"] + [f"label.{k}={v}" for k, v in sorted(self.labels.items())]


def gallery_items(data: RunData) -> list[GalleryItem]:
    """Return the gallery rows, sorted by sample id, with crop boxes in original pixels.

    ROI contours are filled in by :func:`radprep.report.figures.roi_contours`.
    """
    splits = sample_splits(data.manifest)
    labels = sample_labels(data)
    steps_of: dict[str, list[dict[str, Any]]] = {}
    for r in data.manifest:
        sid = str(r.get("sample_id"))
        if sid not in steps_of and r.get("steps"):
            try:
                steps_of[sid] = json.loads(r["steps"])
            except ValueError:
                steps_of[sid] = []
    out = []
    for it in data.items:
        sid = str(it["sample_id"])
        shape = it.get("source_shape") or [1, 1]
        source_shape = (int(shape[0]), int(shape[1]))
        out.append(
            GalleryItem(
                sample_id=sid,
                split=splits.get(sid, NO_SPLIT),
                labels=labels.get(sid, {}),
                thumbs={str(k): str(v) for k, v in (it.get("thumbs") or {}).items()},
                source_shape=source_shape,
                boxes=crop_boxes(steps_of.get(sid, []), source_shape),
                n_warnings=len(it.get("warnings") or []),
                outline=it.get("roi_outline"),
            )
        )
    return out
