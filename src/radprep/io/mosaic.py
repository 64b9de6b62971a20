"""Siemens mosaics: several slices of one volume tiled into one 2D image, and back.

Siemens MR scanners store an EPI volume (fMRI, diffusion) as one instance whose pixel data is a
sheet of ``grid x grid`` tiles, ``grid = ceil(sqrt(n))`` for ``n`` slices, filled row by row;
tiles past ``n`` are blank. The slice count is NumberOfImagesInMosaic, in the CSA image header
(0029,xx10) and in the private element (0019,xx0A) of the ``SIEMENS MR HEADER`` block. The
header's ImagePositionPatient (0020,0032) is that of the whole sheet's first pixel, not of the
first slice: the first slice starts ``(sheet size - tile size) / 2`` pixels further along rows
and columns. Slice ``k`` then lies ``k`` slice spacings further along the CSA
SliceNormalVector, whose sign (not always that of the ImageOrientationPatient cross product)
says which way the slices were stacked. This is the layout nibabel's
``nibabel.nicom.dicomwrappers.MosaicWrapper`` describes.

The CSA header (SV10 "CSA2", or the older "CSA1") is a small binary table of named items; see
:func:`read_csa`.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from radprep.errors import InputError

__all__ = ["Mosaic", "csa_image_header", "mosaic_of", "read_csa", "untile"]

_MAX_CSA_ITEMS = 1000
_NUMERIC = {
    "FL": float,
    "FD": float,
    "DS": float,
    "SS": int,
    "US": int,
    "SL": int,
    "UL": int,
    "IS": int,
}


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("latin-1").strip()


def read_csa(raw: bytes) -> dict[str, list[Any]]:
    """Parse a Siemens CSA header (CSA1 or CSA2) into ``{name: [values]}``.

    Numeric items (VR FL, FD, DS, SS, US, SL, UL, IS) are converted; empty items end a list.

    Raises
    ------
    InputError
        If the bytes are not a CSA header (a count out of range, an item running past the end).
    """
    csa2 = raw[:4] == b"SV10"
    pos = 8 if csa2 else 0
    end = len(raw)

    def unpack(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        size = struct.calcsize(fmt)
        if pos + size > end:
            raise InputError("CSA header ends inside an item")
        out = struct.unpack_from(fmt, raw, pos)
        pos += size
        return out

    n_tags, _ = unpack("<2I")
    if not 0 < n_tags <= _MAX_CSA_ITEMS:
        raise InputError(f"CSA header claims {n_tags} tags")
    tags: dict[str, list[Any]] = {}
    first_n_items = 0
    for tag_no in range(n_tags):
        name_b, vm, vr_b, _, n_items, _ = unpack("<64si4s3i")
        if not 0 <= n_items <= _MAX_CSA_ITEMS:
            raise InputError(f"CSA header tag {_text(name_b)!r} claims {n_items} items")
        if tag_no == 1:
            first_n_items = n_items  # CSA1 lengths are offset by the second tag's item count
        convert = _NUMERIC.get(_text(vr_b))
        n_values = vm if vm > 0 else n_items
        items: list[Any] = []
        for item_no in range(n_items):
            x0, x1, _, _ = unpack("<4i")
            length = x1 if csa2 else x0 - first_n_items
            if length < 0 or pos + length > end:
                if csa2:
                    raise InputError("CSA header item runs past the end")
                break
            text = _text(raw[pos : pos + length])
            pos += length + (-length % 4)  # items are padded to 4 bytes
            if item_no >= n_values or (convert is not None and not text):
                continue
            if convert is None:
                items.append(text)
                continue
            try:
                items.append(convert(float(text)))
            except ValueError:
                items.append(text)
        tags[_text(name_b)] = items
    return tags


def _private(ds: Dataset, group: int, creator: str, offset: int) -> Any:
    try:
        block = ds.private_block(group, creator)
        return block[offset].value if offset in block else None
    except (KeyError, ValueError):
        return None


def csa_image_header(ds: Dataset) -> dict[str, list[Any]] | None:
    """Return the parsed CSA image header (0029,xx10) of a Siemens object, or None."""
    raw = _private(ds, 0x0029, "SIEMENS CSA HEADER", 0x10)
    if not isinstance(raw, bytes) or len(raw) < 16:
        return None
    try:
        return read_csa(raw)
    except InputError:
        return None


@dataclass(frozen=True)
class Mosaic:
    """How one mosaic instance holds its slices.

    Attributes
    ----------
    n_images : int
        Slices in the mosaic (NumberOfImagesInMosaic).
    grid : int
        Tiles per side of the sheet, ``ceil(sqrt(n_images))``.
    rows, cols : int
        Size of one tile (one slice).
    normal_sign : float
        +1 when slices advance along ``row cosine x column cosine``, -1 when the CSA
        SliceNormalVector points the other way.
    b_value : float or None
        The CSA B_value of a diffusion-weighted mosaic.
    """

    n_images: int
    grid: int
    rows: int
    cols: int
    normal_sign: float = 1.0
    b_value: float | None = None

    def first_slice_offset(self, sheet_rows: int, sheet_cols: int) -> tuple[float, float]:
        """Return the (row, column) pixel offset of slice 0's first pixel in the sheet's frame."""
        return (sheet_rows - self.rows) / 2.0, (sheet_cols - self.cols) / 2.0


def _is_mosaic_type(ds: Dataset) -> bool:
    image_type = ds.get("ImageType") or []
    if isinstance(image_type, str):
        image_type = [image_type]
    return any(str(v).strip().upper() == "MOSAIC" for v in image_type)


def mosaic_of(ds: Dataset, where: str) -> Mosaic | None:
    """Return the mosaic layout of a Siemens mosaic instance, or None for any other image.

    A mosaic is an instance with ``MOSAIC`` in ImageType (0008,0008); the slice count comes
    from the CSA image header, else from NumberOfImagesInMosaic (0019,xx0A).

    Raises
    ------
    InputError
        If the image says MOSAIC but gives no slice count, or its size does not divide into
        the tiles.
    """
    if not _is_mosaic_type(ds) or int(ds.get("NumberOfFrames") or 1) > 1:
        return None
    csa = csa_image_header(ds) or {}
    n: Any = (csa.get("NumberOfImagesInMosaic") or [None])[0]
    if not n:
        n = _private(ds, 0x0019, "SIEMENS MR HEADER", 0x0A)
    try:
        n_images = int(n) if n not in (None, b"", "") else 0
    except (TypeError, ValueError):
        n_images = 0
    if n_images <= 0:
        raise InputError(
            f"{where}: ImageType (0008,0008) says MOSAIC but NumberOfImagesInMosaic "
            "(0019,xx0A and the CSA header (0029,xx10)) is missing; the slices cannot be un-tiled"
        )
    grid = math.ceil(math.sqrt(n_images))
    rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    if rows % grid or cols % grid:
        raise InputError(
            f"{where}: a mosaic of {n_images} slices needs {grid}x{grid} tiles but Rows/Columns "
            f"(0028,0010)/(0028,0011) are {rows}x{cols}, not a multiple of {grid}"
        )
    sign = 1.0
    normal = csa.get("SliceNormalVector") or []
    iop = ds.get("ImageOrientationPatient")
    if len(normal) == 3 and iop is not None and len(iop) == 6:
        cross = np.cross(np.asarray(iop[:3], float), np.asarray(iop[3:], float))
        sign = -1.0 if float(np.dot(cross, np.asarray(normal, float))) < 0 else 1.0
    b_values = csa.get("B_value") or []
    b_value = float(b_values[0]) if b_values and isinstance(b_values[0], (int, float)) else None
    return Mosaic(n_images, grid, rows // grid, cols // grid, sign, b_value)


def untile(sheet: np.ndarray, mosaic: Mosaic) -> np.ndarray:
    """Return the ``(n_images, rows, cols)`` slices of a mosaic sheet (a view where possible)."""
    g = mosaic.grid
    tiles = sheet.reshape(g, mosaic.rows, g, mosaic.cols).transpose(0, 2, 1, 3)
    return tiles.reshape(g * g, mosaic.rows, mosaic.cols)[: mosaic.n_images]
