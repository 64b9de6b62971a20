"""A PyTorch Dataset over a run's ``manifest.parquet`` (torch is an optional extra).

``ManifestDataset(manifest, image_output="full", target="pathology_binary")`` yields, per
sample, a dict that torch's default collate batches as it is::

    {"id": str, "image": float32 tensor (C, H, W), "labels": {name: tensor | str},
     "missing": {name: bool tensor}, "target": tensor, "mask": float32 tensor (1, H, W)}

- **Images** are float32 with a channel axis first: a grey ``(H, W)`` image becomes
  ``(1, H, W)``, an ``(H, W, C)`` image ``(C, H, W)``, a volume ``(D, H, W)`` becomes
  ``(1, D, H, W)``. Integer pixels are scaled to [0, 1] by their type's range (uint8 / 255,
  uint16 / 65535); float pixels (Hounsfield units, z-scores) keep their values. ``normalize=
  (mean, std)`` then subtracts and divides, per channel.
- **Labels** never hold ``None`` (the default collate refuses it): a missing number (an int,
  float or bool label) becomes :data:`MISSING_NUMBER` (-1, changeable with `missing_value`),
  a missing text becomes :data:`MISSING_TEXT` (``""``), and ``missing[name]`` is True for it,
  so a loss can mask it out. Numbers come as 0-d tensors (int64, or float32 for float labels;
  bools as int64 0/1), texts as strings.
- **target**: one label as the training target: a number as its tensor, a text as the index
  of its value in :attr:`ManifestDataset.classes` (sorted), -1 when missing.

The label types are the manifest's column types, so every item of a dataset has the same keys
and types. torch is imported only when a dataset is made: without it the error says
``pip install 'radprep[torch]'``. :func:`radprep.export.webdataset.shard_dataset` gives the
same items from WebDataset shards.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from radprep._dtype import as_float32, convert_dtype
from radprep.datasets.manifest import outputs_by_sample
from radprep.errors import RadprepError, SpecError

if TYPE_CHECKING:
    import torch

__all__ = [
    "MISSING_NUMBER",
    "MISSING_TEXT",
    "LabelKind",
    "ManifestDataset",
    "TorchMissingError",
    "clean_labels",
    "label_kinds_of",
    "model_input",
    "require_torch",
]

LabelKind = Literal["int", "float", "bool", "text"]

MISSING_NUMBER = -1
"""What a missing int, float or bool label becomes (its ``missing`` flag is True)."""
MISSING_TEXT = ""
"""What a missing text label becomes (its ``missing`` flag is True)."""


class TorchMissingError(RadprepError, ImportError):
    """torch is not installed; it is an optional extra."""


def require_torch() -> Any:
    """Import and return torch, or raise :class:`TorchMissingError` naming the extra."""
    try:
        import torch
    except ImportError:
        raise TorchMissingError(
            "the PyTorch Dataset needs torch, an optional extra: pip install 'radprep[torch]'"
        ) from None
    return torch


def _has_channels(arr: np.ndarray) -> bool:
    # HWC (a 2D image with up to 4 channels) or DHWC (a volume with channels).
    return (arr.ndim == 3 and arr.shape[-1] <= 4) or arr.ndim == 4


def model_input(
    array: np.ndarray,
    /,
    *,
    normalize: tuple[Sequence[float] | float, Sequence[float] | float] | None = None,
) -> np.ndarray:
    """Return an image as a model reads it: float32, channel axis first, optionally normalised.

    Parameters
    ----------
    array : ndarray
        ``(H, W)``, ``(H, W, C)`` with C <= 4, ``(D, H, W)`` or ``(D, H, W, C)``, any numeric
        type. Integer types are scaled to [0, 1] by their range; floats keep their values.
    normalize : (mean, std), optional
        Scalars or one value per channel; ``(x - mean) / std`` after the scaling.

    Returns
    -------
    ndarray of float32
        ``(C, H, W)`` or ``(C, D, H, W)``, C-contiguous.

    Raises
    ------
    SpecError
        If `normalize` has the wrong number of values or a std of 0.
    """
    arr = np.asarray(array)
    arr = convert_dtype(arr, "float32") if arr.dtype.kind in "uib" else as_float32(arr)
    arr = np.moveaxis(arr, -1, 0) if _has_channels(arr) else arr[None]
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if normalize is not None:
        mean, std = (np.atleast_1d(np.asarray(v, dtype=np.float32)) for v in normalize)
        c = out.shape[0]
        for name, v in (("mean", mean), ("std", std)):
            if v.size not in (1, c):
                raise SpecError(
                    f"normalize {name} has {v.size} values; give 1 or one per channel ({c})"
                )
        if np.any(std == 0):
            raise SpecError("normalize std must not be 0")
        shape = (-1,) + (1,) * (out.ndim - 1)
        out = (out - mean.reshape(shape)) / std.reshape(shape)
    return out.astype(np.float32, copy=False)


def label_kinds_of(schema: pa.Schema) -> dict[str, LabelKind]:
    """Return ``label name -> kind`` from a manifest's ``label_*`` column types."""
    kinds: dict[str, LabelKind] = {}
    for f in schema:
        if not f.name.startswith("label_"):
            continue
        name = f.name[len("label_") :]
        if pa.types.is_boolean(f.type):
            kinds[name] = "bool"
        elif pa.types.is_integer(f.type):
            kinds[name] = "int"
        elif pa.types.is_floating(f.type):
            kinds[name] = "float"
        else:
            kinds[name] = "text"
    return kinds


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def clean_labels(
    labels: Mapping[str, Any],
    kinds: Mapping[str, LabelKind],
    *,
    missing_value: float = MISSING_NUMBER,
) -> tuple[dict[str, Any], dict[str, bool]]:
    """Return labels without ``None`` (numbers as Python int/float, texts as str) and the
    missing flags, one key per entry of `kinds` (labels not in `kinds` are dropped)."""
    values: dict[str, Any] = {}
    missing: dict[str, bool] = {}
    for name, kind in kinds.items():
        v: Any = labels.get(name)
        gone = _is_missing(v)
        missing[name] = gone
        if kind == "text":
            values[name] = MISSING_TEXT if gone else str(v)
        elif kind == "float":
            values[name] = float(missing_value) if gone else float(v)
        else:  # int and bool: bools as 0/1, so a missing one can be -1
            values[name] = int(missing_value) if gone else int(v)
    return values, missing


