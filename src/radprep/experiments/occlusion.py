"""The occlusion experiment over a finished run (Zeiler & Fergus, "Visualizing and Understanding
Convolutional Networks", 2013).

For every sample a classifier scores the image, its copy with the ROI occluded (the run's
``occluded`` output) and, as a control, a copy with a box of the same size occluded at a seeded
random place in the breast away from the ROI. A sliding occluder (a ``patch_px`` square of
``fill``, moved by ``stride_px``) gives a sensitivity map: for each pixel, the mean drop in score
over the patch positions that cover it. ``roi_share`` is the share of the map's positive mass
inside the ROI mask (the run's ``roi_mask`` output); by chance it is the ROI's share of the image.

Pixels reach the model as the run wrote them scaled to [0, 1] (uint8 / 255, uint16 / 65535),
channel first, grey repeated to three channels when the model wants three, then normalised
(``(x - mean) / std``) when asked; occluders are filled in [0, 1] before the normalisation.

The run is resumable (a ledger under ``OUT/.radprep``), streams samples through the executor
(serial, a process pool or Dask), and writes every file atomically.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from radprep.batch.executor import get_executor
from radprep.batch.ledger import Ledger
from radprep.batch.progress import Progress
from radprep.clean.breast import breast_mask
from radprep.datasets.manifest import outputs_by_sample
from radprep.datasets.sources import fingerprint
from radprep.errors import InputError, SpecError
from radprep.experiments.models import Model, load_model
from radprep.export.torch import model_input
from radprep.export.webdataset import load_array
from radprep.io.write import atomic_open, atomic_write_bytes
from radprep.roi.bbox import bbox_from_mask
from radprep.types import BBox

__all__ = [
    "ACTIVATIONS",
    "OcclusionResult",
    "OcclusionSettings",
    "control_box",
    "occlusion_positions",
    "roi_share",
    "run_occlusion",
    "sensitivity_map",
]

Activation = Literal["none", "sigmoid", "softmax"]
ACTIVATIONS: tuple[Activation, ...] = ("none", "sigmoid", "softmax")
STATE_DIR = ".radprep"
TABLE = "occlusion.parquet"


@dataclass(frozen=True)
class OcclusionSettings:
    """What the experiment does to every sample.

    Attributes
    ----------
    class_of_interest : int or str, optional
        The model output to score: an index, or a class name (from `classes` or the model
        file). Needed when the model gives more than one score.
    classes : tuple of str
        Class names, in output order, when the model file carries none.
    activation : {"none", "sigmoid", "softmax"}
        Applied to the model's outputs before the class is picked.
    normalize : ((mean, ...), (std, ...)), optional
        Per-channel normalisation after scaling to [0, 1].
    input_shape : (C, H, W), optional
        For models that do not declare it (TorchScript, dynamic axes).
    patch_px, stride_px : int
        The sliding occluder's side and step, in the model input's pixels.
    fill : float
        The occluder's value in [0, 1] (also the control box's when the occluded copy does not
        show its own).
    batch_size : int
        Occluded copies per inference call.
    seed : int
        Seeds the control box's place (with the sample id, so each sample has its own).
    control_min_breast : float
        The least share of the control box that must lie in the breast.
    saliency : bool
        Also write gradient saliency maps (TorchScript models).
    """

    class_of_interest: int | str | None = None
    classes: tuple[str, ...] = ()
    activation: Activation = "none"
    normalize: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    input_shape: tuple[int, int, int] | None = None
    patch_px: int = 32
    stride_px: int = 16
    fill: float = 0.0
    batch_size: int = 64
    seed: int = 0
    control_min_breast: float = 0.9
    saliency: bool = False

    def check(self) -> None:
        """Raise SpecError for a value out of range (the message names the option)."""
        if self.activation not in ACTIVATIONS:
            raise SpecError(
                f"activation {self.activation!r} is not known; choose one of "
                f"{', '.join(ACTIVATIONS)}"
            )
        for name in ("patch_px", "stride_px", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise SpecError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.control_min_breast <= 1.0:
            raise SpecError(f"control_min_breast must be in [0, 1], got {self.control_min_breast}")


# -- the pure parts ---------------------------------------------------------------------------


def occlusion_positions(n: int, patch_px: int, stride_px: int) -> list[int]:
    """Return the patch starts along an axis of `n` pixels: every `stride_px`, and the last
    start flush with the far edge, so every pixel is covered."""
    if patch_px > n:
        raise SpecError(f"patch_px {patch_px} is larger than the image side {n}")
    starts = list(range(0, n - patch_px + 1, stride_px))
    if starts[-1] != n - patch_px:
        starts.append(n - patch_px)
    return starts


def sensitivity_map(
    score: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    /,
    *,
    patch_px: int = 32,
    stride_px: int = 16,
    fill: float = 0.0,
    batch_size: int = 64,
    base_score: float | None = None,
) -> np.ndarray:
    """Return the sliding-occluder sensitivity map of one image.

    Parameters
    ----------
    score : callable
        Maps a float32 ``(N, C, H, W)`` batch to ``(N,)`` scores.
    image : ndarray
        ``(C, H, W)`` float32, the model's input before normalisation.
    patch_px, stride_px : int
        The occluder's side and step.
    fill : float
        The occluder's value.
    batch_size : int
        Occluded copies per call of `score`.
    base_score : float, optional
        The score of the unoccluded image (computed when not given).

    Returns
    -------
    ndarray of float32, ``(H, W)``
        Per pixel, the mean of ``base_score - score(occluded)`` over the patches covering it.
    """
    if image.ndim != 3:
        raise SpecError(f"image must be (C, H, W), got shape {image.shape}")
    _, h, w = image.shape
    ys = occlusion_positions(h, patch_px, stride_px)
    xs = occlusion_positions(w, patch_px, stride_px)
    if base_score is None:
        base_score = float(score(image[None])[0])
    total = np.zeros((h, w), np.float64)
    count = np.zeros((h, w), np.float64)
    positions = [(y, x) for y in ys for x in xs]
    for i in range(0, len(positions), batch_size):
        chunk = positions[i : i + batch_size]
        batch = np.repeat(image[None], len(chunk), axis=0)
        for k, (y, x) in enumerate(chunk):
            batch[k, :, y : y + patch_px, x : x + patch_px] = fill
        drops = base_score - np.asarray(score(batch), dtype=np.float64)
        for (y, x), d in zip(chunk, drops, strict=True):
            total[y : y + patch_px, x : x + patch_px] += d
            count[y : y + patch_px, x : x + patch_px] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)


def roi_share(heatmap: np.ndarray, mask: np.ndarray, /) -> float:
    """Return the share of the map's positive mass inside `mask` (NaN when it has none)."""
    pos = np.clip(heatmap.astype(np.float64), 0, None)
    total = float(pos.sum())
    if total <= 0:
        return float("nan")
    return float(pos[mask.astype(bool)].sum() / total)


