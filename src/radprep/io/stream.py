"""Plain pixel data streamed from its file in bands: reduced, or kept where it is not zero.

A one-frame grey image stored uncompressed, little endian, unsigned, all bits used, whose Pixel
Data (7FE0,0010) is the file's last element, is read here straight from the file in bands of
about 2 MiB into a buffer the thread reuses (so it stays in the cache), instead of into a fresh
25 MB bytes object whose first touch of every page costs about as much as the read; measured on a
4432x2864 mammogram, bands of 2 MiB beat 256 KiB to 1 MiB (fewer calls) and 8 MiB or the whole
image (out of cache):

- :func:`read_reduced_native`: each band is area-averaged onto its slice of the reduced grid.
  OpenCV's area reduction by an exact integer factor averages independent blocks, so bands of
  whole blocks give the whole image's reduction, value for value; a fractional second pass (when
  the factors do not divide the image) then runs on the small intermediate, as
  :func:`radprep.spatial.resize.resize` does.
- :func:`read_nonzero_native`: only the rows holding non-zero values are copied, into the
  thread's scratch array of zeros: an 8-bit ROI mask is its pixels, found with the band of
  rows that holds the ROI in the same pass.

:func:`native_pixels` says whether a file qualifies; any other file is read as before.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from radprep.errors import TruncatedFileError
from radprep.io.header import PathLike, transfer_syntax

__all__ = [
    "NativePixels",
    "native_pixels",
    "nonzero_rows",
    "plain_dtype",
    "read_nonzero_native",
    "read_reduced_native",
]

BAND_BYTES = 2 << 20
_PIXEL_DATA = 0x7FE00010
_LOCAL = threading.local()


@dataclass(frozen=True)
class NativePixels:
    """Where a plain grey image's stored values lie in its file."""

    path: str
    offset: int  # of the first pixel byte
    rows: int
    cols: int
    dtype: np.dtype


def plain_dtype(
    transfer_syntax_uid: str,
    number_of_frames: int,
    samples_per_pixel: int,
    pixel_representation: int,
    bits_allocated: int,
    bits_stored: int,
) -> np.dtype | None:
    """The array type of a one-frame grey image whose stored bytes are its values, else None.

    None for compressed or big-endian data, several frames, colour, signed samples, or fewer
    bits stored than allocated (whose unused high bits would need masking).
    """
    if (
        transfer_syntax_uid not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
        or number_of_frames != 1
        or samples_per_pixel != 1
        or pixel_representation != 0
        or bits_allocated not in (8, 16)
        or bits_stored != bits_allocated
    ):
        return None
    return np.dtype(np.uint8) if bits_allocated == 8 else np.dtype("<u2")


def _int(ds: Dataset, keyword: str, default: int) -> int:
    # Read as meta_from_dataset reads it (absent or empty: the default), so that a file
    # streams exactly when its ImageMeta would qualify it.
    return int(ds.get(keyword, default) or default)


def native_pixels(path: PathLike, ds: Dataset, pixel_tell: int | None) -> NativePixels | None:
    """Where the pixels of a plain grey image lie in its file, when they can be streamed.

    Parameters
    ----------
    path : str or PathLike
        The file.
    ds : Dataset
        Its header, parsed up to (not including) its pixel data.
    pixel_tell : int or None
        The file position where that parse stopped (the pixel data element's tag).

    Returns
    -------
    NativePixels or None
        None unless the data set is a plain grey image (:func:`plain_dtype`) and the file ends
        with its Pixel Data (7FE0,0010) element, of the size Rows x Columns gives (plus one
        padding byte when that is odd): then a whole parse would have read exactly these
        bytes and nothing more.
    """
    if pixel_tell is None:
        return None
    try:
        ts = transfer_syntax(ds)
        bits = _int(ds, "BitsAllocated", 16)
        dtype = plain_dtype(
            str(ts),
            _int(ds, "NumberOfFrames", 1),
            _int(ds, "SamplesPerPixel", 1),
            _int(ds, "PixelRepresentation", 0),
            bits,
            int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16),
        )
        rows, cols = _int(ds, "Rows", 0), _int(ds, "Columns", 0)
    except Exception:  # a corrupt attribute: the whole read says which, as before
        return None
    if dtype is None or rows <= 0 or cols <= 0:
        return None
    found = _element_head(path, pixel_tell, implicit=ts == ImplicitVRLittleEndian)
    if found is None:
        return None
    tag, offset, length, size = found
    n = rows * cols * dtype.itemsize
    if tag != _PIXEL_DATA or length not in (n, n + 1):
        return None
    if size != offset + length:  # cut short, or more elements after the pixel data
        return None
    return NativePixels(os.fspath(path), offset, rows, cols, dtype)


