"""The QA report of a 5,000-item run: build time, and first-page render time in headless Chromium.

A synthetic run folder (items.jsonl, small thumbnails of the original, its ROI mask and three
outputs, a manifest, failures, warnings) is built with ``tests/report/test_report_synthetic.py``'s
``make_run_folder``. The report (pages of about 200 thumbnails) is set beside the same run
rendered as one page holding every sample, the shape a naive report takes.

Run: ``.venv/bin/python benchmarks/report.py [N]`` (needs Debian's chromium and playwright).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests" / "report"))

from test_report_synthetic import make_run_folder  # tests/: the synthetic run folder

from _common import machine, table, write_result
from radprep.report import build_report

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPEAT = 5

# After the load event: every image in the viewport decoded (lazy ones below it are not asked for).
_VISIBLE_DONE = """() => Array.from(document.images).filter(i => {
  const r = i.getBoundingClientRect();
  return r.bottom > 0 && r.top < innerHeight && r.width > 0;
}).every(i => i.complete && i.naturalWidth > 0)"""


def _render(browser: Any, url: str) -> dict[str, float]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    t0 = time.perf_counter()
    page.goto(url, wait_until="load")
    t_load = time.perf_counter() - t0
    page.wait_for_function(_VISIBLE_DONE, timeout=60000)
    t_visible = time.perf_counter() - t0
    fcp = page.evaluate(
        "(performance.getEntriesByName('first-contentful-paint')[0] || {startTime: NaN}).startTime"
    )
    page.close()
    return {"load": t_load * 1000, "visible": t_visible * 1000, "fcp": float(fcp)}


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(n: int = 5000) -> None:
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="radprep-report-bench-"))
    try:
        out = tmp / "run"
        t0 = time.perf_counter()
        make_run_folder(out, n, n_failed=25)
        make_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_report(out)
        build_s = time.perf_counter() - t0
        pages = len(list((out / "report").glob("gallery-*.html"))) + 1
        index_kb = (out / "report" / "index.html").stat().st_size / 1024
        filter_kb = (out / "report" / "filter-index.js").stat().st_size / 1024

        # The naive shape: every sample on one page (page size above the run's thumbnails).
        single = tmp / "single"
        shutil.copytree(out, single, ignore=shutil.ignore_patterns("index.html", "gallery-*"))
        run_json = single / "run.json"
        text = run_json.read_text().replace('"page_size": 200', '"page_size": 1000000')
        run_json.write_text(text)
        build_report(single)
        single_kb = (single / "report" / "index.html").stat().st_size / 1024

        paged, one = out / "report", single / "report"
        targets = [
            ("paged: index.html (summary, then gallery page 1)", paged / "index.html", ""),
            ("paged: index.html#gallery (first samples in view)", paged / "index.html", "#gallery"),
            ("paged: gallery-0050.html", paged / "gallery-0050.html", ""),
            (f"one page, all {n:,} samples", one / "index.html", ""),
            (f"one page, all {n:,} samples, #gallery", one / "index.html", "#gallery"),
        ]
        rows = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            _render(browser, targets[0][1].as_uri())  # warm-up: process start, font cache
            first_visible = None
            for label, path, anchor in targets:
                runs = [_render(browser, path.as_uri() + anchor) for _ in range(REPEAT)]
                size = path.stat().st_size / 1024
                visible = _median(runs, "visible")
                if first_visible is None:
                    first_visible = visible
                rows.append(
                    [
                        label,
                        f"{size:,.0f}",
                        f"{_median(runs, 'fcp'):.0f}",
                        f"{_median(runs, 'load'):.0f}",
                        f"{visible:.0f}",
                        f"{visible / first_visible:.1f}x",
                    ]
                )
            browser.close()
        met = "met" if first_visible is not None and first_visible < 2000 else "NOT met"
        headers = ["page", "HTML KB", "first paint ms", "load ms", "first screen ms", "vs paged"]
        text = "\n".join(
            [
                f"# QA report of a {n:,}-item run",
                "",
                f"Machine: {machine()}; Chromium headless (Debian), viewport 1400x1000.",
                f"Synthetic run folder: {n:,} samples x 5 thumbnails (original, ROI mask, "
                f"3 outputs), {n * 3:,} manifest rows, 25 failures; written in {make_s:.1f} s.",
                f"`build_report`: {build_s:.2f} s for {pages} pages (index.html "
                f"{index_kb:,.0f} KB, filter-index.js {filter_kb:,.0f} KB; the one-page variant "
                f"is {single_kb:,.0f} KB).",
                "",
                f"Medians of {REPEAT} page loads from file:// (ms): first contentful paint, load "
                "event, and every image in the viewport decoded (the page as the user first sees "
                "it).",
                "",
                table(headers, rows),
                "",
                f"Requirement: the first page renders in under 2 s: {met} "
                f"({first_visible:.0f} ms).",
            ]
        )
        write_result("report", text)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
