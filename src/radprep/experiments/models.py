"""Classifiers for experiments: ONNX through onnxruntime (CPU) and TorchScript through torch.

Both are optional extras, imported when a model is loaded: ``pip install 'radprep[models]'``
(onnxruntime) or ``'radprep[torch]'``. A model takes one float32 NCHW batch and gives one row of
scores per image; the experiment picks a class from it. The input shape comes from the model:
an ONNX graph declares it; a TorchScript module carries none, so it is read from an
``input_shape`` attribute of the module (``[C, H, W]``) or given by the caller.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radprep.errors import SpecError

__all__ = ["TORCHSCRIPT_SUFFIXES", "Model", "load_model"]

TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript", ".jit")


def _first_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return (text[:200] + "...") if len(text) > 200 else text or type(e).__name__


@dataclass
class Model:
    """A loaded classifier.

    Attributes
    ----------
    path : Path
        The model file.
    kind : {"onnx", "torchscript"}
    input_shape : (C, H, W)
        What one image must be (C is 1 or 3).
    batch_size : int or None
        A fixed batch size the graph demands (None: any).
    classes : list of str
        Class names the model file carries (ONNX metadata ``classes``), else empty.
    """

    path: Path
    kind: str
    input_shape: tuple[int, int, int]
    batch_size: int | None
    classes: list[str] = field(default_factory=list)
    _run: Any = None
    _module: Any = None

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Return the model's outputs for a float32 ``(N, C, H, W)`` batch as ``(N, K)``."""
        x = np.ascontiguousarray(batch, dtype=np.float32)
        if self.batch_size is None or self.batch_size == len(x):
            out = self._run(x)
        else:
            step = self.batch_size
            parts = []
            for i in range(0, len(x), step):
                chunk = x[i : i + step]
                pad = step - len(chunk)
                if pad:
                    chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
                parts.append(np.asarray(self._run(chunk)).reshape(step, -1)[: step - pad])
            out = np.concatenate(parts)
        return np.asarray(out, dtype=np.float64).reshape(len(x), -1)

    def saliency(self, image: np.ndarray, class_index: int) -> np.ndarray:
        """Return |d score / d input|, the maximum over channels, for one ``(C, H, W)`` input
        (TorchScript models only: ONNX Runtime gives no gradients)."""
        if self.kind != "torchscript":
            raise SpecError("gradient saliency needs a TorchScript model (ONNX has no gradients)")
        import torch

        x = torch.from_numpy(np.ascontiguousarray(image[None], dtype=np.float32))
        x.requires_grad_(True)
        out = self._module(x).reshape(1, -1)[0, class_index]
        (grad,) = torch.autograd.grad(out, x)
        return grad[0].abs().amax(dim=0).numpy().astype(np.float32)


def _dims(shape: Sequence[Any]) -> list[int | None]:
    return [d if isinstance(d, int) and d > 0 else None for d in shape]


def _check_shape(
    path: Path, dims: Sequence[int | None], given: Sequence[int] | None
) -> tuple[tuple[int, int, int], int | None]:
    if len(dims) != 4:
        raise SpecError(
            f"{path}: the model input has {len(dims)} dimensions {list(dims)}; "
            "radprep feeds images as (N, C, H, W)"
        )
    n, c, h, w = dims
    if given is not None:
        if len(given) != 3:
            raise SpecError(f"input shape must be C,H,W (3 numbers), got {list(given)}")
        gc, gh, gw = (int(v) for v in given)
        for name, declared, want in (("C", c, gc), ("H", h, gh), ("W", w, gw)):
            if declared is not None and declared != want:
                raise SpecError(
                    f"{path}: the model declares {name}={declared} but the input shape given "
                    f"says {want}"
                )
        c, h, w = gc, gh, gw
    if c is None or h is None or w is None:
        raise SpecError(
            f"{path}: the model input shape {list(dims)} leaves C, H or W open; "
            "give the input shape (--input-shape C,H,W)"
        )
    if c not in (1, 3):
        raise SpecError(
            f"{path}: the model wants {c} input channels; radprep feeds 1 (grey) or 3 "
            "(grey repeated)"
        )
    return (c, h, w), n


