"""The QA report: thumbnails and histograms per item, then one HTML page per run.

:func:`build_report` turns a run folder into ``report/index.html`` (summary, dataset, failures,
warnings, intensity, de-identification, figures and the first gallery page), further gallery
pages and the figures under ``report/figures/``.

The page renderer (Jinja2, the statistics, the figures) loads on first use of
:func:`build_report`: a run's workers import :mod:`radprep.report.thumbs` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from radprep.report.render import build_report

from radprep._lazy import lazy_exports

__all__ = ["build_report"]


__getattr__, __dir__ = lazy_exports(__name__, {"build_report": "render"})
