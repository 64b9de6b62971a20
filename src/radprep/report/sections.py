"""The first page's sections of the report: what ``index.html`` shows above the gallery.

The intensity histograms (drawn as SVG polylines), the outputs table, the de-identification
summary and the failures and warnings lists, assembled into the first page's template context
by :func:`first_context`. Every value is taken from the run folder (:class:`RunData`); free
text goes through the run's redactor.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from radprep.report import stats
from radprep.report.stats import Redactor, RunData

__all__ = ["LIST_LIMIT", "first_context", "issue_rows", "num"]

LIST_LIMIT = 100
"""Failures and warnings listed on the first page; longer lists get a page of their own."""

_HIST_ITEMS = 12  # items whose before/after histograms are drawn
_HIST_W, _HIST_H = 192, 48
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")


def num(value: Any, digits: int = 0) -> str:
    """A number as the report writes it: thousands separated, `digits` decimals, ``–`` for None."""
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):,.{digits}f}"


def _hist_points(counts: Sequence[int]) -> str:
    if not counts:
        return ""
    logs = [math.log1p(max(0, int(c))) for c in counts]
    top = max(logs) or 1.0
    n = len(logs)
    pts = []
    for i, v in enumerate(logs):
        x0, x1 = _HIST_W * i / n, _HIST_W * (i + 1) / n
        y = _HIST_H - (_HIST_H - 2) * v / top
        pts += [f"{x0:.1f},{y:.1f}", f"{x1:.1f},{y:.1f}"]
    return " ".join(pts)


def _histograms(data: RunData, outputs: Sequence[str]) -> dict[str, Any]:
    colour = {name: _COLOURS[i % len(_COLOURS)] for i, name in enumerate(outputs)}
    total = stats.aggregate_histograms(data.items)
    ids = stats.pick_samples([str(it["sample_id"]) for it in data.items], _HIST_ITEMS)
    by_id = {str(it["sample_id"]): it for it in data.items}

    def lines(hist_before: Any, hist_after: Mapping[str, Any]) -> list[dict[str, str]]:
        out = [{"name": "before", "colour": "#777777", "points": _hist_points(hist_before or [])}]
        for name in outputs:
            if hist_after.get(name):
                out.append(
                    {"name": name, "colour": colour[name], "points": _hist_points(hist_after[name])}
                )
        return out

    return {
        "width": _HIST_W,
        "height": _HIST_H,
        "legend": [("before", "#777777")] + [(n, colour[n]) for n in outputs],
        "total": lines(total.get("before"), total) if total else [],
        "items": [
            {
                "sample_id": sid,
                "lines": lines(by_id[sid].get("hist_before"), by_id[sid].get("hist_after") or {}),
            }
            for sid in ids
        ],
    }


def _deid_rows(deid: Mapping[str, Any], redact: Redactor) -> list[dict[str, Any]]:
    """Flatten the de-identification summary: counts only, text redacted, lists as lengths."""
    out: list[dict[str, Any]] = []
    for key, value in sorted(deid.items()):
        if isinstance(value, Mapping):
            sub = []
            for k, v in sorted(value.items(), key=lambda kv: str(kv[0])):
                shown = len(v) if isinstance(v, (list, tuple)) else v
                if isinstance(shown, Mapping):
                    shown = sum(x for x in shown.values() if isinstance(x, (int, float)))
                sub.append((redact(k), shown if isinstance(shown, (int, float)) else redact(shown)))
            out.append({"key": redact(key), "value": None, "table": sub})
        elif isinstance(value, (list, tuple)):
            out.append({"key": redact(key), "value": f"{len(value):,} entries", "table": []})
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append(
                {
                    "key": redact(key),
                    "value": num(value, 2 if isinstance(value, float) else 0),
                    "table": [],
                }
            )
        else:
            out.append({"key": redact(key), "value": redact(value), "table": []})
    return out


def _outputs_table(data: RunData, outputs: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for name in outputs:
        recs = [r for r in data.manifest if r.get("output") == name]
        shapes = Counter("x".join(str(v) for v in (r.get("shape") or [])) for r in recs)
        spec = ((data.run.get("recipe") or {}).get("outputs") or {}).get(name) or {}
        rows.append(
            {
                "name": name,
                "files": len(recs),
                "format": spec.get("format") or (recs[0].get("format") if recs else ""),
                "write": spec.get("write", "image"),
                "steps": ", ".join(str(s.get("op")) for s in spec.get("steps") or []) or "–",
                "shape": ", ".join(f"{s} ({n:,})" for s, n in shapes.most_common(3)),
                "dtype": ", ".join(sorted({str(r.get("dtype")) for r in recs})),
                "with_roi": sum(1 for r in recs if r.get("roi_bbox")),
            }
        )
    return rows


def _recipe_steps(run: Mapping[str, Any]) -> str:
    recipe = run.get("recipe") or {}
    # Only the operations: the source block holds paths, which the report never shows.
    return json.dumps(recipe.get("steps") or [], sort_keys=True)


def first_context(
    base: dict[str, Any],
    data: RunData,
    redact: Redactor,
    outputs: Sequence[str],
    split_counts: Sequence[tuple[str, int]],
    counts: Mapping[str, Any],
    warnings: Sequence[Mapping[str, Any]],
    failures: Sequence[Mapping[str, Any]],
    figs: Sequence[Mapping[str, str]],
) -> dict[str, Any]:
    """The first page's template context: a gallery page's `base` and the run's sections.

    `warnings` and `failures` are the redacted rows of the lists (the first
    :data:`LIST_LIMIT` are shown), `figs` the figures drawn (``src`` and ``caption``).
    """
    return dict(
        base,
        recipe_steps=redact(_recipe_steps(data.run)),
        source_kind=str(((data.run.get("recipe") or {}).get("source") or {}).get("kind", "")),
        output_table=_outputs_table(data, outputs),
        split_counts=split_counts,
        label_counts=counts,
        histograms=_histograms(data, outputs),
        warning_kinds=stats.warning_kind_counts(data.warnings),
        warnings=list(warnings[:LIST_LIMIT]),
        n_warnings_listed=len(warnings),
        failure_kinds=Counter(f["error"] for f in failures).most_common(),
        failures=list(failures[:LIST_LIMIT]),
        n_failures_listed=len(failures),
        deid=_deid_rows(data.deid, redact) if data.deid is not None else None,
        figures=list(figs),
    )


def issue_rows(
    data: RunData, redact: Redactor
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The run's failures and warnings as the lists show them, their text redacted."""
    failures = [
        {
            "item_id": str(f.get("item_id")),
            "error": redact(f.get("error", "")),
            "message": redact(f.get("message", "")),
        }
        for f in data.failures
    ]
    warnings = [
        {
            "sample_id": str(w.get("sample_id")),
            "kind": stats.warning_kind(str(w.get("warning", ""))),
            "message": redact(w.get("warning", "")),
        }
        for w in data.warnings
    ]
    return failures, warnings
