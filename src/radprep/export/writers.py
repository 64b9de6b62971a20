"""Output writers by name: png8, png16, npy, npz, nifti, nrrd; more can be registered.

A writer turns one array and its geometry (None when unknown) into bytes; the caller writes them
atomically. Formats without geometry ignore it. An unknown name lists the known ones. An array
with no pixels is refused (:class:`~radprep.errors.EmptyImageError`, a per-file input error).
"""

from __future__ import annotations

import functools
import io
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel

from radprep.export.nifti import encode_nifti, encode_nrrd
from radprep.export.png import encode, require_pixels
from radprep.geometry import Geometry
from radprep.plugins import WRITERS

__all__ = ["get_writer", "known_writers", "register_writer", "suffix_of"]

Writer = Callable[..., bytes]


def register_writer(
    name: str, writer: Writer, suffix: str, *, options: type[BaseModel] | None = None
) -> None:
    """Register a writer under `name`; a recipe's ``format: NAME`` then uses it.

    Parameters
    ----------
    name : str
        The format name recipes use.
    writer : callable
        ``(array, geometry or None, **options) -> bytes``.
    suffix : str
        The suffix of the files it writes (``.png``).
    options : pydantic model, optional
        Its options (a recipe's ``format_options``), validated with the recipe; none if omitted.
    """
    WRITERS.register(name, (writer, suffix), options)


def known_writers() -> list[str]:
    """The registered writer names, sorted."""
    return WRITERS.known()


def get_writer(name: str, options: Mapping[str, Any] | None = None) -> Writer:
    """Return the writer registered as `name`, with its `options` (validated) bound."""
    writer: Writer = WRITERS.get(name)[0]
    if not options:
        return writer
    validated = WRITERS.validate_options(name, options).model_dump()
    return functools.partial(writer, **validated)


def suffix_of(name: str) -> str:
    """Return the file suffix the writer `name` writes."""
    suffix: str = WRITERS.get(name)[1]
    return suffix


def _npz(array: np.ndarray, geometry: Geometry | None = None) -> bytes:
    require_pixels(array)
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


def _nifti(array: np.ndarray, geometry: Geometry | None = None) -> bytes:
    require_pixels(array)
    return encode_nifti(array, geometry)


def _nrrd(array: np.ndarray, geometry: Geometry | None = None) -> bytes:
    require_pixels(array)
    return encode_nrrd(array, geometry)


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
register_writer("nifti", _nifti, ".nii.gz")
register_writer("nrrd", _nrrd, ".nrrd")
