"""The report's pictures: ROI contours from the mask thumbnails, the sample grid, the label charts.

The figures are composed from what the run already holds (the thumbnails it wrote, the label
counts), with OpenCV for lines and Pillow's bundled font for text: about a tenth of a second,
where a plotting library's start-up alone took a second or more at the end of every run. They
are saved under ``report/figures/`` with fixed names (``grid.png``, ``labels.png``), so no file
name carries a sample id or anything from the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from radprep.report.drawing import INK, font, save_rgb
from radprep.report.label_chart import label_distribution
from radprep.report.stats import GalleryItem
from radprep.report.thumbs import mask_outline

__all__ = ["grid_columns", "label_distribution", "roi_contours", "sample_grid"]

_GRID_LABELS = 6  # labels written beside each row of the grid (short values only)
_GRID_FIRST = {"pathology", "laterality", "view", "abnormality_type", "split"}
_CELL_W, _CELL_H = 220, 250  # the grid's image cells: each thumbnail fits one, aspect kept
_TEXT_W = 240  # the grid's first column: sample id and labels
_GAP = 14
_TOP = 34  # the grid's column titles
_RED, _YELLOW, _CYAN = (255, 48, 48), (255, 208, 0), (0, 213, 255)
_FRAME, _EMPTY = (60, 60, 60), (238, 238, 238)


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


def _fit(shape: Sequence[int], box_w: int, box_h: int) -> tuple[int, int]:
    """(width, height) of an image of `shape` scaled to fit a box, aspect kept."""
    rows, cols = shape[0], shape[1]
    scale = min(box_w / cols, box_h / rows)
    return max(1, round(cols * scale)), max(1, round(rows * scale))


def _polyline(
    canvas: np.ndarray, xy: np.ndarray, colour: tuple[int, int, int], width: int = 1
) -> None:
    """Draw a closed anti-aliased polygon given in (sub)pixel coordinates."""
    pts = np.round(np.asarray(xy, dtype=np.float64) * 16).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(canvas, [pts], True, colour, width, cv2.LINE_AA, shift=4)


def _cell(
    out: Path,
    item: GalleryItem,
    img: np.ndarray,
    *,
    overlays: bool,
    breast: bool,
) -> np.ndarray:
    """One grid image as RGB at its cell size, with the original's overlays when asked."""
    w, h = _fit(img.shape, _CELL_W, _CELL_H)
    interp = cv2.INTER_AREA if w < img.shape[1] else cv2.INTER_LINEAR
    shown = cv2.resize(img, (w, h), interpolation=interp)
    rgb = np.ascontiguousarray(np.repeat(shown[:, :, None], 3, axis=2))
    if not overlays:
        return rgb
    ky, kx = h / img.shape[0], w / img.shape[1]  # thumbnail pixels -> shown pixels
    if breast:
        from radprep.clean.breast import breast_mask

        mask = breast_mask(img).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for c in contours:
            xy = (c[:, 0, :].astype(np.float64) + 0.5) * (kx, ky) - 0.5
            _polyline(rgb, xy, _CYAN)
    mask_rel = item.thumbs.get("source-roi")
    roi = _read_grey(out / mask_rel) if mask_rel else None
    if roi is not None:
        my, mx = h / roi.shape[0], w / roi.shape[1]
        for polygon in mask_outline(roi):
            xy = (np.asarray(polygon, dtype=np.float64) + 0.5) * (mx, my) - 0.5
            _polyline(rgb, xy, _RED)
    sy, sx = h / item.source_shape[0], w / item.source_shape[1]  # original pixels -> shown
    for _, (y0, x0, y1, x1) in item.boxes:
        corners = np.array(
            [[x0, y0], [x1 + 1, y0], [x1 + 1, y1 + 1], [x0, y1 + 1]], dtype=np.float64
        )
        _polyline(rgb, corners * (sx, sy) - 0.5, _YELLOW, 2)
    return rgb


def _shown_columns(
    items: Sequence[GalleryItem], columns: Mapping[str, str | None]
) -> list[tuple[str, str | None]]:
    """The grid's image columns as (title, thumbnail kind): the original, then those chosen."""
    cols: list[tuple[str, str | None]] = [("original", "source")]
    if columns.get("mask") or any("source-roi" in it.thumbs for it in items):
        cols.append(("ROI mask", columns.get("mask") or "source-roi"))
    if columns.get("processed"):
        cols.append((f"processed ({columns['processed']})", columns["processed"]))
    if columns.get("occluded"):
        cols.append((f"occluded ({columns['occluded']})", columns["occluded"]))
    return cols


