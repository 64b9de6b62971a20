"""The QA report: thumbnails and histograms per item, then one HTML page per run.

:func:`build_report` turns a run folder into ``report/index.html`` (summary, dataset, failures,
warnings, intensity, de-identification, figures and the first gallery page), further gallery
pages and matplotlib figures under ``report/figures/``.
"""

from radprep.report.render import build_report

__all__ = ["build_report"]
