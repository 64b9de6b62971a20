"""Reduced reads: a 1/2**k image without decoding (or copying) the full-size one where possible.

JPEG 2000 decodes only the wavelet levels the size needs (Pillow's OpenJPEG ``reduce``), HTJ2K
likewise through OpenJPH (imagecodecs' ``skipres``); a plain little-endian grey image is viewed
in the bytes already read and area-averaged onto the small grid. Anything else is decoded in
full and area-averaged by the caller.
"""

from __future__ import annotations

import io
import math

import numpy as np
from pydicom.dataset import Dataset

from radprep.image import ImageMeta
from radprep.io.decode import HTJ2K_SYNTAXES, clip_to_precision, htj2k_codec, htj2k_dtype
from radprep.io.stream import plain_dtype

__all__ = ["MAX_REDUCE", "read_reduced", "reduce_stored", "reduced_shape", "reduction_levels"]

MAX_REDUCE = 5
_J2K_SYNTAXES = {
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    *HTJ2K_SYNTAXES,  # Pillow's OpenJPEG (2.5 and later) reads HTJ2K too
}


def reduction_levels(rows: int, cols: int, target_px: int) -> int:
    """The largest k (up to 5) such that the short side divided by 2**k still covers `target_px`.

    An output of `target_px` on the short side needs no more than that many input pixels; every
    halving below the input's size saves decoding and processing time.
    """
    short = min(rows, cols)
    k = 0
    while k < MAX_REDUCE and math.ceil(short / 2 ** (k + 1)) >= target_px:
        k += 1
    return k


def reduced_shape(rows: int, cols: int, k: int) -> tuple[int, int]:
    # JPEG 2000's resolution level k has ceil(size / 2**k) samples (ISO 15444-1 B.5).
    return math.ceil(rows / 2**k), math.ceil(cols / 2**k)


def _decode_j2k_reduced(ds: Dataset, meta: ImageMeta, k: int) -> np.ndarray | None:
    """Decode only the wavelet levels a 1/2**k image needs (Pillow's OpenJPEG ``reduce``).

    Returns None when the file does not qualify (not JPEG 2000, several frames, colour, signed
    samples, or no Pillow JPEG 2000 support), so the caller decodes in full instead.
    """
    if (
        meta.transfer_syntax_uid not in _J2K_SYNTAXES
        or not _single_grey(ds, meta)
        or meta.pixel_representation != 0
    ):
        return None
    try:
        from PIL import Image as PILImage
        from PIL import features

        if not features.check("jpg_2000"):
            return None
        frame = _first_frame(ds)
        im = PILImage.open(io.BytesIO(frame))
        im.reduce = k  # type: ignore[method-assign,assignment]  # Jpeg2KImageFile: an int
        im.load()
        arr = np.asarray(im)
    except Exception:
        return None
    if arr.ndim != 2 or arr.shape != reduced_shape(meta.rows, meta.columns, k):
        return None
    precision = _codestream_precision(frame) or meta.bits_stored
    if arr.dtype.itemsize == 2 and precision < 16:
        # Pillow scales samples of precision < 16 up to 16 bits; undo it.
        arr = np.right_shift(arr, 16 - precision)
    dtype = np.uint8 if meta.bits_allocated <= 8 else np.uint16
    return arr.astype(dtype, copy=False)


def _codestream_precision(frame: bytes) -> int | None:
    """The first component's sample precision in a JPEG 2000 codestream's SIZ segment.

    ISO 15444-1 A.5.1: SOC (FF4F), SIZ (FF51), Lsiz, Rsiz, eight 32-bit sizes, Csiz, then Ssiz
    (precision - 1, the top bit for signed) at byte 42. None for a JP2 file or another stream.
    """
    if len(frame) < 43 or frame[:4] != b"\xff\x4f\xff\x51":
        return None
    return (frame[42] & 0x7F) + 1


