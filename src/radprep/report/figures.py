"""The report's pictures: ROI contours from the mask thumbnails, and matplotlib figures.

Figures are drawn with matplotlib's object API (no pyplot state, the Agg canvas) and saved under
``report/figures/`` with fixed names (``grid.png``, ``labels.png``), so no file name carries a
sample id or anything from the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from radprep.report.stats import GalleryItem
from radprep.report.thumbs import mask_outline

__all__ = ["grid_columns", "label_distribution", "roi_contours", "sample_grid"]

_GRID_LABELS = 6  # labels written beside each row of the grid (short values only)
_GRID_FIRST = {"pathology", "laterality", "view", "abnormality_type", "split"}
_SPLIT_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#999999")


def _read_grey(path: Path) -> np.ndarray | None:
    if not path.is_file():
        return None
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def roi_contours(out_dir: str | Path, item: GalleryItem) -> list[str]:
    """Return the outlines of the sample's ROI as SVG paths in original pixel coordinates.

    Parameters
    ----------
    out_dir : path
        The run folder.
    item : GalleryItem
        The sample: its ``roi_outline`` (written by the run) is used, else its ``source-roi``
        thumbnail (the union of its masks) is outlined.

    Returns
    -------
    list of str
        One ``M x y L ... Z`` path per outer contour; empty when the sample has no mask.
    """
    polygons = item.outline
    if polygons is None:
        rel = item.thumbs.get("source-roi")
        mask = _read_grey(Path(out_dir) / rel) if rel else None
        polygons = mask_outline(mask, item.source_shape) if mask is not None else []
    return [
        "M" + " L".join(f"{int(x)} {int(y)}" for x, y in poly) + " Z" for poly in polygons if poly
    ]


def grid_columns(recipe: Mapping[str, Any]) -> dict[str, str | None]:
    """Choose the outputs shown as the notebook's columns.

    Returns
    -------
    dict
        ``mask``, ``processed`` and ``occluded``: an output name or None. The ROI mask column
        falls back to the original's ``source-roi`` thumbnail when no output writes a mask.
    """
    outputs = recipe.get("outputs") or {}
    mask = processed = occluded = None
    for name, spec in outputs.items():
        spec = spec or {}
        ops = {str(s.get("op")) for s in spec.get("steps") or [] if isinstance(s, Mapping)}
        if str(spec.get("write", "image")) != "image":
            mask = mask or name
        elif "occlude_roi" in ops:
            occluded = occluded or name
        else:
            processed = processed or name
    return {"mask": mask, "processed": processed, "occluded": occluded}


def sample_grid(
    out_dir: str | Path,
    items: Sequence[GalleryItem],
    columns: Mapping[str, str | None],
    path: str | Path,
    *,
    breast: bool = False,
) -> Path | None:
    """Draw the notebook's grid: original (ROI contour, crop box), ROI mask, processed, occluded.

    Each row starts with its sample id and labels, written level in a column of their own (no
    rotated text to run into the images).

    Parameters
    ----------
    out_dir : path
        The run folder (thumbnails are read from it).
    items : sequence of GalleryItem
        One row per sample.
    columns : mapping
        From :func:`grid_columns`.
    path : path
        The PNG to write.
    breast : bool
        Draw the breast contour (:func:`radprep.clean.breast_mask` of the thumbnail) on the
        originals: mammograms.

    Returns
    -------
    Path or None
        The figure, or None when there is no sample.
    """
    import textwrap

    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    if not items:
        return None
    out = Path(out_dir)
    cols: list[tuple[str, str | None]] = [("original", "source")]
    if columns.get("mask") or any("source-roi" in it.thumbs for it in items):
        cols.append(("ROI mask", columns.get("mask") or "source-roi"))
    if columns.get("processed"):
        cols.append((f"processed ({columns['processed']})", columns["processed"]))
    if columns.get("occluded"):
        cols.append((f"occluded ({columns['occluded']})", columns["occluded"]))
    fig = Figure(figsize=(2.2 * len(cols) + 2.4, 2.4 * len(items)), dpi=80)
    axes = fig.subplots(
        len(items), len(cols) + 1, squeeze=False, width_ratios=[1.1] + [1.0] * len(cols)
    )
    for r, item in enumerate(items):
        text_ax = axes[r][0]
        text_ax.set_axis_off()
        lines = textwrap.wrap(item.sample_id, 24, break_on_hyphens=False)[:3]
        short = sorted(
            ((k, str(v)) for k, v in item.labels.items() if len(str(v)) <= 20),
            key=lambda kv: (kv[0] not in _GRID_FIRST, kv[0]),
        )
        lines += [f"{k[:14]}: {v}" for k, v in short[:_GRID_LABELS]]
        text_ax.text(0.0, 0.5, "\n".join(lines), fontsize=7.5, va="center", ha="left")
        for c, (title, kind) in enumerate(cols):
            ax = axes[r][c + 1]
            ax.set_xticks([])
            ax.set_yticks([])
            rel = item.thumbs.get(kind or "") or (
                item.thumbs.get("source-roi") if title == "ROI mask" else None
            )
            img = _read_grey(out / rel) if rel else None
            if img is None:
                ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes)
                ax.set_facecolor("#eeeeee")
            else:
                ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            if r == 0:
                ax.set_title(title, fontsize=9)
            if c == 0 and img is not None:
                if breast:
                    _draw_breast(ax, img)
                _draw_overlays(ax, out, item, img.shape, Rectangle)
    fig.tight_layout()
    return _save(fig, path)


def _draw_breast(ax: Any, img: np.ndarray) -> None:
    from radprep.clean.breast import breast_mask

    mask = breast_mask(img).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    for c in contours:
        xy = np.vstack([c[:, 0, :], c[:1, 0, :]]).astype(np.float64)
        ax.plot(xy[:, 0], xy[:, 1], color="#00d5ff", lw=1)


def _draw_overlays(ax: Any, out: Path, item: GalleryItem, shape: Sequence[int], rect: Any) -> None:
    sy, sx = shape[0] / item.source_shape[0], shape[1] / item.source_shape[1]
    mask_rel = item.thumbs.get("source-roi")
    mask = _read_grey(out / mask_rel) if mask_rel else None
    if mask is not None:
        my, mx = shape[0] / mask.shape[0], shape[1] / mask.shape[1]
        for polygon in mask_outline(mask):
            xy = np.asarray(polygon + polygon[:1], dtype=np.float64)
            ax.plot((xy[:, 0] + 0.5) * mx - 0.5, (xy[:, 1] + 0.5) * my - 0.5, color="#ff3030", lw=1)
    for _, (y0, x0, y1, x1) in item.boxes:
        ax.add_patch(
            rect(
                (x0 * sx - 0.5, y0 * sy - 0.5),
                (x1 - x0 + 1) * sx,
                (y1 - y0 + 1) * sy,
                fill=False,
                edgecolor="#ffd000",
                lw=1.2,
            )
        )
    ax.set_xlim(-0.5, shape[1] - 0.5)
    ax.set_ylim(shape[0] - 0.5, -0.5)


def label_distribution(counts: Mapping[str, Mapping[str, Any]], path: str | Path) -> Path | None:
    """Draw one bar chart per label: samples by value, one bar per split.

    Parameters
    ----------
    counts : mapping
        From :func:`radprep.report.stats.label_split_counts`.
    path : path
        The PNG to write.

    Returns
    -------
    Path or None
        The figure, or None when there is no label to draw.
    """
    from matplotlib.figure import Figure

    names = [n for n, t in counts.items() if t["rows"]]
    if not names:
        return None
    ncols = min(4, len(names))
    nrows = -(-len(names) // ncols)
    # The page's full width (1600 px at 100 dpi), small multiples in rows of four.
    fig = Figure(figsize=(16.0, 2.9 * nrows), dpi=100)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        if k >= len(names):
            ax.set_axis_off()
            continue
        name = names[k]
        table = counts[name]
        splits, rows = table["splits"], table["rows"]
        x = np.arange(len(rows))
        width = 0.8 / max(1, len(splits))
        for i, split in enumerate(splits):
            ax.bar(
                x + (i - (len(splits) - 1) / 2) * width,
                [r[1][i] for r in rows],
                width,
                label=split,
                color=_SPLIT_COLOURS[i % len(_SPLIT_COLOURS)],
            )
        ax.set_xticks(x)
        ax.set_xticklabels([str(r[0])[:20] for r in rows], rotation=25, ha="right", fontsize=8)
        ax.set_title(name, fontsize=10)
        if k % ncols == 0:
            ax.set_ylabel("samples")
    handles, legend = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, legend, title="split", loc="upper right", fontsize=8, title_fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.94, 1))
    return _save(fig, path)


def _save(fig: Any, path: str | Path) -> Path:
    import io

    from radprep.io.write import atomic_write_bytes

    buf = io.BytesIO()
    # No "Software" key: the bytes depend on the drawing only.
    fig.savefig(buf, format="png", metadata={"Software": None})
    return atomic_write_bytes(path, buf.getvalue())
