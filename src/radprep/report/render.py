"""Write the HTML report of a run folder: ``report/index.html`` and its gallery pages.

Every page is self-contained (inline CSS and JavaScript, no fonts, styles or scripts from the
network) and opens from disk. Thumbnails stay files beside the pages (``report/thumbs/``), loaded
lazily. The gallery is cut into pages of about ``report.page_size`` thumbnails: page 1 is part
of ``index.html``, the others are ``gallery-0002.html``, ... so the first page stays light
however large the run. Filters (split, labels) run in the page; ``filter-index.js`` (loaded with
a ``<script src>``, which works from ``file://`` where ``fetch`` does not) tells on which other
pages the filtered samples are.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from radprep.io.write import atomic_write_bytes
from radprep.report import figures, stats
from radprep.report.stats import GalleryItem, Redactor, RunData

__all__ = ["LIST_LIMIT", "build_report", "gallery_pages", "page_name"]

LIST_LIMIT = 100
"""Failures and warnings listed on the first page; longer lists get a page of their own."""

_HIST_ITEMS = 12  # items whose before/after histograms are drawn
_GRID_ITEMS = 6  # rows of the notebook's grid figure
_HIST_W, _HIST_H = 192, 48
_CELL_PX = 128  # gallery thumbnails are shown in a square of this side
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")


class _TemplateCache(jinja2.FileSystemBytecodeCache):
    """Jinja2's compiled templates kept between runs (compiling the page, its style and script
    takes a quarter of a second or more at every run otherwise), in Jinja2's per-user folder
    (mode 0700) of the temporary directory, keyed by each template's text. A cache that cannot
    be read or written is passed over: the templates are compiled as without one."""

    def load_bytecode(self, bucket: Any) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, ValueError, EOFError):
            bucket.reset()

    def dump_bytecode(self, bucket: Any) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _template_cache() -> jinja2.BytecodeCache | None:
    try:
        return _TemplateCache()
    except (OSError, RuntimeError):  # no private temporary folder to be had
        return None


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("radprep.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        bytecode_cache=_template_cache(),
    )
    env.filters["num"] = _num
    return env


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):,.{digits}f}"


def page_name(page: int) -> str:
    """The file of gallery page `page` (1-based): ``index.html``, then ``gallery-0002.html``."""
    return "index.html" if page == 1 else f"gallery-{page:04d}.html"


def gallery_pages(n_items: int, n_outputs: int, page_size: int) -> list[range]:
    """Cut `n_items` rows of ``1 + n_outputs`` thumbnails into pages of about `page_size`."""
    per_page = max(1, page_size // (1 + n_outputs))
    return [range(i, min(i + per_page, n_items)) for i in range(0, n_items, per_page)] or [range(0)]


def _url(rel: str) -> str:
    # Thumbnails are under report/, pages too: drop the prefix, quote the sample id's characters.
    if rel.startswith("report/"):
        rel = rel[len("report/") :]
    return quote(rel, safe="/")


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


def _row(item: GalleryItem, outputs: Sequence[str]) -> dict[str, Any]:
    rows, cols = item.source_shape
    scale = _CELL_PX / max(rows, cols, 1)
    return {
        "dw": max(1, round(cols * scale)),
        "dh": max(1, round(rows * scale)),
        "sample_id": item.sample_id,
        "split": item.split,
        "labels": [(k, _short(v)) for k, v in sorted(item.labels.items())],
        "tokens": json.dumps(item.tokens, ensure_ascii=False),
        "rows": rows,
        "cols": cols,
        "source": _url(item.thumbs["source"]) if "source" in item.thumbs else None,
        "contours": item.contours,
        "boxes": [
            {
                "name": name,
                "x": _coord(b[1] - 0.5),
                "y": _coord(b[0] - 0.5),
                "w": _coord(b[3] - b[1] + 1),
                "h": _coord(b[2] - b[0] + 1),
            }
            for name, b in item.boxes
        ],
        "outputs": [
            (name, _url(item.thumbs[name]) if name in item.thumbs else None) for name in outputs
        ],
        "n_warnings": item.n_warnings,
    }


def _short(value: Any, limit: int = 40) -> str:
    """A label as the gallery shows it: long values (per-abnormality lists) cut short."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _coord(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _nav(page: int, n_pages: int) -> list[tuple[str, str | None]]:
    """Pagination links: first, a window around `page`, last; gaps as (…, None)."""
    keep = {1, n_pages} | set(range(max(1, page - 3), min(n_pages, page + 3) + 1))
    out: list[tuple[str, str | None]] = []
    last = 0
    for p in sorted(keep):
        if p - last > 1:
            out.append(("…", None))
        out.append((str(p), None if p == page else page_name(p)))
        last = p
    return out


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
                    "value": _num(value, 2 if isinstance(value, float) else 0),
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