def _onnx(path: Path, input_shape: Sequence[int] | None, threads: int) -> Model:
    try:
        import onnxruntime as ort
    except ImportError:
        raise SpecError(
            "ONNX models need onnxruntime, an optional extra: pip install 'radprep[models]'"
        ) from None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    try:
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise SpecError(f"{path}: not a readable ONNX model ({_first_line(e)})") from None
    inputs = sess.get_inputs()
    if len(inputs) != 1:
        raise SpecError(
            f"{path}: the model has {len(inputs)} inputs "
            f"({', '.join(i.name for i in inputs)}); radprep feeds one image batch"
        )
    (c, h, w), n = _check_shape(path, _dims(inputs[0].shape), input_shape)
    name = inputs[0].name
    out_name = sess.get_outputs()[0].name
    meta = sess.get_modelmeta().custom_metadata_map
    classes: list[str] = []
    raw = meta.get("classes") or meta.get("class_names")
    if raw:
        try:
            parsed = json.loads(raw)
            classes = [str(v) for v in (parsed.values() if isinstance(parsed, dict) else parsed)]
        except (ValueError, TypeError, AttributeError):
            classes = [v.strip() for v in raw.split(",")]

    def run(x: np.ndarray) -> np.ndarray:
        return sess.run([out_name], {name: x})[0]

    return Model(path, "onnx", (c, h, w), n, classes, run)


def _torchscript(path: Path, input_shape: Sequence[int] | None, threads: int) -> Model:
    try:
        import torch
    except ImportError:
        raise SpecError(
            "TorchScript models need torch, an optional extra: pip install 'radprep[torch]'"
        ) from None
    if threads:
        torch.set_num_threads(threads)
    try:
        with warnings.catch_warnings():
            # TorchScript is what users have; torch's own deprecation notice is not theirs to act on
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as e:
        raise SpecError(f"{path}: not a readable TorchScript model ({_first_line(e)})") from None
    declared = getattr(module, "input_shape", None)
    if input_shape is None and declared is None:
        raise SpecError(
            f"{path}: a TorchScript model carries no input shape; give it (--input-shape "
            "C,H,W) or store an input_shape attribute [C, H, W] on the module"
        )
    dims: list[int | None] = [None, *([int(v) for v in declared] if declared else [None] * 3)]
    (c, h, w), _ = _check_shape(path, dims, input_shape)
    classes = [str(v) for v in getattr(module, "classes", [])]

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(x)).numpy()

    return Model(path, "torchscript", (c, h, w), None, classes, run, module)


def load_model(
    path: str | os.PathLike[str],
    *,
    input_shape: Sequence[int] | None = None,
    threads: int = 0,
) -> Model:
    """Load an ONNX (``.onnx``) or TorchScript (``.pt``, ``.pth``, ``.ts``) classifier on CPU.

    Parameters
    ----------
    path : path
        The model file.
    input_shape : (C, H, W), optional
        For inputs the model leaves open (dynamic axes, TorchScript); must agree with what it
        declares.
    threads : int
        Threads for inference (0: the runtime's default).

    Raises
    ------
    SpecError
        If the file is missing or unreadable, the runtime is not installed, or the input is not
        (N, C, H, W) with C of 1 or 3 (each a one-line message naming the file).
    """
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"{p}: no such model file")
    if p.suffix.lower() == ".onnx":
        return _onnx(p, input_shape, threads)
    if p.suffix.lower() in TORCHSCRIPT_SUFFIXES:
        return _torchscript(p, input_shape, threads)
    raise SpecError(
        f"{p}: unknown model type {p.suffix!r}; radprep reads .onnx (onnxruntime) and "
        f"{', '.join(TORCHSCRIPT_SUFFIXES)} (TorchScript)"
    )
