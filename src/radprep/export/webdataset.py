"""WebDataset tar shards: image + mask + JSON labels per sample, for streaming training.

Each sample is three tar members sharing a key (``<key>.image.npy``, ``<key>.mask.npy``,
``<key>.json``), the layout the ``webdataset`` package groups back into one sample (its default
decoder turns ``.npy`` into arrays and ``.json`` into dicts). The bytes are deterministic: every
tar header has mtime 0, uid/gid 0, empty owner names and mode 0644, members are in sample order,
and NPY is written without pickles, so the same samples always give the same shards.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radprep.datasets.manifest import outputs_by_sample
from radprep.errors import InputError, SpecError
from radprep.export.torch import (
    MISSING_NUMBER,
    LabelKind,
    clean_labels,
    model_input,
    target_value,
)
from radprep.io.write import atomic_write_bytes

__all__ = [
    "ShardSample",
    "load_array",
    "samples_from_manifest",
    "shard_dataset",
    "shard_key",
    "shard_label_kinds",
    "write_shards",
]


@dataclass(frozen=True, eq=False)
class ShardSample:
    """One sample of a shard: its key, image, optional mask and JSON-serialisable labels."""

    key: str
    image: np.ndarray
    mask: np.ndarray | None = None
    labels: Mapping[str, Any] = field(default_factory=dict)


def shard_key(sample_id: str) -> str:
    """Return a WebDataset key for a sample id: dots (which split keys from extensions) to '_'."""
    key = sample_id.replace("\\", "/").replace(".", "_").strip("/")
    if not key:
        raise SpecError(f"sample id {sample_id!r} gives an empty WebDataset key")
    return key


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def _member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _shard_bytes(samples: list[ShardSample]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for s in samples:
            key = shard_key(s.key)
            _member(tar, f"{key}.image.npy", _npy(s.image))
            if s.mask is not None:
                _member(tar, f"{key}.mask.npy", _npy(s.mask))
            text = json.dumps(dict(s.labels), sort_keys=True, separators=(",", ":"))
            _member(tar, f"{key}.json", text.encode())
    return buf.getvalue()


def write_shards(
    samples: Iterable[ShardSample],
    out_dir: str | os.PathLike[str],
    *,
    prefix: str = "shard",
    max_count: int = 1000,
) -> list[Path]:
    """Write samples into tar shards ``<prefix>-000000.tar``, ... of at most `max_count` each.

    Parameters
    ----------
    samples : iterable of ShardSample
        In the order to store them (shuffle before, if wanted: shards keep the order).
    out_dir : path
        Where the shards go (written atomically).
    prefix : str
        Shard file name prefix.
    max_count : int
        Samples per shard.

    Returns
    -------
    list of Path
        The shards written; read them with ``webdataset.WebDataset(paths).decode()``.

    Raises
    ------
    SpecError
        If `max_count` < 1 or two samples share a key.
    """
    if int(max_count) < 1:
        raise SpecError(f"max_count must be >= 1, got {max_count}")
    out = Path(out_dir)
    written: list[Path] = []
    seen: set[str] = set()
    batch: list[ShardSample] = []

    def flush() -> None:
        path = out / f"{prefix}-{len(written):06d}.tar"
        written.append(atomic_write_bytes(path, _shard_bytes(batch)))
        batch.clear()

    for s in samples:
        key = shard_key(s.key)
        if key in seen:
            raise SpecError(f"two samples share the WebDataset key {key!r}; keys must be unique")
        seen.add(key)
        batch.append(s)
        if len(batch) >= max_count:
            flush()
    if batch:
        flush()
    return written


def load_array(path: str | os.PathLike[str], fmt: str) -> np.ndarray:
    """Read one written output back into an array (NPY, NPZ, PNG, NIfTI or NRRD).

    Raises
    ------
    InputError
        If the file cannot be read, or the format is not one of these.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if fmt == "npy":
        return np.load(path, allow_pickle=False)
    if fmt == "npz":
        with np.load(path, allow_pickle=False) as z:
            return z[z.files[0]]
    if fmt in ("png8", "png16"):
        import cv2

        arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise InputError(f"{path}: cannot read the PNG")
        return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB) if arr.ndim == 3 else arr
    if fmt in ("nifti", "nrrd"):
        import SimpleITK as sitk

        return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    raise InputError(f"{path}: format {fmt!r} cannot be read back into an array")


_load_array = load_array  # the name other modules knew


def samples_from_manifest(
    manifest: str | os.PathLike[str],
    *,
    image_output: str,
    mask_output: str | None = None,
    split: str | None = None,
) -> Iterator[ShardSample]:
    """Yield the samples a recipe run wrote, from its ``manifest.parquet``, in sample order.

    Labels are the manifest's ``label_*`` columns (prefix dropped) plus ``split`` and ``id``.

    Raises
    ------
    InputError
        If an output is not in the manifest.
    """
    mpath = Path(manifest)
    by_id = outputs_by_sample(mpath, (image_output, mask_output))
    for sample_id in sorted(by_id):
        outs = by_id[sample_id]
        if image_output not in outs:
            continue
        row = outs[image_output]
        if split is not None and row.get("split") != split:
            continue
        labels = {k[len("label_") :]: v for k, v in row.items() if k.startswith("label_")}
        labels.update({"id": sample_id, "split": row.get("split")})
        image = load_array(mpath.parent / row["path"], row["format"])
        mask = None
        if mask_output is not None and mask_output in outs:
            m = outs[mask_output]
            mask = load_array(mpath.parent / m["path"], m["format"])
        yield ShardSample(sample_id, image, mask, labels)