def _element_head(path: PathLike, tell: int, *, implicit: bool) -> tuple[int, int, int, int] | None:
    """The tag, value offset and value length of the element at `tell` (implicit VR, or
    explicit OB/OW), and the file's size; None when it cannot be read as one."""
    head = 8 if implicit else 12
    try:
        with open(path, "rb", buffering=0) as fh:
            fh.seek(tell)
            raw = fh.read(head)
            size = os.fstat(fh.fileno()).st_size
    except OSError:
        return None
    if len(raw) != head:
        return None
    group, element = struct.unpack_from("<HH", raw)
    if implicit:
        (length,) = struct.unpack_from("<I", raw, 4)
    elif raw[4:6] in (b"OB", b"OW") and raw[6:8] == b"\0\0":
        (length,) = struct.unpack_from("<I", raw, 8)
    else:
        return None
    return (group << 16) | element, tell + head, length, size


def _band_buffer(nbytes: int) -> np.ndarray:
    """A buffer of at least `nbytes`, reused by the thread (so it stays in the cache)."""
    buf = getattr(_LOCAL, "buf", None)
    if buf is None or buf.size < nbytes:
        buf = np.empty(max(nbytes, BAND_BYTES), np.uint8)
        _LOCAL.buf = buf
    return buf[:nbytes]


