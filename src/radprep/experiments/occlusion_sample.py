"""One sample of the occlusion experiment: the settings, the model (loaded once per process) and
the picklable job that scores a sample, its occluded copy and a control, and writes its maps.
"""

from __future__ import annotations

import io
import os
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from radprep.clean.breast import breast_mask
from radprep.errors import InputError, SpecError
from radprep.experiments.models import Model, load_model
from radprep.experiments.occluder import (
    control_box,
    draw_overlay,
    occluded_box,
    roi_share,
    sensitivity_map,
)
from radprep.export.torch import model_input
from radprep.export.webdataset import load_array
from radprep.io.write import atomic_write_bytes
from radprep.roi.bbox import bbox_from_mask
from radprep.types import BBox

__all__ = ["ACTIVATIONS", "OcclusionJob", "OcclusionSettings", "check_model"]

Activation = Literal["none", "sigmoid", "softmax"]
ACTIVATIONS: tuple[Activation, ...] = ("none", "sigmoid", "softmax")


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


def _activate(out: np.ndarray, activation: str) -> np.ndarray:
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-out))
    if activation == "softmax":
        z = np.exp(out - out.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)
    return out


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

    def inputs(self, item: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The image and its occluded copy ``(C, H, W)`` in [0, 1], and the ROI mask."""
        c, h, w = self.model().input_shape
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
        return full, occluded, mask

    def control(
        self, sid: str, full: np.ndarray, occluded: np.ndarray, avoid: list[BBox]
    ) -> tuple[BBox | None, np.ndarray | None, float]:
        """The control box (the occluded box's size, seeded by the sample id), the image with
        it filled as the occluded copy is, and the breast's share of it."""
        if not avoid:
            return None, None, float("nan")
        size = avoid[0]
        rng = np.random.default_rng([self.settings.seed, zlib.crc32(sid.encode())])
        grey = full.mean(axis=0)
        ctrl = control_box(
            grey,
            (size[2] - size[0] + 1, size[3] - size[1] + 1),
            avoid,
            rng=rng,
            min_breast=self.settings.control_min_breast,
        )
        if ctrl is None:
            return None, None, float("nan")
        fill_value = self.settings.fill
        changed = np.abs(full - occluded).max(axis=0) > 0
        if changed.any():
            fill_value = float(np.median(occluded[0][changed]))
        control = full.copy()
        control[:, ctrl[0] : ctrl[2] + 1, ctrl[1] : ctrl[3] + 1] = fill_value
        breast = breast_mask(grey)
        return ctrl, control, float(breast[ctrl[0] : ctrl[2] + 1, ctrl[1] : ctrl[3] + 1].mean())

    def saliency(self, sid: str, full: np.ndarray) -> str | None:
        """Write the gradient saliency map when asked; its file, relative to the output."""
        s = self.settings
        if not s.saliency:
            return None
        x = full
        if s.normalize is not None:
            mean = np.asarray(s.normalize[0], np.float32).reshape(-1, 1, 1)
            x = (full - mean) / np.asarray(s.normalize[1], np.float32).reshape(-1, 1, 1)
        sal = self.model().saliency(x, self.class_index)
        atomic_write_bytes(Path(self.out_dir) / "saliency" / f"{sid}.npy", _npy(sal))
        return f"saliency/{sid}.npy"

    def __call__(self, item: Mapping[str, Any]) -> dict[str, Any]:
        s = self.settings
        sid = item["sample_id"]
        full, occluded, mask = self.inputs(item)
        t0 = time.perf_counter()
        occ_box = occluded_box(full, occluded)
        roi_box = bbox_from_mask(mask) if mask.any() else None
        # The control box takes the occluded box's size (the ROI's without one).
        avoid = [b for b in (occ_box, roi_box) if b is not None]
        ctrl, control, ctrl_breast = self.control(sid, full, occluded, avoid)
        batch = [full, occluded] if control is None else [full, occluded, control]
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
        atomic_write_bytes(out / "heatmaps" / f"{sid}.npy", _npy(heat))
        saliency_file = self.saliency(sid, full)
        ok, png = cv2.imencode(".png", draw_overlay(full, heat, mask, occ_box, ctrl))
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
            raise InputError(f"{sid}: cannot encode the overlay PNG")
        atomic_write_bytes(out / "overlays" / f"{sid}.png", png.tobytes())
        score_full, score_occ = float(scores[0]), float(scores[1])
        score_ctrl = float(scores[2]) if ctrl is not None else float("nan")
        return {
            "sample_id": sid,
            "score_full": score_full,
            "score_occluded": score_occ,
            "score_control": score_ctrl,
            "score_drop": score_full - score_occ,
            "control_drop": score_full - score_ctrl,
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


def check_model(
    model: Model,
    settings: OcclusionSettings,
    by_id: Mapping[str, Mapping[str, Mapping[str, Any]]],
    image_output: str,
    run: Path,
) -> tuple[int, int]:
    """Check the model against the run's images and the settings; return its number of
    outputs and the class of interest's index.

    Raises
    ------
    SpecError
        When the model's input does not fit the images, the model fails, or a class or option
        does not fit it.
    """
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
    return int(probe.shape[1]), class_index
