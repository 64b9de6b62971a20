"""Decode a DICOM file's stored pixel values, and say which decoder did it.

High-Throughput JPEG 2000 goes to OpenJPH (imagecodecs' ``htj2k_decode``) when imagecodecs is
installed (``pip install 'radprep[htj2k]'``): 10 to 20 times faster than OpenJPEG on a lossless
mammogram. Everything else, and any HTJ2K stream OpenJPH cannot give exactly as pydicom would,
goes to pydicom and its plugins, tried one at a time in pydicom's own order (gdcm, pylibjpeg,
pillow or pyjpegls, pydicom's RLE), so the plugin that decoded a file is known. pydicom wraps a
plugin's failure in a bare ``RuntimeError`` whatever the plugin raised; the preferred plugin's is
the one mapped to an error (:func:`radprep.io.error_map.pixel_error`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from radprep._limits import format_bytes, max_decoded_bytes
from radprep.errors import (
    FrameNotFoundError,
    RadprepError,
    RadprepWarning,
    SizeLimitError,
    TruncatedFileError,
)
from radprep.io.error_map import check_decoder, encapsulated_end, no_pixels, pixel_error
from radprep.io.header import PIXEL_KEYWORDS, PathLike, transfer_syntax

if TYPE_CHECKING:
    from radprep.image import ImageMeta

__all__ = [
    "HTJ2K_SYNTAXES",
    "Frames",
    "check_decoded_size",
    "clip_to_precision",
    "decode_pixels",
    "decode_stored",
    "htj2k_codec",
]

Frames = int | Sequence[int] | None

HTJ2K_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.201",  # HTJ2K Lossless
        "1.2.840.10008.1.2.4.202",  # HTJ2K Lossless RPCL
        "1.2.840.10008.1.2.4.203",  # HTJ2K
    }
)
_HTJ2K_LOSSY = "1.2.840.10008.1.2.4.203"  # may hold irreversible (9/7) codestreams
# Photometric interpretations OpenJPH returns as pydicom does (YBR_RCT / YBR_ICT: the codestream's
# own colour transform is undone by the decoder, giving RGB).
_HTJ2K_PHOTOMETRIC = frozenset({"MONOCHROME1", "MONOCHROME2", "RGB", "YBR_RCT", "YBR_ICT"})

# pydicom's plugin order (pydicom.pixels.decoders.base registers them in this order).
_PLUGIN_ORDER = ("gdcm", "pylibjpeg", "pillow", "pyjpegls", "pydicom")
# The package behind pydicom's "pylibjpeg" plugin, by transfer syntax family.
_PYLIBJPEG = (
    ("JPEG 2000", "pylibjpeg-openjpeg"),
    ("JPEG-LS", "pylibjpeg-libjpeg"),
    ("JPEG", "pylibjpeg-libjpeg"),
    ("RLE", "pylibjpeg-rle"),
)


def check_decoded_size(meta: ImageMeta, n_frames: int, where: str) -> None:
    """Refuse, before decoding, an image whose header asks for more than the limit."""
    bytes_per_sample = max(1, (meta.bits_allocated + 7) // 8)
    samples = 3 if meta.photometric_interpretation == "PALETTE COLOR" else meta.samples_per_pixel
    needed = meta.rows * meta.columns * max(n_frames, 1) * max(samples, 1) * bytes_per_sample
    # Modality and display values are float32: a narrower stored type grows on the way.
    needed = needed * max(1, 4 // bytes_per_sample)
    limit = max_decoded_bytes()
    if needed > limit:
        raise SizeLimitError(
            f"{where}: Rows (0028,0010) {meta.rows} x Columns (0028,0011) {meta.columns} x "
            f"{n_frames} frame(s) x {samples} sample(s) need {format_bytes(needed)} decoded, "
            f"past the decoded-size limit of {format_bytes(limit)}; raise "
            "RADPREP_MAX_DECODED_BYTES if the file is genuine"
        )


def frame_indices(frames: Frames, n_frames: int, where: str) -> list[int] | None:
    """Return the frame numbers asked for (None: all), checked against the file's frames."""
    if frames is None:
        return None
    idx = [frames] if isinstance(frames, (int, np.integer)) else list(frames)
    bad = [i for i in idx if not (0 <= int(i) < n_frames)]
    if bad:
        raise FrameNotFoundError(
            f"{where}: frame {bad[0]} does not exist; NumberOfFrames (0028,0008) is {n_frames} "
            f"(frames are numbered from 0)"
        )
    return [int(i) for i in idx]


