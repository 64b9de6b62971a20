"""A PyTorch Dataset over a run's ``manifest.parquet`` (torch is an optional extra).

``ManifestDataset(manifest, image_output="array")`` yields ``{"image": tensor, "mask": tensor,
"labels": dict, "id": str}`` per sample, reading each file when asked (NPY, NPZ, PNG, NIfTI or
NRRD). Axis order is radprep's (channels last); pass ``channels_first=True`` for CHW. torch is
imported only when a dataset is made: without it the error says ``pip install 'radprep[torch]'``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from radprep.datasets.manifest import outputs_by_sample
from radprep.errors import RadprepError

if TYPE_CHECKING:
    import torch

__all__ = ["ManifestDataset", "TorchMissingError", "require_torch"]


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


class ManifestDataset:
    """A map-style PyTorch Dataset over the samples of a radprep manifest.

    It follows torch's Dataset protocol (``__len__``, ``__getitem__``) and is made a subclass of
    ``torch.utils.data.Dataset`` when torch is present, so DataLoader and ``isinstance`` work.

    Parameters
    ----------
    manifest : path
        A run's ``manifest.parquet`` (file paths in it are relative to its folder).
    image_output : str
        The output whose files are the inputs.
    mask_output : str, optional
        An output whose files are the targets.
    split : str, optional
        Keep only samples of this split (``train``, ``val``, ``test``).
    channels_first : bool
        Move a trailing channel axis first (HWC -> CHW, DHWC -> CDHW).
    transform : callable, optional
        Called on each item dict before it is returned.

    Raises
    ------
    TorchMissingError
        If torch is not installed.
    InputError
        If the outputs are not in the manifest.
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
        channels_first: bool = False,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.torch = require_torch()
        self.root = Path(manifest).parent
        by_id = outputs_by_sample(manifest, (image_output, mask_output))
        self.items: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        for sample_id in sorted(by_id):
            outs = by_id[sample_id]
            if image_output not in outs:
                continue
            if split is not None and outs[image_output].get("split") != split:
                continue
            self.items.append((sample_id, outs[image_output], outs.get(mask_output or "")))
        self.channels_first = channels_first
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def _tensor(self, row: dict[str, Any]) -> torch.Tensor:
        from radprep.export.webdataset import _load_array

        arr = _load_array(self.root / row["path"], row["format"])
        # HWC (a 2D image with up to 4 channels) or DHWC (a volume with channels).
        has_channels = (arr.ndim == 3 and arr.shape[-1] <= 4) or arr.ndim == 4
        if self.channels_first and has_channels:
            arr = np.moveaxis(arr, -1, 0)
        if arr.dtype == np.uint16:
            arr = arr.astype(np.int32)  # torch has no uint16 arithmetic
        return self.torch.from_numpy(np.ascontiguousarray(arr))

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample_id, image_row, mask_row = self.items[index]
        item: dict[str, Any] = {
            "id": sample_id,
            "image": self._tensor(image_row),
            "labels": {
                k[len("label_") :]: v for k, v in image_row.items() if k.startswith("label_")
            },
        }
        if mask_row is not None:
            item["mask"] = self._tensor(mask_row)
        return self.transform(item) if self.transform is not None else item


_CLASSES: dict[int, type] = {}


def _torch_class(torch: Any) -> type:
    key = id(torch)
    if key not in _CLASSES:
        _CLASSES[key] = type(
            "ManifestDataset", (ManifestDataset, torch.utils.data.Dataset), {"__module__": __name__}
        )
    return _CLASSES[key]
