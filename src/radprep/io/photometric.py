"""Photometric conversion after decoding: PALETTE COLOR expanded, YBR relabelled as RGB.

pydicom converts YBR_FULL and YBR_FULL_422 to RGB while decoding (and the JPEG 2000 family's
decoders undo YBR_RCT / YBR_ICT), so only the label changes for those; PALETTE COLOR indices go
through the file's Red, Green and Blue lookup tables (PS3.3 C.7.6.3.1.5).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID

from radprep.errors import InvalidAttributeError
from radprep.image import AppliedStep, ImageMeta
from radprep.io.header import transfer_syntax

__all__ = ["to_rgb"]


def to_rgb(
    stored: np.ndarray, meta: ImageMeta, ds: Dataset, where: str
) -> tuple[np.ndarray, ImageMeta, list[AppliedStep]]:
    """Return colour pixels as RGB, with the meta and the steps that say so (grey: unchanged)."""
    if meta.photometric_interpretation == "PALETTE COLOR":
        stored = _palette_to_rgb(stored, ds, where)
        bits = 8 * stored.dtype.itemsize
        meta = replace(
            meta, photometric_interpretation="RGB", samples_per_pixel=3, bits_stored=bits
        )
        return stored, meta, [AppliedStep("palette_to_rgb", {})]
    if (
        meta.photometric_interpretation.startswith("YBR")
        and stored.ndim >= 3
        and stored.shape[-1] == 3
    ):
        meta = replace(meta, photometric_interpretation="RGB")
        return stored, meta, [AppliedStep("ybr_to_rgb", {})]
    return stored, meta, []


_PALETTE = ("Red", "Green", "Blue")


def _palette_to_rgb(stored: np.ndarray, ds: Dataset, where: str) -> np.ndarray:
    """Expand PALETTE COLOR indices through the file's Red, Green and Blue LUTs.

    pydicom reads non-segmented LUT data as native-order words whatever the transfer syntax, so
    big-endian files (OW values kept as stored bytes) get their words swapped here first.
    """
    for colour in _PALETTE:
        desc = ds.get(f"{colour}PaletteColorLookupTableDescriptor")
        has_data = f"{colour}PaletteColorLookupTableData" in ds or (
            f"Segmented{colour}PaletteColorLookupTableData" in ds
        )
        if desc is None or not has_data:
            raise InvalidAttributeError(
                f"{where}: PALETTE COLOR without its {colour} Palette Color Lookup Table "
                "Descriptor and Data (0028,110x / 0028,120x); the colours cannot be rebuilt"
            )
        values = list(desc) if isinstance(desc, (list, MultiValue)) else [desc]
        if len(values) != 3 or int(values[2]) not in (8, 16):
            raise InvalidAttributeError(
                f"{where}: {colour}PaletteColorLookupTableDescriptor is {values}; "
                "PS3.3 C.7.6.3.1.5 needs three values and 8 or 16 bits per entry"
            )
    if transfer_syntax(ds) == UID("1.2.840.10008.1.2.2"):
        for colour in _PALETTE:
            keyword = f"{colour}PaletteColorLookupTableData"
            raw = ds.get(keyword)
            if isinstance(raw, bytes) and len(raw) % 2 == 0:
                ds[keyword].value = np.frombuffer(raw, dtype=">u2").astype(np.uint16).tobytes()
    from pydicom.pixels.processing import apply_color_lut

    return apply_color_lut(stored, ds)