def _write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def build_report(out_dir: str | Path) -> Path:
    """Build ``report/index.html`` (and its pages and figures) from a run folder.

    Parameters
    ----------
    out_dir : path
        A folder written by ``radprep run``: ``run.json``, ``manifest.parquet``,
        ``report/items.jsonl`` and the thumbnails, ``failures.jsonl``, ``warnings.jsonl``,
        optionally ``deid_summary.json``.

    Returns
    -------
    Path
        ``<out_dir>/report/index.html``.

    Raises
    ------
    SpecError
        If `out_dir` is not a run folder.
    OutputError
        If a report file cannot be written.
    """
    data, redact = stats.load_run(out_dir)
    out = Path(out_dir)
    report = out / "report"
    env = _env()
    outputs = data.outputs
    summary = stats.summary(data)
    items = stats.gallery_items(data)
    for it in items:
        it.contours = figures.roi_contours(out, it)
    splits = stats.sample_splits(data.manifest)
    labels = stats.sample_labels(data)
    counts = stats.label_split_counts(labels, splits)
    split_counts = sorted(Counter(splits.values()).items(), key=lambda kv: stats.split_order(kv[0]))

    # The figures draw on two threads (OpenCV and Pillow release the GIL) while the pages render.
    fig_dir = report / "figures"
    with_roi = [it.sample_id for it in items if "source-roi" in it.thumbs]
    chosen = set(stats.pick_samples([it.sample_id for it in items], _GRID_ITEMS, prefer=with_roi))
    recipe = data.run.get("recipe") or {}
    mammography = (recipe.get("source") or {}).get("kind") == "cbis-ddsm"
    drawing = ThreadPoolExecutor(max_workers=2, thread_name_prefix="radprep-figure")
    grid_done = drawing.submit(
        figures.sample_grid,
        out,
        [it for it in items if it.sample_id in chosen],
        figures.grid_columns(recipe),
        fig_dir / "grid.png",
        breast=mammography,
    )
    labels_done = drawing.submit(figures.label_distribution, counts, fig_dir / "labels.png")
    drawing.shutdown(wait=False)

    pages = gallery_pages(len(items), len(outputs), data.page_size)
    page_files = [page_name(p) for p in range(1, len(pages) + 1)]
    filters = {name: [v for v, _, _ in t["rows"]] for name, t in counts.items()}
    token_ids: dict[str, int] = {}
    index_pages: list[list[list[int]]] = []
    for rng in pages:
        index_pages.append(
            [[token_ids.setdefault(t, len(token_ids)) for t in items[i].tokens] for i in rng]
        )
    filter_index = {"files": page_files, "tokens": list(token_ids), "pages": index_pages}
    _write_text(
        report / "filter-index.js",
        "window.RADPREP_INDEX = "
        + json.dumps(filter_index, ensure_ascii=False, separators=(",", ":"))
        + ";\n",
    )

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
    common = {
        "title": str((data.run.get("recipe") or {}).get("name") or "radprep run"),
        "summary": summary,
        "outputs": outputs,
        "splits": [s for s, _ in split_counts],
        "filters": filters,
        "n_pages": len(pages),
        "n_samples": len(items),
        "page_files": page_files,
    }
    template = env.get_template("page.html")

    def page_context(p: int) -> dict[str, Any]:
        rng = pages[p - 1]
        return dict(
            common,
            page=p,
            first=p == 1,
            nav=_nav(p, len(pages)),
            rows=[_row(items[i], outputs) for i in rng],
            first_index=rng.start + 1 if len(rng) else 0,
            last_index=rng.stop,
        )

    for p in range(2, len(pages) + 1):
        _write_text(report / page_name(p), template.render(**page_context(p)))
    for kind, rows in (("failures", failures), ("warnings", warnings)):
        target = report / f"{kind}.html"
        if len(rows) > LIST_LIMIT:
            lists = env.get_template("list.html")  # compiled only when a list needs a page
            _write_text(target, lists.render(common, kind=kind, rows=rows))
        elif target.exists():
            target.unlink()
    keep = set(page_files)
    for old in report.glob("gallery-*.html"):
        if old.name not in keep:
            old.unlink()
    figs: list[dict[str, str]] = []
    if grid_done.result():
        which = (
            "every sample"
            if len(chosen) == len(items)
            else f"{len(chosen)} of the {len(items)} samples, spread over the run (those "
            "with an ROI first; the gallery shows them all)"
        )
        figs.append(
            {
                "src": "figures/grid.png",
                "caption": "Original (ROI contour in red, crop box in yellow"
                + (", breast contour in cyan" if mammography else "")
                + f"), ROI mask, processed and occluded outputs of {which}.",
            }
        )
    if labels_done.result():
        figs.append({"src": "figures/labels.png", "caption": "Samples by label value and split."})
    drawn = {f["src"].split("/", 1)[1] for f in figs}
    for old in fig_dir.glob("*.png"):  # a figure an earlier build drew and this one did not
        if old.name not in drawn:
            old.unlink()
    # index.html last, once everything it links to exists.
    first = _first_context(
        page_context(1), data, redact, outputs, split_counts, counts, warnings, failures, figs
    )
    return _write_text(report / "index.html", template.render(**first))


def _first_context(
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