def occluded_box(full: np.ndarray, occluded: np.ndarray, /) -> BBox | None:
    """Return the box where the occluded copy differs from the image (None if nowhere)."""
    diff = np.abs(full.astype(np.float32) - occluded.astype(np.float32))
    if diff.ndim == 3:
        diff = diff.max(axis=0)
    changed = diff > 0
    return bbox_from_mask(changed) if changed.any() else None


def control_box(
    image: np.ndarray,
    /,
    box_shape: tuple[int, int],
    avoid: Sequence[BBox],
    *,
    rng: np.random.Generator,
    min_breast: float = 0.9,
) -> BBox | None:
    """Return a box of `box_shape` at a random place in the breast, overlapping no `avoid` box.

    The breast is :func:`radprep.clean.breast.breast_mask` of `image` (``(H, W)``: out to the
    skin line, not Otsu's dense-tissue split). Places where at least `min_breast` of the box is
    breast are drawn from uniformly; when there are none, the places with the most breast (at
    least half) are.

    Returns
    -------
    BBox or None
        Inclusive ``(y0, x0, y1, x1)``; None when no place away from the ROI is in the breast.
    """
    h, w = image.shape
    bh, bw = int(box_shape[0]), int(box_shape[1])
    if bh > h or bw > w or bh < 1 or bw < 1:
        return None
    breast = breast_mask(image).astype(np.float64)
    integral = np.zeros((h + 1, w + 1))
    integral[1:, 1:] = breast.cumsum(0).cumsum(1)
    frac = (
        integral[bh:, bw:] - integral[:-bh, bw:] - integral[bh:, :-bw] + integral[:-bh, :-bw]
    ) / (bh * bw)  # (h - bh + 1, w - bw + 1): breast share of the box at each top-left corner
    ok = np.ones_like(frac, dtype=bool)
    ys = np.arange(frac.shape[0])[:, None]
    xs = np.arange(frac.shape[1])[None, :]
    for ay0, ax0, ay1, ax1 in avoid:
        ok &= ~((ys <= ay1) & (ys + bh - 1 >= ay0) & (xs <= ax1) & (xs + bw - 1 >= ax0))
    good = ok & (frac >= min_breast - 1e-9)
    if not good.any():
        best = float(frac[ok].max()) if ok.any() else 0.0
        if best < 0.5:
            return None
        good = ok & (frac >= best - 1e-9)
    cy, cx = np.nonzero(good)
    k = int(rng.integers(len(cy)))
    y0, x0 = int(cy[k]), int(cx[k])
    return (y0, x0, y0 + bh - 1, x0 + bw - 1)


