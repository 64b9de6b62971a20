"""The gallery's rows: each sample's thumbnails, labels, and crop boxes mapped back to the
original image's pixels."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from radprep.report.run_folder import NO_SPLIT, RunData, sample_labels, sample_splits

__all__ = ["GalleryItem", "crop_boxes", "gallery_items"]


_CROPS = ("crop_square_keep_roi", "crop_to_bbox", "crop_to_foreground")
_INTENSITY_ONLY = frozenset(
    {
        "read_dicom",
        "modality_lut",
        "voi",
        "remove_border_residue",
        "remove_labels",
        "clahe",
        "zscore",
        "minmax",
        "percentile_clip",
        "occlude_roi",
        "n4",
        "bias_correction",
    }
)


def crop_boxes(
    steps: Sequence[Mapping[str, Any]], source_shape: Sequence[int]
) -> list[tuple[str, list[float]]]:
    """Return the crop boxes of `steps` in the original image's pixel coordinates.

    Follows crops, padding, laterality flips and stretching resizes back to the original grid;
    after a step whose geometry it does not know (rotation, letterbox, resampling) it stops.

    Parameters
    ----------
    steps : sequence of mapping
        The applied history (``{"name", "params"}``), as in the manifest's ``steps``.
    source_shape : sequence of int
        (rows, cols) of the original image.

    Returns
    -------
    list of (str, list of float)
        (step name, [y0, x0, y1, x1] inclusive, in original pixels) per crop.
    """
    # current (y, x) -> original: (ay * y + by, ax * x + bx)
    ay, ax, by, bx = 1.0, 1.0, 0.0, 0.0
    rows, cols = float(source_shape[0]), float(source_shape[1])
    out: list[tuple[str, list[float]]] = []
    for step in steps:
        name = str(step.get("name"))
        params = step.get("params") or {}
        box = params.get("box")
        if name in _CROPS or name == "pad_to_square":
            if not (isinstance(box, (list, tuple)) and len(box) == 4):
                break
            y0, x0, y1, x1 = (float(v) for v in box)
            if name in _CROPS:
                ys = sorted((ay * y0 + by, ay * y1 + by))
                xs = sorted((ax * x0 + bx, ax * x1 + bx))
                out.append((name, [ys[0], xs[0], ys[1], xs[1]]))
            by, bx = ay * y0 + by, ax * x0 + bx
            rows, cols = y1 - y0 + 1, x1 - x0 + 1
        elif name == "flip_to_laterality":
            if params.get("flipped"):
                bx, ax = ax * (cols - 1) + bx, -ax
        elif name == "resize":
            shape = params.get("shape")
            if params.get("fit", "stretch") != "stretch" or not shape or len(shape) < 2:
                break
            sy, sx = rows / float(shape[0]), cols / float(shape[1])
            # pixel centres: old = (new + 0.5) * s - 0.5
            by, bx = by + ay * (0.5 * sy - 0.5), bx + ax * (0.5 * sx - 0.5)
            ay, ax = ay * sy, ax * sx
            rows, cols = float(shape[0]), float(shape[1])
        elif name not in _INTENSITY_ONLY:
            break
    return out


@dataclass
class GalleryItem:
    """One sample's row in the gallery."""

    sample_id: str
    split: str
    labels: dict[str, str]
    thumbs: dict[str, str]
    source_shape: tuple[int, int]
    boxes: list[tuple[str, list[float]]] = field(default_factory=list)
    contours: list[str] = field(default_factory=list)
    n_warnings: int = 0
    outline: list[list[list[int]]] | None = None

    @property
    def tokens(self) -> list[str]:
        """The filter tokens: ``split=<split>`` and ``label.<name>=<value>``."""
        return [f"split={self.split}"] + [f"label.{k}={v}" for k, v in sorted(self.labels.items())]


def gallery_items(data: RunData) -> list[GalleryItem]:
    """Return the gallery rows, sorted by sample id, with crop boxes in original pixels.

    ROI contours are filled in by :func:`radprep.report.figures.roi_contours`.
    """
    splits = sample_splits(data.manifest)
    labels = sample_labels(data)
    steps_of: dict[str, list[dict[str, Any]]] = {}
    for r in data.manifest:
        sid = str(r.get("sample_id"))
        if sid not in steps_of and r.get("steps"):
            try:
                steps_of[sid] = json.loads(r["steps"])
            except ValueError:
                steps_of[sid] = []
    out = []
    for it in data.items:
        sid = str(it["sample_id"])
        shape = it.get("source_shape") or [1, 1]
        source_shape = (int(shape[0]), int(shape[1]))
        out.append(
            GalleryItem(
                sample_id=sid,
                split=splits.get(sid, NO_SPLIT),
                labels=labels.get(sid, {}),
                thumbs={str(k): str(v) for k, v in (it.get("thumbs") or {}).items()},
                source_shape=source_shape,
                boxes=crop_boxes(steps_of.get(sid, []), source_shape),
                n_warnings=len(it.get("warnings") or []),
                outline=it.get("roi_outline"),
            )
        )
    return out