def _band_rows(px: NativePixels, multiple: int) -> int:
    """Rows per band: a multiple of `multiple`, about BAND_BYTES, at least `multiple`."""
    row_bytes = px.cols * px.dtype.itemsize
    return max(1, BAND_BYTES // (row_bytes * multiple)) * multiple


def _bands(px: NativePixels, band: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first row, view of the band's values)``, read into the thread's buffer."""
    row_bytes = px.cols * px.dtype.itemsize
    with open(px.path, "rb", buffering=0) as fh:
        fh.seek(px.offset)
        for r0 in range(0, px.rows, band):
            n = min(band, px.rows - r0)
            buf = _band_buffer(n * row_bytes)
            got = 0
            view = memoryview(buf.data)
            while got < buf.size:
                k = fh.readinto(view[got:])
                if not k:
                    raise TruncatedFileError(
                        f"{px.path}: the file ended inside its Pixel Data (7FE0,0010) while it "
                        "was read (changed or cut while being read)"
                    )
                got += k
            yield r0, buf.view(px.dtype).reshape(n, px.cols)


def read_reduced_native(px: NativePixels, shape: tuple[int, int]) -> np.ndarray:
    """The image area-averaged onto `shape`, read band by band.

    Exactly ``resize(pixels, shape, interpolation="area")``
    (:func:`radprep.spatial.resize.resize`): its exact integer first pass is run band by band
    into the intermediate grid, its fractional second pass (if any) on that grid.

    Parameters
    ----------
    px : NativePixels
        The file's pixels (:func:`native_pixels`).
    shape : (int, int)
        The reduced ``(rows, cols)``, no larger than the image on either axis.
    """
    import cv2

    from radprep.spatial.resize import _area_factors, _cv2_resize, resize

    rows, cols = shape
    ky, kx = _area_factors(px.rows, px.cols, rows, cols)
    if (ky, kx) == (1, 1) or (rows, cols) == (px.rows, px.cols):
        # Nothing local to stream: read the values whole and reduce them as before.
        whole = np.fromfile(px.path, px.dtype, count=px.rows * px.cols, offset=px.offset)
        if whole.size != px.rows * px.cols:
            raise TruncatedFileError(f"{px.path}: the file ended inside its Pixel Data (7FE0,0010)")
        return resize(whole.reshape(px.rows, px.cols), shape, interpolation="area")
    mid = np.empty((px.rows // ky, px.cols // kx), px.dtype)
    for r0, band in _bands(px, _band_rows(px, ky)):
        into = mid[r0 // ky : (r0 + band.shape[0]) // ky]
        done = cv2.resize(
            band, (into.shape[1], into.shape[0]), dst=into, interpolation=cv2.INTER_AREA
        )
        if not np.may_share_memory(done, into):  # OpenCV made its own array: copy it in
            into[...] = done.reshape(into.shape)
    if mid.shape == (rows, cols):
        return mid
    return _cv2_resize(mid, rows, cols, cv2.INTER_AREA)


def nonzero_rows(arr: np.ndarray) -> tuple[int, int] | None:
    """Rows ``[first, end)`` outside which an 8-bit image is all zero (None: all zero).

    One pass over the bytes as 64-bit words: the first and the last non-zero word.
    """
    flat = arr.reshape(-1)  # a view of a C-contiguous image
    n8 = flat.size - flat.size % 8
    nz = flat[:n8].view(np.uint64) != 0
    first = int(np.argmax(nz)) if n8 else 0
    tail = np.flatnonzero(flat[n8:])
    if n8 and nz[first]:
        start = 8 * first
        stop = n8 + int(tail[-1]) + 1 if tail.size else 8 * (nz.size - int(np.argmax(nz[::-1])))
    elif tail.size:
        start, stop = n8 + int(tail[0]), n8 + int(tail[-1]) + 1
    else:
        return None
    cols = arr.shape[1]
    return start // cols, -(-stop // cols)


def _zero_scratch(nbytes: int) -> np.ndarray | None:
    """The thread's array of zeros of at least `nbytes` (None while in use: nested reads)."""
    if getattr(_LOCAL, "zeros_in_use", False):
        return None
    zeros = getattr(_LOCAL, "zeros", None)
    if zeros is None or zeros.size < nbytes:
        zeros = np.zeros(nbytes, np.uint8)
        _LOCAL.zeros = zeros
    return zeros[:nbytes]


@contextmanager
def read_nonzero_native(px: NativePixels) -> Iterator[tuple[np.ndarray, tuple[int, int] | None]]:
    """Inside the block: the image's values, and the rows ``[first, end)`` holding non-zero ones.

    Read band by band; only the rows holding non-zero values are copied, into the thread's
    scratch array of zeros (the rest of it is never written), so the array equals the file's
    values everywhere. An 8-bit ROI mask of a mammogram holds ROI in a few hundred of its rows:
    copying those into the scratch costs a tenth of a fresh 12 MB array of zeros. The array is
    valid inside the block only: on leaving it, those rows are zeroed again.

    Yields
    ------
    ndarray, (int, int) or None
        ``(rows, cols)`` values; the rows holding non-zero values (None: all zero).
    """
    import cv2

    nbytes = px.rows * px.cols * px.dtype.itemsize
    scratch = _zero_scratch(nbytes)
    flat = np.zeros(nbytes, np.uint8) if scratch is None else scratch
    out = flat.view(px.dtype).reshape(px.rows, px.cols)
    first = end = -1
    if scratch is not None:
        _LOCAL.zeros_in_use = True
    try:
        for r0, band in _bands(px, _band_rows(px, 1)):
            if not cv2.hasNonZero(band):
                continue
            found = nonzero_rows(band.view(np.uint8).reshape(band.shape[0], -1))
            assert found is not None
            a, b = r0 + found[0], r0 + found[1]
            first = a if first < 0 else first
            end = b
            out[a:b] = band[found[0] : found[1]]
        yield out, (None if first < 0 else (first, end))
    finally:
        if scratch is not None:
            if first >= 0:
                out[first:end] = 0
            _LOCAL.zeros_in_use = False
