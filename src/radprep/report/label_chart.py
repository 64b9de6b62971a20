"""The report's label chart: samples by label value, one bar per split, one panel per label.

Drawn with Pillow (bars, text turned beside the axes) from the counts of
:func:`radprep.report.stats.label_split_counts`; saved as ``report/figures/labels.png``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from radprep.report.drawing import INK, font, save_rgb

__all__ = ["label_distribution"]

_SPLIT_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#999999")
_WIDTH, _LEGEND_H, _PANEL_H = 1600, 30, 290  # the figure's width, its legend's and panels' height


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _split_colour(splits_all: Sequence[str], split: str) -> tuple[int, int, int]:
    return _rgb(_SPLIT_COLOURS[splits_all.index(split) % len(_SPLIT_COLOURS)])


def _ticks(top: int) -> list[int]:
    """Whole-number axis ticks from 0 to at least `top`: steps of 1, 2 or 5 x 10^k, <= 5 steps."""
    top = max(int(top), 1)
    k = 0
    while True:
        step = (1, 2, 5)[k % 3] * 10 ** (k // 3)
        if -(-top // step) <= 5:
            return [i * step for i in range(-(-top // step) + 1)]
        k += 1


def _rotated_label(canvas: Any, text: str, face: Any, right_top: tuple[int, int]) -> None:
    """Write `text` turned 25 degrees counter-clockwise, its end at `right_top` (a tick)."""
    from PIL import Image, ImageDraw

    left, upper, right, lower = face.getbbox(text)
    tile = Image.new("L", (right - left + 2, lower - upper + 2), 0)
    ImageDraw.Draw(tile).text((1 - left, 1 - upper), text, fill=255, font=face)
    turned = tile.rotate(25, resample=Image.Resampling.BICUBIC, expand=True)
    x, y = right_top
    ink = Image.new("RGB", turned.size, INK)
    canvas.paste(ink, (x - turned.width, y), turned)


def _legend(draw: Any, splits_all: Sequence[str], tick_font: Any) -> None:
    """One swatch per split, right-aligned on the top line, after ``split:``."""
    x = _WIDTH - 12
    for split in reversed(splits_all):
        x -= int(draw.textlength(split, font=tick_font))
        draw.text((x, 8), split, fill=INK, font=tick_font)
        x -= 20
        draw.rectangle((x, 9, x + 13, 21), fill=_split_colour(splits_all, split))
        x -= 14
    label = "split:"
    draw.text((x - int(draw.textlength(label, font=tick_font)), 8), label, fill=INK, font=tick_font)


def _y_axis(
    canvas: Any,
    draw: Any,
    top: int,
    plot: tuple[int, int, int],
    tick_font: Any,
    title_x: int | None,
) -> float:
    """Draw the ticks left of the plot (``samples`` beside them at `title_x`); return the scale.

    `plot` is the plot area's left, upper and lower edges; the scale is pixels per sample.
    """
    from PIL import Image, ImageDraw

    left, upper, lower = plot
    ticks = _ticks(int(top))
    scale = (lower - upper - 10) / max(ticks[-1], 1)  # headroom above the top tick
    for t in ticks:
        yt = round(lower - t * scale)
        draw.line((left - 4, yt, left, yt), fill=INK)
        draw.text((left - 7, yt), str(t), fill=INK, font=tick_font, anchor="rm")
    if title_x is not None:
        tile = Image.new("L", (70, 18), 0)
        ImageDraw.Draw(tile).text((35, 9), "samples", fill=255, font=tick_font, anchor="mm")
        turned = tile.rotate(90, expand=True)
        canvas.paste(
            Image.new("RGB", turned.size, INK), (title_x, (upper + lower) // 2 - 35), turned
        )
    return scale


def _panel(
    canvas: Any,
    draw: Any,
    name: str,
    table: Mapping[str, Any],
    splits_all: Sequence[str],
    corner: tuple[int, int, int],
    fonts: tuple[Any, Any, Any],
    first_in_row: bool,
) -> None:
    """One label's bar chart in the panel at `corner` (left, top, width)."""
    small, tick_font, title_font = fonts
    splits, rows = table["splits"], table["rows"]
    px, py, panel_w = corner
    # plot area inside the panel: room for the y ticks, the title and the turned labels
    left, right = px + 62, px + panel_w - 16
    upper, lower = py + 26, py + _PANEL_H - 64
    draw.text(((left + right) // 2, py + 18), name, fill=INK, font=title_font, anchor="ms")
    top = max((max(r[1]) for r in rows), default=0)
    scale = _y_axis(
        canvas, draw, top, (left, upper, lower), tick_font, px + 4 if first_in_row else None
    )
    slot = (right - left) / max(1, len(rows))
    bar_w = 0.8 * slot / max(1, len(splits))
    for j, (value, per_split, _total) in enumerate(rows):
        centre = left + (j + 0.5) * slot
        for i, n in enumerate(per_split):
            if not n:
                continue
            x0 = centre + (i - len(splits) / 2) * bar_w
            draw.rectangle(
                (round(x0), round(lower - n * scale), round(x0 + bar_w) - 1, lower),
                fill=_split_colour(splits_all, splits[i]),
            )
        draw.line((round(centre), lower, round(centre), lower + 4), fill=INK)
        _rotated_label(canvas, str(value)[:20], small, (round(centre) + 4, lower + 6))
    draw.rectangle((left, upper, right, lower), outline=INK)


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
    panel_w = _WIDTH // ncols
    canvas = Image.new("RGB", (_WIDTH, _LEGEND_H + nrows * _PANEL_H), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    fonts = (font(11), font(12), font(14))  # bar labels, ticks and legend, titles
    splits_all: list[str] = []
    for name in names:
        splits_all += [s for s in counts[name]["splits"] if s not in splits_all]
    _legend(draw, splits_all, fonts[1])
    for k, name in enumerate(names):
        corner = ((k % ncols) * panel_w, _LEGEND_H + (k // ncols) * _PANEL_H, panel_w)
        _panel(canvas, draw, name, counts[name], splits_all, corner, fonts, k % ncols == 0)
    return save_rgb(canvas, path)