@cache
def htj2k_codec() -> ModuleType | None:
    """imagecodecs, when it is installed with its HTJ2K (OpenJPH) codec; else None."""
    try:
        import imagecodecs
    except ImportError:
        return None
    return imagecodecs if getattr(imagecodecs.HTJ2K, "available", False) else None


def htj2k_dtype(ds: Dataset) -> np.dtype | None:
    """The array type pydicom gives a data set's HTJ2K pixels; None when OpenJPH cannot match it."""
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    bits = int(ds.get("BitsAllocated", 0) or 0)
    if photometric not in _HTJ2K_PHOTOMETRIC or bits not in (8, 16):
        return None
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    return np.dtype(f"{'i' if signed else 'u'}{bits // 8}")


def clip_to_precision(arr: np.ndarray, bits: int) -> np.ndarray:
    """Clip OpenJPH's samples to the stored precision, undoing the wrap of unsigned undershoot.

    OpenJPH writes samples into the container without clipping them: an irreversible or a
    reduced-resolution decode that overshoots wraps round (below 0 to the top of the container).
    With fewer bits stored than the container holds the wrap can be told apart.
    """
    if arr.dtype.kind == "i":
        return np.clip(arr, -(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    half = 1 << (8 * arr.dtype.itemsize - 1)  # undershoot wraps to the top half of the container
    top = (1 << bits) - 1
    return np.where(arr >= half, 0, np.minimum(arr, top)).astype(arr.dtype)


def _decode_htj2k(ds: Dataset, idx: list[int] | None) -> np.ndarray | None:
    """Decode an HTJ2K data set with OpenJPH; None when it does not apply or does not match."""
    codec = htj2k_codec()
    dtype = htj2k_dtype(ds)
    if codec is None or dtype is None or "PixelData" not in ds:
        return None
    bits = int(ds.get("BitsStored", 0) or 0)
    lossy = transfer_syntax(ds) == _HTJ2K_LOSSY
    if lossy and not 0 < bits < 8 * dtype.itemsize:
        return None  # an overshoot could not be told from a wrap: OpenJPEG (which clips) decodes
    from pydicom.encaps import generate_frames

    n_frames = int(ds.get("NumberOfFrames") or 1)
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    shape = (int(ds.Rows), int(ds.Columns), *((spp,) if spp > 1 else ()))
    wanted = set(range(n_frames) if idx is None else idx)
    decoded: dict[int, np.ndarray] = {}
    try:
        for i, frame in enumerate(generate_frames(ds.PixelData, number_of_frames=n_frames)):
            if i in wanted:
                decoded[i] = codec.htj2k_decode(frame)
    except (codec.Htj2kError, ValueError):  # corrupt or unusual: pydicom's plugin says why
        return None
    arrays = [decoded.get(i) for i in (range(n_frames) if idx is None else idx)]
    if any(a is None or a.shape != shape or a.dtype != dtype for a in arrays):
        return None  # a codestream whose precision or sign differs from the header
    if lossy:
        arrays = [clip_to_precision(a, bits) for a in arrays]  # type: ignore[arg-type]
    if idx is None and n_frames == 1:
        return arrays[0]
    return np.stack(arrays)  # type: ignore[arg-type]


def _plugin_name(plugin: str, ts: UID) -> str:
    if plugin == "pylibjpeg":
        return next((pkg for family, pkg in _PYLIBJPEG if family in ts.name), plugin)
    return plugin


def _pixel_array(src: PathLike | Dataset, ts: UID, index: int | None) -> tuple[np.ndarray, str]:
    """pydicom's ``pixel_array``, its plugins tried one by one in pydicom's order."""
    from pydicom.pixels import get_decoder
    from pydicom.pixels import pixel_array as pixel_array_

    if not ts.is_compressed or ts == DeflatedExplicitVRLittleEndian:
        return pixel_array_(src, index=index), "native"
    available = set(get_decoder(ts).available_plugins)
    plugins = [p for p in _PLUGIN_ORDER if p in available] or [""]
    first: Exception | None = None
    for plugin in plugins:
        try:
            arr = pixel_array_(src, index=index, decoding_plugin=plugin)
        except Exception as e:
            first = first or e
            continue
        return arr, _plugin_name(plugin or "pydicom", ts)
    assert first is not None
    raise first  # the preferred plugin's failure


def _decode_all(src: PathLike | Dataset, ts: UID, idx: list[int] | None) -> tuple[np.ndarray, str]:
    if idx is None:
        return _pixel_array(src, ts, None)
    if len(idx) == 1:
        arr, name = _pixel_array(src, ts, idx[0])
        return arr[np.newaxis], name  # a view: no 27 MB copy
    decoded = [_pixel_array(src, ts, i) for i in idx]
    return np.stack([a for a, _ in decoded]), decoded[0][1]


def _decode_any(
    path: PathLike, ds: Dataset, ts: UID, idx: list[int] | None, where: str
) -> tuple[np.ndarray, str]:
    """Decode from the data set when it holds the pixels, else from the file."""
    has_meta = "TransferSyntaxUID" in getattr(ds, "file_meta", {})
    if any(k in ds for k in PIXEL_KEYWORDS):
        full = ds  # read once, header and pixels together
    elif has_meta and ts != DeflatedExplicitVRLittleEndian and ts not in HTJ2K_SYNTAXES:
        return _decode_all(path, ts, idx)  # pydicom's memory-efficient path: only those frames
    else:
        # No file meta, a deflated body, or HTJ2K: decode from a parsed data set.
        full = pydicom.dcmread(path, force=not has_meta)
        if not any(k in full for k in PIXEL_KEYWORDS):
            raise no_pixels(ds, where)
        check_decoder(ts, where)
    if "TransferSyntaxUID" not in getattr(full, "file_meta", {}):
        full.file_meta = getattr(full, "file_meta", None) or FileMetaDataset()
        full.file_meta.TransferSyntaxUID = ts
    if ts in HTJ2K_SYNTAXES:
        arr = _decode_htj2k(full, idx)
        if arr is not None:
            return arr, "imagecodecs-htj2k"
    return _decode_all(full, ts, idx)


def decode_pixels(path: PathLike, ds: Dataset, frames: Frames = None) -> tuple[np.ndarray, str]:
    """Decode stored pixel values, and name the decoder that read them.

    Parameters
    ----------
    path : str or PathLike
        The file (decoded from when `ds` holds its header only).
    ds : Dataset
        The file's data set, with or without its pixel data.
    frames : int, sequence of int or None
        ``None`` for every frame; an int for one frame; a sequence for those frames.

    Returns
    -------
    ndarray, str
        ``(rows, cols[, 3])`` for one frame (or an int `frames`), ``(frames, rows, cols[, 3])``
        otherwise; and the decoder: ``"native"`` (uncompressed), ``"imagecodecs-htj2k"``,
        ``"pylibjpeg-openjpeg"``, ``"pylibjpeg-libjpeg"``, ``"pylibjpeg-rle"``, ``"pillow"``,
        ``"pyjpegls"``, ``"gdcm"`` or ``"pydicom"`` (its own RLE decoder).
    """
    where = str(path)
    ts = transfer_syntax(ds)
    idx = frame_indices(frames, int(ds.get("NumberOfFrames") or 1), where)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*(excess|padding|odd length).*")
            arr, decoder = _decode_any(path, ds, ts, idx, where)
    except RadprepError:
        raise
    except Exception as e:
        raise pixel_error(e, path, ds, ts, where) from e
    _check_stream_end(path, ts, where)
    if isinstance(frames, (int, np.integer)):
        arr = arr[0]  # one frame asked for by number: a 2D image, not a stack of one
    if not arr.dtype.isnative:
        # Big endian files decode to big-endian arrays; every later step wants native order.
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr, decoder


def _check_stream_end(path: PathLike, ts: UID, where: str) -> None:
    end = encapsulated_end(path, ts)
    if end == "cut":
        # Decoders fill in what a cut stream lacks; those pixels are not the image.
        raise TruncatedFileError(
            f"{where}: the file ends inside a fragment of its encapsulated Pixel Data "
            f"(7FE0,0010); the {ts.name} data is incomplete, so the decoded pixels would be "
            "wrong; it was probably cut off in transfer"
        )
    if end == "unclosed":
        warnings.warn(
            f"{where}: the encapsulated Pixel Data (7FE0,0010) has no Sequence Delimitation "
            "Item; its last fragment is complete (end marker found), so the frames were decoded "
            "whole",
            RadprepWarning,
            stacklevel=3,
        )


def decode_stored(path: PathLike, ds: Dataset, frames: Frames = None) -> np.ndarray:
    """Decode stored pixel values (all frames, or those asked for) from a DICOM file.

    YBR_FULL and YBR_FULL_422 are converted to RGB by pydicom; PALETTE COLOR is not expanded
    here (see :func:`radprep.io.dicom.read_dicom`). :func:`decode_pixels` also names the decoder.

    Returns
    -------
    ndarray
        ``(rows, cols[, 3])`` for one frame (or an int `frames`), ``(frames, rows, cols[, 3])``
        otherwise.
    """
    return decode_pixels(path, ds, frames)[0]
