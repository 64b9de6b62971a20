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

from radprep.report.stats import GalleryItem
from radprep.report.thumbs import mask_outline

__all__ = ["grid_columns", "label_distribution", "roi_contours", "sample_grid"]

_GRID_LABELS = 6  # labels written beside each row of the grid (short values only)
_GRID_FIRST = {"pathology", "laterality", "view", "abnormality_type", "split"}
_SPLIT_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#999999")
_CELL_W, _CELL_H = 220, 250  # the grid's image cells: each thumbnail fits one, aspect kept
_TEXT_W = 240  # the grid's first column: sample id and labels
_GAP = 14
_RED, _YELLOW, _CYAN = (255, 48, 48), (255, 208, 0), (0, 213, 255)
_INK, _FRAME, _EMPTY = (20, 20, 20), (60, 60, 60), (238, 238, 238)


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


def _font(size: int) -> Any:
    """Pillow's bundled font (scalable with FreeType, else its fixed bitmap font)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default()


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


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


def _save_rgb(canvas: Any, path: str | Path) -> Path:
    """Encode an RGB picture (Pillow image or array) as PNG and write it atomically."""
    from radprep.io.write import atomic_write_bytes

    rgb = np.asarray(canvas)
    ok, buf = cv2.imencode(".png", rgb[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB array
        raise ValueError(f"{path}: the figure could not be encoded as PNG")
    return atomic_write_bytes(path, buf.tobytes())


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
    import textwrap

    from PIL import Image, ImageDraw

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
    text_font, title_font = _font(13), _font(15)
    top = 34
    width = _TEXT_W + len(cols) * (_CELL_W + _GAP) + _GAP
    height = top + len(items) * (_CELL_H + _GAP) + _GAP
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for c, (title, _) in enumerate(cols):
        x_mid = _TEXT_W + c * (_CELL_W + _GAP) + _CELL_W // 2
        draw.text((x_mid, top - 10), title, fill=_INK, font=title_font, anchor="ms")
    for r, item in enumerate(items):
        y = top + r * (_CELL_H + _GAP)
        lines = textwrap.wrap(item.sample_id, 28, break_on_hyphens=False)[:3]
        short = sorted(
            ((k, str(v)) for k, v in item.labels.items() if len(str(v)) <= 20),
            key=lambda kv: (kv[0] not in _GRID_FIRST, kv[0]),
        )
        lines += [f"{k[:18]}: {v}" for k, v in short[:_GRID_LABELS]]
        draw.multiline_text(
            (_GAP, y + _CELL_H // 2), "\n".join(lines), fill=_INK, font=text_font,
            anchor="lm", spacing=4,
        )  # fmt: skip
        for c, (title, kind) in enumerate(cols):
            x = _TEXT_W + c * (_CELL_W + _GAP)
            rel = item.thumbs.get(kind or "") or (
                item.thumbs.get("source-roi") if title == "ROI mask" else None
            )
            img = _read_grey(out / rel) if rel else None
            if img is None:
                draw.rectangle(
                    (x, y, x + _CELL_W - 1, y + _CELL_H - 1), fill=_EMPTY, outline=_FRAME
                )
                draw.text((x + _CELL_W // 2, y + _CELL_H // 2), "none", fill=_INK,
                          font=text_font, anchor="mm")  # fmt: skip
                continue
            rgb = _cell(out, item, img, overlays=c == 0, breast=breast)
            h, w = rgb.shape[:2]
            x0, y0 = x + (_CELL_W - w) // 2, y + (_CELL_H - h) // 2
            canvas.paste(Image.fromarray(rgb), (x0, y0))
            draw.rectangle((x0 - 1, y0 - 1, x0 + w, y0 + h), outline=_FRAME)
    return _save_rgb(canvas, path)


def _ticks(top: int) -> list[int]:
    """Whole-number axis ticks from 0 to at least `top`: steps of 1, 2 or 5 x 10^k, <= 5 steps."""
    top = max(int(top), 1)
    k = 0
    while True:
        step = (1, 2, 5)[k % 3] * 10 ** (k // 3)
        if -(-top // step) <= 5:
            return [i * step for i in range(-(-top // step) + 1)]
        k += 1


def _rotated_label(canvas: Any, text: str, font: Any, right_top: tuple[int, int]) -> None:
    """Write `text` turned 25 degrees counter-clockwise, its end at `right_top` (a tick)."""
    from PIL import Image, ImageDraw

    left, upper, right, lower = font.getbbox(text)
    tile = Image.new("L", (right - left + 2, lower - upper + 2), 0)
    ImageDraw.Draw(tile).text((1 - left, 1 - upper), text, fill=255, font=font)
    turned = tile.rotate(25, resample=Image.Resampling.BICUBIC, expand=True)
    x, y = right_top
    ink = Image.new("RGB", turned.size, _INK)
    canvas.paste(ink, (x - turned.width, y), turned)


def label_distribution(counts: Mapping[str, Mapping[str, Any]], path: str | Path) -> Path | None:
    """Draw one bar chart per label: samples by value, one bar per split.

    Small multiples, four to a row across 1600 pixels (the page's full width), with the
    splits' colours in a legend at the top right.

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
    from PIL import Image, ImageDraw

    names = [n for n, t in counts.items() if t["rows"]]
    if not names:
        return None
    ncols = min(4, len(names))
    nrows = -(-len(names) // ncols)
    width, legend_h, panel_h = 1600, 30, 290
    panel_w = width // ncols
    canvas = Image.new("RGB", (width, legend_h + nrows * panel_h), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    small, tick_font, title_font = _font(11), _font(12), _font(14)
    splits_all: list[str] = []
    for name in names:
        splits_all += [s for s in counts[name]["splits"] if s not in splits_all]
    # Legend: one swatch per split, right-aligned on the top line.
    x = width - 12
    for i, split in reversed(list(enumerate(splits_all))):
        x -= int(draw.textlength(split, font=tick_font))
        draw.text((x, 8), split, fill=_INK, font=tick_font)
        x -= 20
        colour = _rgb(_SPLIT_COLOURS[i % len(_SPLIT_COLOURS)])
        draw.rectangle((x, 9, x + 13, 21), fill=colour)
        x -= 14
    label = "split:"
    draw.text(
        (x - int(draw.textlength(label, font=tick_font)), 8), label, fill=_INK, font=tick_font
    )
    for k, name in enumerate(names):
        table = counts[name]
        splits, rows = table["splits"], table["rows"]
        px, py = (k % ncols) * panel_w, legend_h + (k // ncols) * panel_h
        # plot area inside the panel: room for the y ticks, the title and the turned labels
        left, right = px + 62, px + panel_w - 16
        upper, lower = py + 26, py + panel_h - 64
        draw.text(((left + right) // 2, py + 18), name, fill=_INK, font=title_font, anchor="ms")
        top = max((max(r[1]) for r in rows), default=0)
        ticks = _ticks(int(top))
        scale = (lower - upper - 10) / max(ticks[-1], 1)  # headroom above the top tick
        for t in ticks:
            yt = round(lower - t * scale)
            draw.line((left - 4, yt, left, yt), fill=_INK)
            draw.text((left - 7, yt), str(t), fill=_INK, font=tick_font, anchor="rm")
        if k % ncols == 0:
            tile = Image.new("L", (70, 18), 0)
            ImageDraw.Draw(tile).text((35, 9), "samples", fill=255, font=tick_font, anchor="mm")
            turned = tile.rotate(90, expand=True)
            canvas.paste(
                Image.new("RGB", turned.size, _INK), (px + 4, (upper + lower) // 2 - 35), turned
            )
        slot = (right - left) / max(1, len(rows))
        bar_w = 0.8 * slot / max(1, len(splits))
        for j, (value, per_split, _total) in enumerate(rows):
            centre = left + (j + 0.5) * slot
            for i, n in enumerate(per_split):
                if not n:
                    continue
                x0 = centre + (i - len(splits) / 2) * bar_w
                colour = _rgb(_SPLIT_COLOURS[splits_all.index(splits[i]) % len(_SPLIT_COLOURS)])
                draw.rectangle(
                    (round(x0), round(lower - n * scale), round(x0 + bar_w) - 1, lower), fill=colour
                )
            draw.line((round(centre), lower, round(centre), lower + 4), fill=_INK)
            _rotated_label(canvas, str(value)[:20], small, (round(centre) + 4, lower + 6))
        draw.rectangle((left, upper, right, lower), outline=_INK)
    return _save_rgb(canvas, path)