def _native_view(ds: Dataset, meta: ImageMeta) -> np.ndarray | None:
    """The stored values of a plain little-endian grey image, viewed in the bytes already read.

    For a reduced read only: the view lives as long as the data set, and the reduction copies
    it onto the small grid, so the full-size image is never copied. None when the file does not
    qualify (compressed, big-endian, several frames, colour, signed, fewer bits stored than
    allocated, or pixel data not of the size the header gives); the caller decodes it instead.
    """
    data = ds.get("PixelData") if "PixelData" in ds else None
    dtype = plain_dtype(
        meta.transfer_syntax_uid,
        meta.number_of_frames,
        meta.samples_per_pixel,
        meta.pixel_representation,
        meta.bits_allocated,
        meta.bits_stored,
    )
    if dtype is None or not isinstance(data, bytes):
        return None
    n = meta.rows * meta.columns
    if len(data) not in (n * dtype.itemsize, n * dtype.itemsize + 1):  # + 1: even padding
        return None
    return np.frombuffer(data, dtype, count=n).reshape(meta.rows, meta.columns)


def reduce_stored(stored: np.ndarray, k: int) -> np.ndarray:
    # An area average, with the exact integer pre-reduction that makes it cheap on 13 MP images.
    from radprep.spatial.resize import resize  # OpenCV: loaded by reduced reads only

    return resize(stored, reduced_shape(stored.shape[0], stored.shape[1], k), interpolation="area")


def _single_grey(ds: Dataset, meta: ImageMeta) -> bool:
    return meta.number_of_frames == 1 and not meta.is_color and "PixelData" in ds


def _first_frame(ds: Dataset) -> bytes:
    from pydicom.encaps import generate_frames

    return next(generate_frames(ds.PixelData, number_of_frames=1))


def _decode_htj2k_reduced(ds: Dataset, meta: ImageMeta, k: int) -> np.ndarray | None:
    """Decode only the resolution levels a 1/2**k image needs with OpenJPH (``skipres``).

    The wavelet low-pass overshoots at sharp edges (a breast against a zero background) and
    OpenJPH writes the reduced samples into the container without clipping them to the stored
    precision, so values below 0 wrap round. With fewer bits stored than the container holds the
    wrap is told apart and clipped here; with all bits used it cannot be, and the caller decodes
    in full instead. None also when the file does not qualify (not HTJ2K, several frames,
    colour, no imagecodecs) or the codestream has fewer decomposition levels than `k`.
    """
    codec = htj2k_codec()
    dtype = htj2k_dtype(ds)
    if (
        codec is None
        or dtype is None
        or meta.transfer_syntax_uid not in HTJ2K_SYNTAXES
        or not _single_grey(ds, meta)
        or not 0 < meta.bits_stored < 8 * dtype.itemsize
    ):
        return None
    try:
        arr = codec.htj2k_decode(_first_frame(ds), skipres=k)
    except (codec.Htj2kError, ValueError, StopIteration):
        return None
    if arr.shape != reduced_shape(meta.rows, meta.columns, k) or arr.dtype != dtype:
        return None
    return clip_to_precision(arr, meta.bits_stored)


def read_reduced(ds: Dataset, meta: ImageMeta, k: int) -> tuple[np.ndarray, str] | None:
    """Read a one-frame grey image at 1/2**k of its size without a full decode, if possible.

    Returns
    -------
    (ndarray, str) or None
        The stored values on the reduced grid and the decoder (``"imagecodecs-htj2k"``,
        ``"pillow"`` or ``"native"``); None when the file needs a full decode.
    """
    arr = _decode_htj2k_reduced(ds, meta, k)
    if arr is not None:
        return arr, "imagecodecs-htj2k"
    arr = _decode_j2k_reduced(ds, meta, k)
    if arr is not None:
        return arr, "pillow"
    view = _native_view(ds, meta)
    if view is None:
        return None
    stored = reduce_stored(view, k)
    if np.may_share_memory(stored, view):  # a tiny image the reduction left as it was
        stored = stored.copy()
    return stored, "native"
