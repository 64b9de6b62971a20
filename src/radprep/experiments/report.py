"""The occlusion experiment's report page: ``OUT/report.html`` with figures in ``OUT/figures/``.

Score distributions with and without the ROI (and the control box) by pathology and split, ROC
AUC with and without the ROI when a label is binary, and the samples whose score moves most,
each with its overlay. The page is self-contained (inline CSS, images as files beside it).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from radprep.io.write import atomic_write_bytes

__all__ = ["BINARY_LABELS", "build_occlusion_report", "roc_auc"]

BINARY_LABELS = ("pathology_binary",)
"""Labels tried, in order, for the ROC AUC (the first with exactly the values 0 and 1)."""
TOP_MOVERS = 12
_SERIES = (
    ("score_full", "image", "#1f77b4"),
    ("score_occluded", "ROI occluded", "#d62728"),
    ("score_control", "control box occluded", "#7f7f7f"),
)


def roc_auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Return the ROC AUC of `scores` for binary `labels` (1 positive), ties counted half.

    It is the Mann-Whitney U statistic over (positives x negatives), from average ranks; NaN
    when a class is empty or a score is not finite.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    keep = np.isfinite(s)
    s, y = s[keep], y[keep]
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), np.float64)
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _binary_label(rows: Sequence[Mapping[str, Any]]) -> str | None:
    for name in BINARY_LABELS:
        values = {r.get(f"label_{name}") for r in rows} - {None}
        if values and values <= {0, 1} and len(values) == 2:
            return name
    return None


def _auc_rows(rows: Sequence[Mapping[str, Any]], label: str) -> list[dict[str, Any]]:
    groups: dict[str, list[Mapping[str, Any]]] = {"all": list(rows)}
    for r in rows:
        groups.setdefault(str(r.get("split") or "none"), []).append(r)
    out = []
    for name, rs in groups.items():
        kept = [r for r in rs if r.get(f"label_{label}") is not None]
        y = [int(r[f"label_{label}"]) for r in kept]
        out.append(
            {
                "split": name,
                "n": len(kept),
                "positives": sum(y),
                **{key: roc_auc([r[key] for r in kept], y) for key, _, _ in _SERIES},
            }
        )
    return out


def _save(fig: Any, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return atomic_write_bytes(path, buf.getvalue())


def _distribution_figure(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = sorted({str(r.get("split") or "none") for r in rows})
    groups = sorted({str(r.get("label_pathology") or "all") for r in rows})
    fig, axes = plt.subplots(
        1, len(splits), figsize=(max(4.5, 2.2 * len(groups)) * len(splits), 3.6), squeeze=False
    )
    rng = np.random.default_rng(0)
    for ax, split in zip(axes[0], splits, strict=True):
        in_split = [r for r in rows if str(r.get("split") or "none") == split]
        for g, group in enumerate(groups):
            rs = [r for r in in_split if str(r.get("label_pathology") or "all") == group]
            for k, (key, name, colour) in enumerate(_SERIES):
                vals = [r[key] for r in rs if math.isfinite(r[key])]
                x = g + (k - 1) * 0.25
                if vals:
                    ax.boxplot(
                        vals,
                        positions=[x],
                        widths=0.2,
                        showfliers=False,
                        patch_artist=True,
                        boxprops={"facecolor": colour, "alpha": 0.25},
                        medianprops={"color": colour},
                    )
                    ax.scatter(
                        x + rng.uniform(-0.06, 0.06, len(vals)),
                        vals,
                        s=12,
                        color=colour,
                        label=name if g == 0 else None,
                        zorder=3,
                    )
        ax.set_xticks(range(len(groups)))
        counts = [
            sum(1 for r in in_split if str(r.get("label_pathology") or "all") == g) for g in groups
        ]
        ax.set_xticklabels(
            [f"{g}\n(n={n})" for g, n in zip(groups, counts, strict=True)],
            fontsize=7,
        )
        ax.set_title(f"split: {split} ({len(in_split)} samples)", fontsize=10)
        ax.set_ylabel("score")
        ax.set_xlim(-0.6, len(groups) - 0.4)
    if axes[0][0].get_legend_handles_labels()[0]:
        axes[0][0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    saved = _save(fig, path)
    plt.close(fig)
    return saved


def _drop_figure(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6))
    drop = np.array([r["score_drop"] for r in rows], np.float64)
    ctrl = np.array([r["control_drop"] for r in rows], np.float64)
    both = np.isfinite(drop) & np.isfinite(ctrl)
    ax1.scatter(ctrl[both], drop[both], s=14, color="#d62728")
    lim = [
        float(np.nanmin(np.r_[drop, ctrl, 0])) if len(rows) else 0,
        float(np.nanmax(np.r_[drop, ctrl, 0])) if len(rows) else 1,
    ]
    ax1.plot(lim, lim, color="#999", lw=0.8, ls="--")
    ax1.set_xlabel("drop with the control box occluded")
    ax1.set_ylabel("drop with the ROI occluded")
    ax1.set_title("score drop: ROI against control", fontsize=10)
    share = np.array([r["roi_share"] for r in rows], np.float64)
    area = np.array([r["roi_area_share"] for r in rows], np.float64)
    ok = np.isfinite(share)
    ax2.scatter(area[ok], share[ok], s=14, color="#1f77b4")
    ax2.plot([0, 1], [0, 1], color="#999", lw=0.8, ls="--")
    ax2.set_xlim(0, max(0.05, float(np.nanmax(np.r_[area, 0.05])) * 1.2))
    ax2.set_ylim(0, 1)
    ax2.set_xlabel("ROI share of the image (chance)")
    ax2.set_ylabel("ROI share of the map's positive mass")
    ax2.set_title("where the sensitivity map points", fontsize=10)
    fig.tight_layout()
    saved = _save(fig, path)
    plt.close(fig)
    return saved


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _sig(v: Any, digits: int = 4) -> str:
    """Significant digits: untrained or calibrated models give scores of any magnitude."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{float(v):.{digits}g}"