# -- loading: webdataset's own pipeline, items as ManifestDataset gives them ----------------------


def shard_label_kinds(paths: Iterable[str | os.PathLike[str]]) -> dict[str, LabelKind]:
    """Return ``label name -> kind`` from the JSON members of local shards.

    A label is ``"bool"``, ``"int"`` or ``"float"`` when all its non-null values are of that
    type (ints and floats together are ``"float"``), ``"text"`` otherwise (and when it is
    always null). ``id`` and ``split`` are left out: the items carry them apart.
    """
    seen: dict[str, set[type]] = {}
    for p in paths:
        with tarfile.open(p) as tar:
            for info in tar:
                if not info.name.endswith(".json"):
                    continue
                fh = tar.extractfile(info)
                if fh is None:
                    continue
                for k, v in json.loads(fh.read()).items():
                    seen.setdefault(k, set()).add(type(v))
    kinds: dict[str, LabelKind] = {}
    for name in sorted(set(seen) - {"id", "split"}):
        types = seen[name] - {type(None)}
        if types and types <= {bool}:
            kinds[name] = "bool"
        elif types and types <= {int}:
            kinds[name] = "int"
        elif types and types <= {int, float}:
            kinds[name] = "float"
        else:
            kinds[name] = "text"
    return kinds


@dataclass(frozen=True)
class _ToItem:
    """Turn a decoded shard sample into a training item (picklable for loader workers)."""

    kinds: Mapping[str, LabelKind]
    target: str | None
    classes: tuple[str, ...]
    normalize: tuple[Any, Any] | None
    missing_value: float

    def __call__(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        labels = sample["json"]
        values, missing = clean_labels(labels, self.kinds, missing_value=self.missing_value)
        item: dict[str, Any] = {
            "id": str(labels.get("id", sample["__key__"])),
            "split": str(labels.get("split") or ""),
            "image": model_input(sample["image.npy"], normalize=self.normalize),
            "labels": values,
            "missing": missing,
        }
        if self.target is not None:
            kind = self.kinds[self.target]
            item["target"] = target_value(
                values[self.target], kind, self.classes, self.missing_value
            )
        if "mask.npy" in sample:
            item["mask"] = model_input((sample["mask.npy"] > 0).astype(np.uint8) * 255)
        return item


def _text_values(files: list[str], label: str) -> list[str]:
    """The sorted values of a text label in the shards' JSON members (the default classes)."""
    found: set[str] = set()
    for f in files:
        with tarfile.open(f) as tar:
            for info in tar:
                fh = tar.extractfile(info) if info.name.endswith(".json") else None
                if fh is not None:
                    v = json.loads(fh.read()).get(label)
                    if v is not None:
                        found.add(str(v))
    return sorted(found)


def shard_dataset(
    paths: Sequence[str | os.PathLike[str]],
    *,
    target: str | None = None,
    classes: Sequence[str] | None = None,
    normalize: tuple[Any, Any] | None = None,
    missing_value: float = MISSING_NUMBER,
    label_kinds: Mapping[str, LabelKind] | None = None,
    shardshuffle: bool | int = False,
) -> Any:
    """Read shards with webdataset's own pipeline, as training items without ``None``.

    The items are those of :class:`radprep.export.torch.ManifestDataset` as numpy arrays and
    Python numbers (plus ``split``), so ``webdataset.WebLoader(ds, batch_size=..,
    num_workers=..)`` (torch's DataLoader) batches them with torch's default collate.

    Parameters
    ----------
    paths : sequence of path
        The shard files.
    target : str, optional
        A label to give as ``item["target"]`` (a text as its index in `classes`).
    classes : sequence of str, optional
        The values of a text target, in index order; by default the sorted values found.
    normalize : (mean, std), optional
        As in :func:`radprep.export.torch.model_input`.
    missing_value : float
        What a missing number label becomes.
    label_kinds : mapping, optional
        Label name -> kind; by default read from the shards (:func:`shard_label_kinds`).
    shardshuffle : bool or int
        Passed to ``webdataset.WebDataset``.

    Raises
    ------
    SpecError
        If webdataset is not installed, or `target` is not a label of the shards.
    """
    try:
        import webdataset as wds
    except ImportError:
        raise SpecError("reading shards needs webdataset: pip install 'radprep[torch]'") from None
    files = [os.fspath(p) for p in paths]
    kinds = dict(label_kinds) if label_kinds is not None else shard_label_kinds(files)
    if target is not None and target not in kinds:
        raise SpecError(
            f"no label {target!r} in the shards to use as the target (labels: "
            f"{', '.join(sorted(kinds)) or 'none'})"
        )
    if target is not None and kinds[target] == "text" and classes is None:
        classes = _text_values(files, target)
    to_item = _ToItem(kinds, target, tuple(classes or ()), normalize, missing_value)
    try:
        # empty_check off: a loader worker that gets no shard yields nothing instead of failing.
        ds = wds.WebDataset(files, shardshuffle=shardshuffle, empty_check=False)
    except TypeError:  # webdataset before empty_check existed
        ds = wds.WebDataset(files, shardshuffle=shardshuffle)
    return ds.decode().map(to_item)