def target_value(
    value: Any, kind: LabelKind, classes: Sequence[str], missing_value: float = MISSING_NUMBER
) -> int | float:
    """Return a cleaned label as a target: a number as is, a text as its index in `classes`."""
    if kind == "text":
        return classes.index(value) if value in classes else int(missing_value)
    return value


class ManifestDataset:
    """A map-style PyTorch Dataset over the samples of a radprep manifest.

    It follows torch's Dataset protocol (``__len__``, ``__getitem__``) and is made a subclass of
    ``torch.utils.data.Dataset`` when torch is present, so DataLoader and ``isinstance`` work.
    Items batch with torch's default collate (see the module docstring for their form).

    Parameters
    ----------
    manifest : path
        A run's ``manifest.parquet`` (file paths in it are relative to its folder).
    image_output : str
        The output whose files are the inputs.
    mask_output : str, optional
        An output whose files are masks (``item["mask"]``, float32 0/1, channel axis first).
    split : str, optional
        Keep only samples of this split (``train``, ``val``, ``test``).
    target : str, optional
        A label to give as ``item["target"]``.
    normalize : (mean, std), optional
        Per-channel normalisation after scaling to [0, 1] (see :func:`model_input`).
    missing_value : float
        What a missing number label becomes (default -1); ``item["missing"]`` flags it.
    channels_first : bool
        Channel axis first (the default, as torch's layers expect); False puts it last.
    raw : bool
        Give the stored arrays and labels unchanged instead (the file's dtype; channels last
        unless `channels_first`; labels may hold ``None``), for code that converts them itself.
    transform : callable, optional
        Called on each item dict before it is returned.

    Attributes
    ----------
    kinds : dict
        Label name -> ``"int"``, ``"float"``, ``"bool"`` or ``"text"``.
    classes : list of str
        The sorted values of a text `target` (its indices are the targets).

    Raises
    ------
    TorchMissingError
        If torch is not installed.
    InputError
        If the outputs are not in the manifest.
    SpecError
        If `target` is not a label of the manifest.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> ManifestDataset:
        torch = require_torch()
        if cls is ManifestDataset:
            cls = _torch_class(torch)
        return super().__new__(cls)

    def __init__(
        self,
        manifest: str | os.PathLike[str],
        *,
        image_output: str,
        mask_output: str | None = None,
        split: str | None = None,
        target: str | None = None,
        normalize: tuple[Sequence[float] | float, Sequence[float] | float] | None = None,
        missing_value: float = MISSING_NUMBER,
        channels_first: bool = True,
        raw: bool = False,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.root = Path(manifest).parent
        by_id = outputs_by_sample(manifest, (image_output, mask_output))
        self.kinds = label_kinds_of(pq.read_schema(manifest))
        if target is not None and target not in self.kinds:
            raise SpecError(
                f"{manifest}: no label {target!r} to use as the target (labels: "
                f"{', '.join(sorted(self.kinds)) or 'none'})"
            )
        self.items: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        for sample_id in sorted(by_id):
            outs = by_id[sample_id]
            if image_output not in outs:
                continue
            if split is not None and outs[image_output].get("split") != split:
                continue
            self.items.append((sample_id, outs[image_output], outs.get(mask_output or "")))
        self.target = target
        self.classes: list[str] = []
        if target is not None and self.kinds[target] == "text":
            values = {row.get(f"label_{target}") for _, row, _ in self.items}
            self.classes = sorted(str(v) for v in values if not _is_missing(v))
        self.normalize = normalize
        self.missing_value = missing_value
        self.channels_first = channels_first
        self.raw = raw
        self.transform = transform

    @property
    def _torch(self) -> Any:
        """The torch module (not stored: the dataset pickles for spawned loader workers)."""
        return require_torch()

    def __reduce__(self) -> tuple[Any, ...]:
        # The torch subclass is made at run time, so pickle names a function that remakes it.
        return (_rebuild, (self.__dict__,))

    def __len__(self) -> int:
        return len(self.items)

    def _array(self, row: dict[str, Any]) -> np.ndarray:
        from radprep.export.webdataset import load_array

        return load_array(self.root / row["path"], row["format"])

    def _raw_tensor(self, arr: np.ndarray) -> torch.Tensor:
        if self.channels_first and _has_channels(arr):
            arr = np.moveaxis(arr, -1, 0)
        if arr.dtype == np.uint16:
            arr = arr.astype(np.int32)  # torch has no uint16 arithmetic
        return self._torch.from_numpy(np.ascontiguousarray(arr))

    def _tensor(self, chw: np.ndarray) -> torch.Tensor:
        if not self.channels_first:
            chw = np.ascontiguousarray(np.moveaxis(chw, 0, -1))
        return self._torch.from_numpy(chw)

    def __getitem__(self, index: int) -> dict[str, Any]:
        torch = self._torch
        sample_id, image_row, mask_row = self.items[index]
        labels = {k[len("label_") :]: v for k, v in image_row.items() if k.startswith("label_")}
        image = self._array(image_row)
        if self.raw:
            item: dict[str, Any] = {
                "id": sample_id,
                "image": self._raw_tensor(image),
                "labels": labels,
            }
            if mask_row is not None:
                item["mask"] = self._raw_tensor(self._array(mask_row))
            return self.transform(item) if self.transform is not None else item
        values, missing = clean_labels(labels, self.kinds, missing_value=self.missing_value)
        item = {
            "id": sample_id,
            "image": self._tensor(model_input(image, normalize=self.normalize)),
            "labels": {k: _label_tensor(torch, v, self.kinds[k]) for k, v in values.items()},
            "missing": {k: torch.tensor(v) for k, v in missing.items()},
        }
        if self.target is not None:
            kind = self.kinds[self.target]
            t = target_value(values[self.target], kind, self.classes, self.missing_value)
            item["target"] = _label_tensor(torch, t, "int" if kind == "text" else kind)
        if mask_row is not None:
            mask = self._array(mask_row)
            item["mask"] = self._tensor(model_input((mask > 0).astype(np.uint8) * 255))
        return self.transform(item) if self.transform is not None else item


def _label_tensor(torch: Any, value: Any, kind: LabelKind) -> Any:
    if kind == "text":
        return value
    if kind == "float":
        return torch.tensor(value, dtype=torch.float32)
    return torch.tensor(value, dtype=torch.int64)


_CLASSES: dict[int, type] = {}


def _rebuild(state: dict[str, Any]) -> ManifestDataset:
    ds: ManifestDataset = object.__new__(_torch_class(require_torch()))
    ds.__dict__.update(state)
    return ds


def _torch_class(torch: Any) -> type:
    key = id(torch)
    if key not in _CLASSES:
        _CLASSES[key] = type(
            "ManifestDataset", (ManifestDataset, torch.utils.data.Dataset), {"__module__": __name__}
        )
    return _CLASSES[key]