def build_occlusion_report(
    out_dir: str | Path,
    rows: Sequence[Mapping[str, Any]],
    info: Mapping[str, Any],
    not_eligible: Sequence[Mapping[str, Any]] = (),
    failures: Sequence[Mapping[str, Any]] = (),
) -> Path:
    """Write ``report.html`` (and ``figures/*.png``) for an occlusion run; return its path."""
    out = Path(out_dir)
    figures = []
    if rows:
        _distribution_figure(rows, out / "figures" / "scores.png")
        figures.append(
            ("figures/scores.png", "Scores on the image, with the ROI occluded and with the "
             "control box occluded, by pathology and split (boxes: quartiles; dots: samples).")
        )  # fmt: skip
        _drop_figure(rows, out / "figures" / "drops.png")
        figures.append(
            ("figures/drops.png", "Left: the drop in score when the ROI is occluded against "
             "the drop for a same-size box elsewhere in the breast. Right: the share of the "
             "sensitivity map's positive mass inside the ROI against the ROI's share of the "
             "image (the dashed line is chance).")
        )  # fmt: skip
    shares = [r["control_breast_share"] for r in rows]
    controls = {
        "placed": sum(1 for v in shares if math.isfinite(v)),
        "below": sum(
            1 for v in shares if math.isfinite(v) and v < info["settings"]["control_min_breast"]
        ),
    }
    label = _binary_label(rows)
    auc = _auc_rows(rows, label) if label else []
    movers = sorted(
        rows, key=lambda r: -abs(r["score_drop"]) if math.isfinite(r["score_drop"]) else 0
    )[:TOP_MOVERS]
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("radprep.experiments", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["f"] = _fmt
    env.filters["g"] = _sig
    css = resources.files("radprep.report").joinpath("templates/style.css").read_text()
    html = env.get_template("occlusion.html").render(
        css=css,
        info=info,
        rows=rows,
        figures=figures,
        auc=auc,
        auc_label=label,
        series=_SERIES,
        movers=movers,
        controls=controls,
        not_eligible=not_eligible,
        failures=failures,
    )
    return atomic_write_bytes(out / "report.html", html.encode())
