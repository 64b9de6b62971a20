"""The Modality LUT stage (PS3.3 C.11.1): stored values to modality values (e.g. Hounsfield units).

pydicom's :func:`~pydicom.pixels.processing.apply_modality_lut` does the arithmetic; this module
decides when it is the identity, builds the small data set it reads, and keeps the dtype policy:
the stored integer type when the Modality LUT is the identity, the LUT's unsigned type for a
Modality LUT Sequence, float32 for a rescale.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_modality_lut

from radprep.errors import InvalidAttributeError
from radprep.image import ImageMeta
from radprep.intensity._lut import apply_pointwise

__all__ = ["apply_modality", "is_identity_modality", "lut_dataset"]


def is_identity_modality(meta: ImageMeta) -> bool:
    """True when the Modality LUT leaves stored values unchanged."""
    if meta.modality_lut is not None:
        return False
    slope = 1.0 if meta.rescale_slope is None else meta.rescale_slope
    intercept = 0.0 if meta.rescale_intercept is None else meta.rescale_intercept
    return slope == 1.0 and intercept == 0.0


def lut_dataset(meta: ImageMeta) -> Dataset:
    """Return a minimal Dataset with the attributes pydicom's LUT functions read.

    The rescale (or the Modality LUT Sequence) is included: the Modality LUT stage needs it, and
    a window applied afterwards derives its output range from the modality range
    (PS3.3 C.11.2.1.2).
    """
    ds = Dataset()
    ds.PhotometricInterpretation = meta.photometric_interpretation
    ds.BitsStored = meta.bits_stored
    ds.BitsAllocated = meta.bits_allocated
    ds.PixelRepresentation = meta.pixel_representation
    ds.SamplesPerPixel = meta.samples_per_pixel
    if meta.modality_lut is not None:
        item = Dataset()
        item.LUTDescriptor = list(meta.modality_lut.descriptor)
        item.LUTData = [int(v) for v in meta.modality_lut.data]
        item["LUTData"].VR = "US"
        ds.ModalityLUTSequence = [item]
    elif meta.rescale_slope is not None or meta.rescale_intercept is not None:
        ds.RescaleSlope = 1.0 if meta.rescale_slope is None else meta.rescale_slope
        ds.RescaleIntercept = 0.0 if meta.rescale_intercept is None else meta.rescale_intercept
    return ds


def apply_modality(stored: np.ndarray, meta: ImageMeta) -> np.ndarray:
    """Return modality values for stored pixel values.

    Parameters
    ----------
    stored : ndarray
        Stored values as decoded (any shape).
    meta : ImageMeta
        Gives RescaleSlope/RescaleIntercept (0028,1053)/(0028,1052) or the Modality LUT Sequence
        (0028,3000).

    Returns
    -------
    ndarray
        `stored` itself when the Modality LUT is the identity; uint8/uint16 for a Modality LUT
        Sequence; float32 for a rescale.

    Raises
    ------
    InvalidAttributeError
        If RescaleSlope is 0 or not finite, or the Modality LUT does not fit its descriptor.
    """
    if meta.is_color or is_identity_modality(meta):
        return stored
    if meta.modality_lut is not None:
        n_entries = meta.modality_lut.descriptor[0] or 65536
        if meta.modality_lut.data.size < n_entries:
            raise InvalidAttributeError(
                "ModalityLUTSequence (0028,3000) LUTData has "
                f"{meta.modality_lut.data.size} entries "
                f"but its LUTDescriptor says {n_entries}; the Modality LUT does not fit"
            )
    else:
        slope = meta.rescale_slope
        if slope is not None and (slope == 0 or not np.isfinite(slope)):
            raise InvalidAttributeError(
                f"RescaleSlope (0028,1053) is {slope}; a Modality LUT needs a finite non-zero "
                "slope; fix the header or read with modality=False"
            )
    ds = lut_dataset(meta)
    out_dtype = None if meta.modality_lut is not None else np.float32
    return apply_pointwise(stored, lambda x: apply_modality_lut(x, ds), out_dtype=out_dtype)