def _row_text(item: GalleryItem) -> str:
    """The text beside a grid row: the sample id, wrapped, then its short labels."""
    import textwrap

    lines = textwrap.wrap(item.sample_id, 28, break_on_hyphens=False)[:3]
    short = sorted(
        ((k, str(v)) for k, v in item.labels.items() if len(str(v)) <= 20),
        key=lambda kv: (kv[0] not in _GRID_FIRST, kv[0]),
    )
    lines += [f"{k[:18]}: {v}" for k, v in short[:_GRID_LABELS]]
    return "\n".join(lines)


def _grid_canvas(n_rows: int, cols: Sequence[tuple[str, str | None]]) -> tuple[Any, Any]:
    """A blank grid of `n_rows` rows with its column titles: the picture and its drawing."""
    from PIL import Image, ImageDraw

    width = _TEXT_W + len(cols) * (_CELL_W + _GAP) + _GAP
    height = _TOP + n_rows * (_CELL_H + _GAP) + _GAP
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    title_font = font(15)
    for c, (title, _) in enumerate(cols):
        x_mid = _TEXT_W + c * (_CELL_W + _GAP) + _CELL_W // 2
        draw.text((x_mid, _TOP - 10), title, fill=INK, font=title_font, anchor="ms")
    return canvas, draw


def _grid_cell(
    canvas: Any,
    draw: Any,
    out: Path,
    item: GalleryItem,
    column: tuple[str, str | None],
    xy: tuple[int, int],
    *,
    first: bool,
    breast: bool,
    text_font: Any,
) -> None:
    """Paste one thumbnail, framed and centred in its cell at `xy`, or an empty ``none`` cell.

    The first column's original gets the overlays (:func:`_cell`).
    """
    from PIL import Image

    title, kind = column
    x, y = xy
    rel = item.thumbs.get(kind or "") or (
        item.thumbs.get("source-roi") if title == "ROI mask" else None
    )
    img = _read_grey(out / rel) if rel else None
    if img is None:
        draw.rectangle((x, y, x + _CELL_W - 1, y + _CELL_H - 1), fill=_EMPTY, outline=_FRAME)
        draw.text(
            (x + _CELL_W // 2, y + _CELL_H // 2), "none", fill=INK, font=text_font, anchor="mm"
        )
        return
    rgb = _cell(out, item, img, overlays=first, breast=breast)
    h, w = rgb.shape[:2]
    x0, y0 = x + (_CELL_W - w) // 2, y + (_CELL_H - h) // 2
    canvas.paste(Image.fromarray(rgb), (x0, y0))
    draw.rectangle((x0 - 1, y0 - 1, x0 + w, y0 + h), outline=_FRAME)


def sample_grid(
    out_dir: str | Path,
    items: Sequence[GalleryItem],
    columns: Mapping[str, str | None],
    path: str | Path,
    *,
    breast: bool = False,
) -> Path | None:
    """Draw the notebook's grid: original (ROI contour, crop box), ROI mask, processed, occluded.

    Each row starts with its sample id and labels, written level in a column of their own. The
    thumbnails are shown at up to 220x250 pixels, each framed, with the original's overlays
    drawn at that size: ROI contour in red, crop box in yellow, breast contour in cyan.

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
    if not items:
        return None
    out = Path(out_dir)
    cols = _shown_columns(items, columns)
    text_font = font(13)
    canvas, draw = _grid_canvas(len(items), cols)
    for r, item in enumerate(items):
        y = _TOP + r * (_CELL_H + _GAP)
        draw.multiline_text(
            (_GAP, y + _CELL_H // 2),
            _row_text(item),
            fill=INK,
            font=text_font,
            anchor="lm",
            spacing=4,
        )
        for c, col in enumerate(cols):
            xy = (_TEXT_W + c * (_CELL_W + _GAP), y)
            _grid_cell(
                canvas, draw, out, item, col, xy, first=c == 0, breast=breast, text_font=text_font
            )
    return save_rgb(canvas, path)
