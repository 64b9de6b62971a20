"""Output writers by name: png8, png16, npy, npz, nifti, nrrd; more can be registered.

A writer turns one array and its geometry (None when unknown) into bytes; the caller writes them
atomically. Formats without geometry ignore it. An unknown name lists the known ones.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import numpy as np

from radprep.errors import SpecError
from radprep.export.nifti import encode_nifti, encode_nrrd
from radprep.export.png import encode
from radprep.geometry import Geometry

__all__ = ["get_writer", "known_writers", "register_writer", "suffix_of"]

Writer = Callable[[np.ndarray, Geometry | None], bytes]

_WRITERS: dict[str, tuple[Writer, str]] = {}


def register_writer(name: str, writer: Writer, suffix: str) -> None:
    """Register a writer ((array, geometry) -> bytes) under `name`, writing `suffix` files."""
    _WRITERS[name] = (writer, suffix)


def known_writers() -> list[str]:
    """The registered writer names, sorted."""
    return sorted(_WRITERS)


def get_writer(name: str) -> Writer:
    """Return the writer registered as `name`."""
    if name not in _WRITERS:
        raise SpecError(f"unknown output format {name!r}; known: {', '.join(known_writers())}")
    return _WRITERS[name][0]


def suffix_of(name: str) -> str:
    """Return the file suffix the writer `name` writes."""
    get_writer(name)
    return _WRITERS[name][1]


def _npz(array: np.ndarray, geometry: Geometry | None = None) -> bytes:
    # np.savez stamps the zip entry with the current time; a fixed stamp keeps the bytes the
    # same from run to run (resumed and distributed runs must write identical files).
    npy = io.BytesIO()
    np.save(npy, np.ascontiguousarray(array), allow_pickle=False)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("image.npy", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, npy.getvalue())
    return buf.getvalue()


def _png8(array: np.ndarray, geometry: Geometry | None = None) -> bytes:
    return encode(array, "png8")


def _png16(array: np.ndarray, geometry: Geometry | None = None) -> bytes:
    return encode(array, "png16")


def _npy(array: np.ndarray, geometry: Geometry | None = None) -> bytes:
    return encode(array, "npy")


register_writer("png8", _png8, ".png")
register_writer("png16", _png16, ".png")
register_writer("npy", _npy, ".npy")
register_writer("npz", _npz, ".npz")
register_writer("nifti", encode_nifti, ".nii.gz")
register_writer("nrrd", encode_nrrd, ".nrrd")
