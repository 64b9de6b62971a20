"""CBIS-DDSM ROI masks: a mask told from a cropped image by content, checked against the full
image's size, and brought onto the grid the image was read at.

A plain mask file's pixels are streamed from it in bands
(:func:`radprep.io.stream.read_nonzero_native`): only the rows holding ROI pixels are kept, found
in the same pass, and only that band is checked (two values, 0 and 255) and reduced
(:func:`radprep.spatial.resize.resize_area_box`), which gives the same mask as checking and
reducing the whole image (the path any other mask still takes).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import cv2
import numpy as np

from radprep.errors import InputError, RadprepWarning
from radprep.io.dicom import _read, decode_stored, read_header
from radprep.io.header import read_header_at_pixels
from radprep.io.stream import native_pixels, nonzero_rows, read_nonzero_native
from radprep.spatial.resize import resize, resize_area_box, resize_mask

__all__: list[str] = []


@contextmanager
def _read_stored(path: str) -> Iterator[tuple[np.ndarray, tuple[int, int] | None]]:
    """The stored pixels of a file (its first frame), and the rows holding non-zero values.

    A plain grey file is streamed (:func:`radprep.io.stream.read_nonzero_native`): its header
    parsed up to the pixel data, only its rows holding non-zero values copied into the thread's
    scratch array of zeros, those rows found in the same pass; the values are valid inside the
    ``with`` block only. Any other file is parsed and decoded whole, its rows not looked for.

    Yields
    ------
    ndarray, (int, int) or None
        The values; the rows ``[first, end)`` outside which they are all zero (``(0, 0)``:
        all zero), or None when they were not looked for.
    """
    try:
        px = native_pixels(path, *read_header_at_pixels(path))
    except InputError:
        px = None  # the whole parse below says what is wrong
    if px is not None:
        with read_nonzero_native(px) as (arr, rows):
            yield arr, rows or (0, 0)
        return
    ds = _read(path, {})
    arr = decode_stored(path, ds)
    yield (arr[0] if arr.ndim == 3 else arr), None


def _is_mask(arr: np.ndarray) -> bool:
    """True for a two-valued image (CBIS-DDSM masks are 0 and 255); one pass with OpenCV."""
    if arr.ndim == 2 and arr.dtype in (np.uint8, np.uint16):
        lo, hi, _, _ = cv2.minMaxLoc(arr)
        return _two_valued(arr, lo, hi)
    lo, hi = arr.min(), arr.max()
    return not np.any((arr > lo) & (arr < hi))


def _two_valued(arr: np.ndarray, lo: float, hi: float) -> bool:
    """True when no value of an 8- or 16-bit `arr` lies strictly between `lo` and `hi`."""
    if hi - lo <= 1:
        return True
    return cv2.countNonZero(cv2.inRange(arr, lo + 1, hi - 1)) == 0


def _header_shape(ds: Any) -> tuple[int, int]:
    return int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)


def _is_0_255(mask: np.ndarray) -> bool:
    """True for an 8-bit two-valued mask (:func:`_is_mask`) whose values are 0 and 255 only."""
    if mask.dtype != np.uint8 or mask.ndim != 2:
        return False
    lo, hi, _, _ = cv2.minMaxLoc(mask)
    return lo in (0, 255) and hi in (0, 255)


def _mask_onto(mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """A full-size mask (bool, or 8-bit 0 and 255) on a reduced grid: a pixel is ROI when any
    ROI pixel falls in it, so small lesions (calcifications) never vanish."""
    # CBIS-DDSM's own 0/255 masks are reduced as stored: no conversion pass.
    u8 = mask if mask.dtype == np.uint8 else (mask > 0).view(np.uint8) * np.uint8(255)
    # Any covered source pixel gives a non-zero area average (255 x its weight rounds up).
    return resize(u8, grid, interpolation="area") > 0


_nonzero_rows = nonzero_rows  # the tests' and the benchmark's name


def _mask_band_onto(
    arr: np.ndarray, grid: tuple[int, int], rows: tuple[int, int] | None = None
) -> np.ndarray | None:
    """An 8-bit full-size mask candidate on the reduced `grid`, from the rows holding ROI.

    Exactly :func:`_is_mask`, :func:`_is_0_255` and :func:`_mask_onto` of the whole image,
    for a tenth of their cost: outside the band of rows ``[first, end)`` (`rows`, found by
    :func:`_nonzero_rows` when not given; ``(0, 0)``: all zero) every value is 0, so only the
    band is checked and reduced (:func:`resize_area_box`).

    Returns
    -------
    ndarray of bool or None
        The mask on `grid`; None when `arr` is no two-valued image (not a mask); `arr` itself
        (8-bit, full size) when it is two-valued but not 0 and 255, for the caller's full path.
    """
    if rows is None:
        rows = _nonzero_rows(arr) or (0, 0)
    if rows[0] >= rows[1]:  # all zero: a two-valued image with nothing in it
        return np.zeros(grid, bool)
    band = arr[rows[0] : rows[1]]
    hi = cv2.minMaxLoc(band)[1]
    # The rows outside the band are zeros: the image's least value is 0 unless the band is all.
    lo = cv2.minMaxLoc(band)[0] if band.shape[0] == arr.shape[0] else 0.0
    if not _two_valued(band, lo, hi):
        return None
    if lo not in (0, 255) or hi not in (0, 255):
        return arr
    x, y, w, h = cv2.boundingRect(band)
    box = (rows[0] + y, rows[0] + y + h, x, x + w)
    return resize_area_box(arr, grid, box) > 0


def _roi_mask(
    roi: Mapping[str, Any], shape: tuple[int, int], grid: tuple[int, int], tolerance: int
) -> np.ndarray:
    """The ROI mask among an abnormality's files (two-valued, the image's size within
    `tolerance`), as bool on `grid` (the grid the image was read at)."""
    aid = roi["abnormality_id"]
    # The candidate of the image's size comes first: the mask is then found without decoding
    # the cropped image at all. The index gave the sizes; a hand-made item has only the paths.
    candidates = list(roi["candidates"])
    known = roi.get("shapes")
    if known is not None and len(known) == len(candidates):
        shapes = {c: (int(s[0]), int(s[1])) for c, s in zip(candidates, known, strict=True)}
    else:
        shapes = {c: _header_shape(read_header(c)) for c in candidates}
    ordered = sorted(
        candidates,
        key=lambda c: abs(shapes[c][0] - shape[0]) + abs(shapes[c][1] - shape[1]),
    )
    for cand in ordered:
        # The values may be the thread's scratch (valid inside the block only): the mask on
        # `grid` is made before the block ends.
        with _read_stored(cand) as (arr, rows):
            if (
                arr.shape == shape
                and grid != shape
                and arr.dtype == np.uint8
                and arr.flags.c_contiguous
            ):
                onto = _mask_band_onto(arr, grid, rows)
                if onto is None:
                    continue
                return onto if onto is not arr else _mask_onto(arr > 0, grid)
            if not _is_mask(arr):
                continue
            dr, dc = abs(arr.shape[0] - shape[0]), abs(arr.shape[1] - shape[1])
            if (dr, dc) == (0, 0):
                # On a reduced grid the stored mask goes straight to it (no full-size bool).
                found = arr if grid != shape and _is_0_255(arr) else arr > 0
                return _mask_onto(found, grid) if grid != shape else found
            if max(dr, dc) <= tolerance:
                warnings.warn(
                    f"abnormality {aid}: ROI mask is {arr.shape[0]}x{arr.shape[1]}, the image "
                    f"{shape[0]}x{shape[1]}; resized with nearest neighbour",
                    RadprepWarning,
                    stacklevel=3,
                )
                found = resize_mask(arr > 0, shape)
                return _mask_onto(found, grid) if grid != shape else found
            raise InputError(
                f"abnormality {aid}: ROI mask is {arr.shape[0]}x{arr.shape[1]} but the image is "
                f"{shape[0]}x{shape[1]} (more than {tolerance} px apart); not the same image"
            )
    raise InputError(
        f"abnormality {aid}: no ROI mask among the {len(roi['candidates'])} file(s) of its "
        "ROI folder (a mask has the full image's size and two values)"
    )
