"""Decode the pixels to clean, and store them again in the source transfer syntax when an
encoder allows."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import pack_bits, pixel_array
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from radprep.deid.display import swap_other_words
from radprep.errors import PixelDecodeError, RadprepError

__all__ = ["store_pixels"]

# Source transfer syntax -> the one the cleaned pixels are stored in (lossless stays lossless;
# a lossy source is not compressed lossily again). Native syntaxes keep theirs (big endian,
# retired, becomes explicit little endian). Anything else (JPEG baseline and lossless process
# 14, HTJ2K: no encoder) falls back to Explicit VR Little Endian, said in the audit.
_REENCODE: dict[str, UID] = {
    RLELossless: RLELossless,
    JPEGLSLossless: JPEGLSLossless,
    JPEGLSNearLossless: JPEGLSLossless,
    JPEG2000Lossless: JPEG2000Lossless,
    JPEG2000: JPEG2000Lossless,
}
_NATIVE_KEPT = (ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian)


def store_pixels(new: Dataset, arr: np.ndarray, photometric: str, source_ts: UID) -> str:
    """Store cleaned pixels in `new`, in the source transfer syntax when an encoder allows.

    Native syntaxes are kept (big endian becomes explicit little endian); RLE, JPEG-LS and
    JPEG 2000 are encoded again losslessly (a lossy JPEG-LS or JPEG 2000 source becomes its
    lossless form); other encapsulated syntaxes (JPEG baseline and process 14, HTJ2K) fall
    back to Explicit VR Little Endian.

    Returns
    -------
    str
        The transfer syntax UID used when it differs from `source_ts`, else "".
    """
    bits = int(new.get("BitsStored", 8 * arr.dtype.itemsize) or 8 * arr.dtype.itemsize)
    bits = min(bits, 8 * arr.dtype.itemsize)
    target = source_ts if source_ts in _NATIVE_KEPT else ExplicitVRLittleEndian
    if not source_ts.is_little_endian:
        swap_other_words(new)
    if int(new.get("BitsAllocated", 8) or 8) == 1:  # single bit: packed again, never compressed
        new.file_meta.TransferSyntaxUID = target
        new.PixelData = pack_bits(arr)
        new["PixelData"].VR = "OB"
        return "" if target == source_ts else str(target)
    new.file_meta.TransferSyntaxUID = target
    new.set_pixel_data(arr, photometric, bits, generate_instance_uid=False)
    encoded = _REENCODE.get(str(source_ts))
    if encoded is not None:
        try:
            if encoded == JPEG2000Lossless and photometric == "RGB":
                new.compress(encoded, generate_instance_uid=False, use_mct=False)
            else:
                new.compress(encoded, generate_instance_uid=False)
            target = encoded
        except Exception:
            # No encoder for this bit depth or colour layout: keep the native pixels.
            new.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            new.set_pixel_data(arr, photometric, bits, generate_instance_uid=False)
            target = ExplicitVRLittleEndian
    return "" if target == source_ts else str(target)


def _decode(ds: Dataset, where: str) -> np.ndarray:
    try:
        arr = pixel_array(ds)
        if not arr.dtype.isnative:  # big endian data decoded as is
            return arr.astype(arr.dtype.newbyteorder("="))
        return arr if arr.flags.writeable and arr.flags.owndata else arr.copy()
    except RadprepError:
        raise
    except Exception as e:
        raise PixelDecodeError(
            f"{where}: PixelData (7FE0,0010) cannot be decoded to look for burned-in text "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); check the "
            "transfer syntax decoders"
        ) from e


def _photometric_of_decoded(ds: Dataset, arr: np.ndarray) -> str:
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if int(ds.get("SamplesPerPixel", 1) or 1) == 3 and photometric != "RGB":
        return "RGB"  # pydicom gives YBR_FULL(_422), YBR_ICT and YBR_RCT as RGB
    return photometric