def _activate(out: np.ndarray, activation: str) -> np.ndarray:
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-out))
    if activation == "softmax":
        z = np.exp(out - out.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)
    return out


# -- one sample -------------------------------------------------------------------------------

_MODELS: dict[tuple[str, int, tuple[int, int, int] | None, int], Model] = {}


def _cached_model(path: str, input_shape: tuple[int, int, int] | None, threads: int) -> Model:
    """Load a model once per process (workers keep it between samples)."""
    if not os.path.isfile(path):
        raise SpecError(f"{path}: no such model file")
    key = (path, os.stat(path).st_mtime_ns, input_shape, threads)
    if key not in _MODELS:
        _MODELS.clear()
        _MODELS[key] = load_model(path, input_shape=input_shape, threads=threads)
    return _MODELS[key]


@dataclass(frozen=True)
class OcclusionJob:
    """The per-sample work, picklable for worker processes."""

    model_path: str
    settings: OcclusionSettings
    class_index: int
    out_dir: str
    threads: int = 0

    def model(self) -> Model:
        return _cached_model(self.model_path, self.settings.input_shape, self.threads)

    def score(self, batch: np.ndarray) -> np.ndarray:
        """Scores of a ``(N, C, H, W)`` batch in [0, 1] pixel units (normalised here)."""
        s = self.settings
        x = batch
        if s.normalize is not None:
            mean = np.asarray(s.normalize[0], np.float32).reshape(1, -1, 1, 1)
            std = np.asarray(s.normalize[1], np.float32).reshape(1, -1, 1, 1)
            x = (batch - mean) / std
        out = _activate(self.model().predict(x), s.activation)
        return out[:, self.class_index]

    def load(self, path: str, fmt: str, channels: int) -> np.ndarray:
        x = model_input(load_array(path, fmt))
        if x.ndim != 3:
            raise InputError(f"{path}: a {x.ndim - 1}D image; the experiment takes 2D images")
        if x.shape[0] == 1 and channels == 3:
            x = np.repeat(x, 3, axis=0)
        return x

    def __call__(self, item: Mapping[str, Any]) -> dict[str, Any]:
        s = self.settings
        model = self.model()
        c, h, w = model.input_shape
        full = self.load(item["image"], item["image_format"], c)
        occluded = self.load(item["occluded"], item["occluded_format"], c)
        mask_values = load_array(item["mask"], item["mask_format"])
        mask: np.ndarray = (mask_values.max(axis=-1) if mask_values.ndim == 3 else mask_values) > 0
        for name, arr in (("image", full), ("occluded copy", occluded)):
            if arr.shape != (c, h, w):
                raise InputError(
                    f"{item['sample_id']}: the {name} is {arr.shape[0]}x{arr.shape[1]}x"
                    f"{arr.shape[2]} (CxHxW) but the model takes {c}x{h}x{w}"
                )
        if mask.shape != (h, w):
            raise InputError(
                f"{item['sample_id']}: the ROI mask is {mask.shape} but the images are {(h, w)}"
            )
        t0 = time.perf_counter()
        occ_box = occluded_box(full, occluded)
        roi_box = bbox_from_mask(mask) if mask.any() else None
        fill_value = s.fill
        if occ_box is not None:
            changed = np.abs(full - occluded).max(axis=0) > 0
            fill_value = float(np.median(occluded[0][changed]))
        size_box = occ_box or roi_box
        ctrl = None
        if size_box is not None:
            rng = np.random.default_rng([s.seed, zlib.crc32(item["sample_id"].encode())])
            avoid = [b for b in (occ_box, roi_box) if b is not None]
            ctrl = control_box(
                full.mean(axis=0),
                (size_box[2] - size_box[0] + 1, size_box[3] - size_box[1] + 1),
                avoid,
                rng=rng,
                min_breast=s.control_min_breast,
            )
        batch = [full, occluded]
        if ctrl is not None:
            control = full.copy()
            control[:, ctrl[0] : ctrl[2] + 1, ctrl[1] : ctrl[3] + 1] = fill_value
            batch.append(control)
        ctrl_breast = float("nan")
        if ctrl is not None:
            breast = breast_mask(full.mean(axis=0))
            ctrl_breast = float(breast[ctrl[0] : ctrl[2] + 1, ctrl[1] : ctrl[3] + 1].mean())
        scores = self.score(np.stack(batch))
        t_scores = time.perf_counter() - t0
        t1 = time.perf_counter()
        heat = sensitivity_map(
            self.score,
            full,
            patch_px=s.patch_px,
            stride_px=s.stride_px,
            fill=s.fill,
            batch_size=s.batch_size,
            base_score=float(scores[0]),
        )
        t_map = time.perf_counter() - t1
        out = Path(self.out_dir)
        sid = item["sample_id"]
        atomic_write_bytes(out / "heatmaps" / f"{sid}.npy", _npy(heat))
        saliency_file = None
        if s.saliency:
            x = full
            if s.normalize is not None:
                mean = np.asarray(s.normalize[0], np.float32).reshape(-1, 1, 1)
                x = (full - mean) / np.asarray(s.normalize[1], np.float32).reshape(-1, 1, 1)
            sal = model.saliency(x, self.class_index)
            saliency_file = f"saliency/{sid}.npy"
            atomic_write_bytes(out / saliency_file, _npy(sal))
        overlay = draw_overlay(full, heat, mask, occ_box, ctrl)
        ok, png = cv2.imencode(".png", overlay)
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
            raise InputError(f"{sid}: cannot encode the overlay PNG")
        atomic_write_bytes(out / "overlays" / f"{sid}.png", png.tobytes())
        score_full, score_occ = float(scores[0]), float(scores[1])
        return {
            "sample_id": sid,
            "score_full": score_full,
            "score_occluded": score_occ,
            "score_control": float(scores[2]) if ctrl is not None else float("nan"),
            "score_drop": score_full - score_occ,
            "control_drop": score_full - float(scores[2]) if ctrl is not None else float("nan"),
            "roi_share": roi_share(heat, mask),
            "roi_area_share": float(mask.mean()),
            "control_breast_share": ctrl_breast,
            "occluded_box": list(occ_box) if occ_box is not None else None,
            "control_box": list(ctrl) if ctrl is not None else None,
            "heatmap": f"heatmaps/{sid}.npy",
            "overlay": f"overlays/{sid}.png",
            "saliency": saliency_file,
            "seconds_scores": t_scores,
            "seconds_map": t_map,
        }


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def draw_overlay(
    image: np.ndarray,
    heat: np.ndarray,
    mask: np.ndarray,
    occ_box: BBox | None,
    ctrl: BBox | None,
) -> np.ndarray:
    """Return a BGR uint8 picture: the image in grey, the map's positive part in colour (its
    own maximum at full colour), the ROI outline in green, the occluded box in cyan and the
    control box in yellow."""
    grey = np.clip(image.mean(axis=0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    base = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR).astype(np.float32)
    pos = np.clip(heat, 0, None)
    peak = float(pos.max())
    if peak > 0:
        level = pos / peak
        colour = cv2.applyColorMap(np.rint(level * 255).astype(np.uint8), cv2.COLORMAP_JET)
        alpha = (0.65 * level)[..., None]
        base = base * (1 - alpha) + colour.astype(np.float32) * alpha
    out = np.clip(base + 0.5, 0, 255).astype(np.uint8)
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    cv2.drawContours(out, contours, -1, (0, 255, 0), 1)
    for box, colour_bgr in ((occ_box, (255, 255, 0)), (ctrl, (0, 255, 255))):
        if box is not None:
            cv2.rectangle(out, (box[1], box[0]), (box[3], box[2]), colour_bgr, 1)
    return out


# -- the run ----------------------------------------------------------------------------------


@dataclass
class OcclusionResult:
    """What an occlusion run did and where it put it."""

    out_dir: Path
    samples: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    not_eligible: list[dict[str, str]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    table: Path | None = None
    report: Path | None = None
    seconds_scores: float = float("nan")
    seconds_map: float = float("nan")
    model: dict[str, Any] = field(default_factory=dict)


def _resolve_class(model: Model, settings: OcclusionSettings, n_outputs: int) -> int:
    names = list(settings.classes) or model.classes
    c = settings.class_of_interest
    if c is None:
        if n_outputs == 1:
            return 0
        raise SpecError(
            f"{model.path}: the model gives {n_outputs} scores; choose one with --class "
            f"(an index 0..{n_outputs - 1}{' or a name: ' + ', '.join(names) if names else ''})"
        )
    if isinstance(c, str) and not c.lstrip("-").isdigit():
        if c not in names:
            raise SpecError(
                f"class {c!r} is not a class of the model (classes: "
                f"{', '.join(names) or 'none named; give --classes or an index'})"
            )
        index = names.index(c)
    else:
        index = int(c)
    if not 0 <= index < n_outputs:
        raise SpecError(
            f"class index {index} is out of range: the model gives {n_outputs} score(s)"
        )
    return index


def _hash(model_path: Path, settings: OcclusionSettings, class_index: int, outs: Any) -> str:
    h = hashlib.sha256()
    with open(model_path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    h.update(json.dumps([asdict(settings), class_index, outs], sort_keys=True).encode())
    return h.hexdigest()[:16]


def run_occlusion(
    run_dir: str | os.PathLike[str],
    model_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    settings: OcclusionSettings | None = None,
    image_output: str = "full",
    occluded_output: str = "occluded",
    mask_output: str = "roi_mask",
    executor: str = "processes",
    workers: int | None = None,
    scheduler: str | None = None,
    limit: int | None = None,
    fresh: bool = False,
    progress: str = "auto",
    report: bool = True,
) -> OcclusionResult:
    """Run the occlusion experiment over a finished run and write its table, maps and report.

    Everything is checked before anything is written: the run's manifest and its outputs, the
    model file, its input shape against the images, and the class of interest.

    Parameters
    ----------
    run_dir : path
        A finished run's folder (holds ``manifest.parquet``).
    model_path : path
        An ONNX or TorchScript classifier.
    out : path
        Where to write ``occlusion.parquet``, ``heatmaps/``, ``overlays/`` and ``report.html``.
    settings : OcclusionSettings
        Class, normalisation, occluder and control options.
    image_output, occluded_output, mask_output : str
        The run's outputs holding the images, their occluded copies and the ROI masks.
    executor, workers, scheduler
        Where samples run (see :func:`radprep.batch.get_executor`).
    limit : int, optional
        Only the first `limit` samples (sorted by id).
    fresh : bool
        Forget earlier progress and redo every sample.
    progress : {"auto", "bar", "lines", "quiet"}
    report : bool
        Write ``report.html``.

    Raises
    ------
    SpecError
        For a missing manifest or output, an unreadable model, a model input that does not fit
        the images, or a bad option; nothing is written then.
    """
    settings = settings or OcclusionSettings()
    settings.check()
    t0 = time.perf_counter()
    run = Path(run_dir)
    manifest = run / "manifest.parquet"
    if not manifest.is_file():
        raise SpecError(f"{run}: no manifest.parquet; give the folder of a finished run")
    outs = (image_output, occluded_output, mask_output)
    try:
        by_id = outputs_by_sample(manifest, outs)
    except InputError as e:
        raise SpecError(str(e)) from None
    threads = 0 if executor == "serial" and not scheduler else 1
    model = _cached_model(str(Path(model_path).resolve()), settings.input_shape, threads)
    c, h, w = model.input_shape
    shapes = {tuple(o[image_output]["shape"] or ()) for o in by_id.values() if image_output in o}
    for shape in sorted(shapes):
        img_c = shape[2] if len(shape) == 3 else 1
        if tuple(shape[:2]) != (h, w) or (img_c == 3 and c == 1) or len(shape) not in (2, 3):
            raise SpecError(
                f"{model.path}: the model takes {c}x{h}x{w} (CxHxW) but output "
                f"{image_output!r} of {run} holds images of shape {list(shape)}; run the "
                f"recipe with a resize to {h}x{w} or use a model that fits"
            )
    if settings.patch_px > min(h, w):
        raise SpecError(f"patch_px {settings.patch_px} is larger than the input ({h}x{w})")
    try:
        probe = model.predict(np.zeros((1, c, h, w), np.float32))
    except Exception as e:
        why = " ".join(str(e).split())[:200]
        raise SpecError(f"{model.path}: the model fails on a {c}x{h}x{w} input ({why})") from None
    class_index = _resolve_class(model, settings, probe.shape[1])
    if settings.saliency and model.kind != "torchscript":
        raise SpecError("--saliency needs a TorchScript model (ONNX Runtime gives no gradients)")

    # Checked: from here on, files are written.
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    result = OcclusionResult(out_dir=out_dir)
    names: list[str | None] = [*(list(settings.classes) or model.classes)]
    result.model = {
        "path": str(Path(model_path).name),
        "kind": model.kind,
        "input_shape": [c, h, w],
        "outputs": int(probe.shape[1]),
        "class_index": class_index,
        "class_name": names[class_index] if class_index < len(names) else None,
    }
    items: list[dict[str, Any]] = []
    for sid, o in by_id.items():
        missing = [n for n in outs if n not in o]
        if missing:
            result.not_eligible.append(
                {"sample_id": sid, "reason": f"no {', '.join(missing)} output"}
            )
            continue
        items.append(
            {
                "sample_id": sid,
                "image": str(run / o[image_output]["path"]),
                "image_format": o[image_output]["format"],
                "occluded": str(run / o[occluded_output]["path"]),
                "occluded_format": o[occluded_output]["format"],
                "mask": str(run / o[mask_output]["path"]),
                "mask_format": o[mask_output]["format"],
            }
        )
    if limit is not None:
        items = items[:limit]
    result.samples = len(items)
    rhash = _hash(Path(model_path), settings, class_index, outs)
    job = OcclusionJob(
        str(Path(model_path).resolve()), settings, class_index, str(out_dir), threads
    )

    def fp(it: Mapping[str, Any]) -> str:
        try:
            return fingerprint(it["image"], it["occluded"], it["mask"])
        except OSError:
            return "missing"

    failures: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    with Ledger(out_dir / STATE_DIR / "ledger.sqlite") as ledger:
        if fresh:
            ledger.clear()
        finished = ledger.finished(rhash)
        fps = {it["sample_id"]: fp(it) for it in items}
        todo = [it for it in items if finished.get(it["sample_id"]) != fps[it["sample_id"]]]
        result.skipped = len(items) - len(todo)
        bar = Progress(len(todo), mode=progress, label="samples")
        try:
            # Nothing to do (all resumed): no pool or cluster is started.
            with (
                get_executor(executor, workers=workers, scheduler=scheduler)
                if todo
                else get_executor("serial")
            ) as ex:
                for item, outcome in ex.map(job, todo):
                    ledger.record(
                        item["sample_id"],
                        run_hash=rhash,
                        fingerprint=fps[item["sample_id"]],
                        ok=outcome.ok,
                        payload=outcome.value if outcome.ok else {},
                        error=outcome.error,
                        message=outcome.message,
                        seconds=outcome.seconds,
                    )
                    bar.update(outcome.ok)
        finally:
            bar.close()
        for entry in ledger.entries([it["sample_id"] for it in items]):
            if entry.run_hash != rhash:
                continue
            if entry.ok:
                records.append(entry.payload)
            else:
                failures.append(
                    {"sample_id": entry.item_id, "error": entry.error, "message": entry.message}
                )
    result.failures = failures
    result.failed = len(failures)
    result.done = len(records)
    rows = _table_rows(records, by_id, image_output)
    result.table = _write_table(rows, out_dir / TABLE, manifest)
    lines = "".join(json.dumps(f, sort_keys=True) + "\n" for f in failures)
    atomic_write_bytes(out_dir / "failures.jsonl", lines.encode())
    if records:
        result.seconds_scores = float(np.median([r["seconds_scores"] for r in records]))
        result.seconds_map = float(np.median([r["seconds_map"] for r in records]))
    result.seconds = time.perf_counter() - t0
    info = {
        "run_dir": str(run),
        "model": result.model,
        "settings": asdict(settings),
        "outputs": {"image": image_output, "occluded": occluded_output, "mask": mask_output},
        "hash": rhash,
        "counts": {
            "samples": result.samples,
            "done": result.done,
            "failed": result.failed,
            "skipped_already_done": result.skipped,
            "not_eligible": len(result.not_eligible),
        },
        "median_seconds_per_image": {
            "scores": result.seconds_scores,
            "sensitivity_map": result.seconds_map,
        },
        "seconds": round(result.seconds, 3),
    }
    atomic_write_bytes(
        out_dir / "occlusion.json", (json.dumps(info, indent=2, sort_keys=True) + "\n").encode()
    )
    if report:
        from radprep.experiments.report import build_occlusion_report

        result.report = build_occlusion_report(out_dir, rows, info, result.not_eligible, failures)
    return result


_NUMBERS = (
    "score_full",
    "score_occluded",
    "score_control",
    "score_drop",
    "control_drop",
    "roi_share",
    "roi_area_share",
    "control_breast_share",
    "seconds_scores",
    "seconds_map",
)


def _table_rows(
    records: Sequence[Mapping[str, Any]],
    by_id: Mapping[str, Mapping[str, Mapping[str, Any]]],
    image_output: str,
) -> list[dict[str, Any]]:
    rows = []
    for r in sorted(records, key=lambda r: str(r["sample_id"])):
        m = by_id.get(r["sample_id"], {}).get(image_output, {})
        row: dict[str, Any] = {
            "sample_id": r["sample_id"],
            "patient_id": m.get("patient_id"),
            "split": m.get("split"),
        }
        row.update({k: r[k] for k in _NUMBERS})
        row.update(
            {k: r[k] for k in ("occluded_box", "control_box", "heatmap", "overlay", "saliency")}
        )
        row.update({k: v for k, v in m.items() if k.startswith("label_")})
        rows.append(row)
    return rows


def _write_table(rows: Sequence[Mapping[str, Any]], path: Path, manifest: Path) -> Path:
    """Write the table; label columns keep the manifest's types."""
    labels = [f for f in pq.read_schema(manifest) if f.name.startswith("label_")]
    schema = pa.schema(
        [
            pa.field("sample_id", pa.string()),
            pa.field("patient_id", pa.string()),
            pa.field("split", pa.string()),
            *(pa.field(k, pa.float64()) for k in _NUMBERS),
            pa.field("occluded_box", pa.list_(pa.int32())),
            pa.field("control_box", pa.list_(pa.int32())),
            pa.field("heatmap", pa.string()),
            pa.field("overlay", pa.string()),
            pa.field("saliency", pa.string()),
            *labels,
        ]
    )
    table = pa.Table.from_pylist(
        [{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema
    )
    with atomic_open(path) as fh:
        pq.write_table(table, fh, compression="zstd")
    return path
