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
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from radprep.io.write import atomic_write_bytes
from radprep.report import figures, sections, stats
from radprep.report.sections import LIST_LIMIT
from radprep.report.stats import GalleryItem, RunData

__all__ = ["LIST_LIMIT", "build_report", "gallery_pages", "page_name"]

_GRID_ITEMS = 6  # rows of the notebook's grid figure
_CELL_PX = 128  # gallery thumbnails are shown in a square of this side


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
    env.filters["num"] = sections.num
    return env


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


def _write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


@dataclass
class _Drawing:
    """The report's figures, drawn on two threads while the pages render."""

    grid: Future[Path | None]
    labels: Future[Path | None]
    n_grid: int  # samples in the grid
    mammography: bool

    def figures(self, fig_dir: Path, n_items: int) -> list[dict[str, str]]:
        """Wait for the figures; return those drawn (``src``, ``caption``), drop stale ones."""
        figs: list[dict[str, str]] = []
        if self.grid.result():
            which = (
                "every sample"
                if self.n_grid == n_items
                else f"{self.n_grid} of the {n_items} samples, spread over the run (those "
                "with an ROI first; the gallery shows them all)"
            )
            figs.append(
                {
                    "src": "figures/grid.png",
                    "caption": "Original (ROI contour in red, crop box in yellow"
                    + (", breast contour in cyan" if self.mammography else "")
                    + f"), ROI mask, processed and occluded outputs of {which}.",
                }
            )
        if self.labels.result():
            figs.append(
                {"src": "figures/labels.png", "caption": "Samples by label value and split."}
            )
        # A figure an earlier build drew and this one did not.
        _drop_others(fig_dir.glob("*.png"), {f["src"].split("/", 1)[1] for f in figs})
        return figs


def _start_figures(
    out: Path, data: RunData, items: Sequence[GalleryItem], counts: Mapping[str, Any]
) -> _Drawing:
    """Start drawing the grid and the label chart (OpenCV and Pillow release the GIL)."""
    fig_dir = out / "report" / "figures"
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
    return _Drawing(grid_done, labels_done, len(chosen), mammography)


def _drop_others(found: Iterable[Path], keep: set[str]) -> None:
    """Delete the files of `found` whose names are not in `keep` (left by an earlier build)."""
    for old in found:
        if old.name not in keep:
            old.unlink()


def _write_filter_index(
    report: Path, items: Sequence[GalleryItem], pages: Sequence[range], page_files: list[str]
) -> None:
    """Write ``filter-index.js``: each page's samples as ids of their filter tokens."""
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


def _write_gallery_pages(
    report: Path,
    template: jinja2.Template,
    page_context: Callable[[int], dict[str, Any]],
    page_files: Sequence[str],
) -> None:
    """Write gallery pages 2, 3, ... (page 1 is in ``index.html``); drop older ones past them."""
    for p in range(2, len(page_files) + 1):
        _write_text(report / page_name(p), template.render(**page_context(p)))
    _drop_others(report.glob("gallery-*.html"), set(page_files))


def _write_lists(
    env: jinja2.Environment,
    report: Path,
    common: Mapping[str, Any],
    lists: Mapping[str, Sequence[Mapping[str, Any]]],
) -> None:
    """Give failures or warnings longer than :data:`LIST_LIMIT` a page; drop a stale one."""
    for kind, rows in lists.items():
        target = report / f"{kind}.html"
        if len(rows) > LIST_LIMIT:
            template = env.get_template("list.html")  # compiled only when a list needs a page
            _write_text(target, template.render(common, kind=kind, rows=rows))
        elif target.exists():
            target.unlink()


def _page_renderer(
    common: Mapping[str, Any],
    pages: Sequence[range],
    items: Sequence[GalleryItem],
    outputs: Sequence[str],
) -> Callable[[int], dict[str, Any]]:
    """The template context of gallery page `p` (1-based), from what every page shares."""

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

    return page_context


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
    counts = stats.label_split_counts(stats.sample_labels(data), splits)
    split_counts = sorted(Counter(splits.values()).items(), key=lambda kv: stats.split_order(kv[0]))
    drawing = _start_figures(out, data, items, counts)

    pages = gallery_pages(len(items), len(outputs), data.page_size)
    page_files = [page_name(p) for p in range(1, len(pages) + 1)]
    _write_filter_index(report, items, pages, page_files)
    failures, warnings = sections.issue_rows(data, redact)
    common = {
        "title": str((data.run.get("recipe") or {}).get("name") or "radprep run"),
        "summary": summary,
        "outputs": outputs,
        "splits": [s for s, _ in split_counts],
        "filters": {name: [v for v, _, _ in t["rows"]] for name, t in counts.items()},
        "n_pages": len(pages),
        "n_samples": len(items),
        "page_files": page_files,
    }
    template = env.get_template("page.html")
    page_context = _page_renderer(common, pages, items, outputs)
    _write_gallery_pages(report, template, page_context, page_files)
    _write_lists(env, report, common, {"failures": failures, "warnings": warnings})
    figs = drawing.figures(report / "figures", len(items))
    # index.html last, once everything it links to exists.
    first = sections.first_context(
        page_context(1), data, redact, outputs, split_counts, counts, warnings, failures, figs
    )
    return _write_text(report / "index.html", template.render(**first))
