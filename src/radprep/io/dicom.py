"""Read one DICOM file into an :class:`~radprep.image.Image`, or fail with a one-line reason.

The header is parsed once (:mod:`radprep.io.header`), its facts taken (:mod:`radprep.io.meta`),
the pixels decoded by the fastest installed decoder that gives pydicom's values
(:mod:`radprep.io.decode`; at reduced resolution: :mod:`radprep.io.reduced`), colour brought to
RGB (:mod:`radprep.io.photometric`), then the Modality LUT and an optional VOI applied. Whatever
a parser or decoder raises is mapped to :mod:`radprep.errors` (:mod:`radprep.io.error_map`).

The names other modules use from here are re-exported, so ``from radprep.io.dicom import ...``
keeps working.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from radprep._dicom import functional_group_value
from radprep._limits import set_max_decoded_bytes
from radprep.errors import InputError, InvalidAttributeError, RadprepError, SpecError
from radprep.image import AppliedStep, Image, ImageMeta
from radprep.intensity._lut import apply_pointwise, tabulable
from radprep.intensity.modality import apply_modality, is_identity_modality
from radprep.intensity.window import VOI, OutDtype, apply_voi, display_function, resolve_voi
from radprep.io.decode import Frames, check_decoded_size, decode_pixels, decode_stored
from radprep.io.error_map import boundary_error, header_error, one_line
from radprep.io.header import (
    PIXEL_KEYWORDS,
    PathLike,
    read_header,
    read_header_at_pixels,
    transfer_syntax,
)
from radprep.io.header import _read as _read
from radprep.io.meta import geometry_from_dataset, meta_from_dataset
from radprep.io.photometric import _palette_to_rgb as _palette_to_rgb
from radprep.io.photometric import to_rgb
from radprep.io.reduced import (
    MAX_REDUCE,
    read_reduced,
    reduce_stored,
    reduced_shape,
    reduction_levels,
)
from radprep.io.reduced import _native_view as _native_view
from radprep.io.stream import native_pixels, read_reduced_native

__all__ = [
    "Frames",
    "boundary_error",
    "decode_pixels",
    "decode_stored",
    "geometry_from_dataset",
    "header_error",
    "meta_from_dataset",
    "read_dicom",
    "read_header",
    "reduction_levels",
    "set_max_decoded_bytes",
]

# Private names other modules and the benchmarks import from here (with _palette_to_rgb,
# _native_view and _read above).
_fg_value = functional_group_value
_tsyntax = transfer_syntax
_reduce_stored = reduce_stored


def read_dicom(
    path: PathLike,
    *,
    frames: Frames = None,
    voi: VOI | str | None = None,
    out_dtype: OutDtype = "float32",
    reduce: int = 0,
    reduce_to_px: int | None = None,
) -> Image:
    """Read a DICOM file into an Image.

    Parameters
    ----------
    path : str or PathLike
        The file (opened read-only, never modified).
    frames : int, sequence of int or None
        ``None`` for every frame; an int for one frame (a 2D image); a sequence for those frames.
    voi : VOI, str or None
        ``None`` keeps modality values (HU for CT): the stored integer type when the Modality
        LUT is the identity, else float32. A VOI (or text: ``"header"``, ``"lung"``,
        ``"40,400"``, ``"auto"``) gives display values, higher is brighter.
    out_dtype : {"float32", "uint8", "uint16"}
        With a VOI: float32 in [0, 1], or quantised to the type's full range.
    reduce : int
        Read the image at 1/2**reduce of its size (0: full size). JPEG 2000 and HTJ2K files
        decode only the resolution levels that size needs (much faster); others are decoded in
        full and area-averaged. The geometry's spacing follows.
    reduce_to_px : int, optional
        Choose `reduce`: the most reduction that keeps the short side >= this many pixels.

    Returns
    -------
    Image
        ``(rows, cols)`` or ``(frames, rows, cols)`` pixels (a trailing 3 for colour);
        ``meta.decoder`` names what decoded them.

    Raises
    ------
    InputError
        A subclass (NotDicomError, TruncatedFileError, CorruptFileError, NoPixelDataError,
        DecoderMissingError, PixelDecodeError, InvalidAttributeError, SizeLimitError,
        FrameNotFoundError) with a one-line message naming the file, whatever the bytes (only
        KeyboardInterrupt and SystemExit pass through; a mutation-fuzz test checks it).
    SpecError
        For a `reduce` outside 0..5 (an argument, not the file).
    """
    where, stage = str(path), ["header"]
    if not 0 <= reduce <= MAX_REDUCE:
        raise SpecError(f"reduce must be 0..{MAX_REDUCE}, got {reduce}")
    voi = VOI.parse(voi) if isinstance(voi, str) else voi
    try:
        return _read_dicom(path, where, frames, voi, out_dtype, reduce, reduce_to_px, stage)
    except RadprepError as e:
        if where in str(e):
            raise
        raise type(e)(f"{where}: {e}") from e
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # third-party decoders raise anything, Rust panics included
        raise boundary_error(e, where, stage[0]) from e


def _first_frame(frames: Frames) -> int:
    first = frames if isinstance(frames, (int, np.integer)) else next(iter(frames or [0]))
    return int(first) if first is not None else 0


def _header_and_meta(path: PathLike, where: str, frames: Frames, stage: list[str]) -> Any:
    # One parse for header and pixels; pydicom drops the whole data set when the file ends
    # inside an encapsulated pixel sequence, so fall back to the header and decode from the path.
    ds = _read(path, {}, check_empty=False)
    if len(ds) == 0 or not any(k in ds for k in PIXEL_KEYWORDS):
        ds = read_header(path)
    return ds, _meta(ds, where, frames, stage)


def _meta(ds: Any, where: str, frames: Frames, stage: list[str]) -> ImageMeta:
    """The data set's :class:`ImageMeta`, its decoded size checked against the limit."""
    stage[0] = "attributes"
    try:
        meta = meta_from_dataset(ds, frame=_first_frame(frames))
    except RadprepError:
        raise
    except (ValueError, TypeError, KeyError) as e:
        raise InvalidAttributeError(
            f"{where}: an image attribute cannot be read ({one_line(e)}); fix the header"
        ) from e
    n_wanted = (
        meta.number_of_frames
        if frames is None
        else (1 if isinstance(frames, (int, np.integer)) else len(list(frames)))
    )
    check_decoded_size(meta, n_wanted, where)
    return meta


def _streamed(
    path: PathLike,
    where: str,
    frames: Frames,
    reduce: int,
    reduce_to_px: int | None,
    stage: list[str],
) -> tuple[Any, ImageMeta, np.ndarray, int] | None:
    """A reduced read of a plain grey image streamed from its file (:mod:`radprep.io.stream`).

    The header is parsed up to the pixel data, which is read in bands and reduced band by band:
    the same data set (but its pixel data), meta and reduced values as the whole read. None when
    the file does not qualify (or its header does not parse: the whole read then says why).
    """
    try:
        ds, tell = read_header_at_pixels(path)
    except InputError:
        return None  # the whole read says what is wrong
    px = native_pixels(path, ds, tell)
    if px is None:
        return None
    meta = _meta(ds, where, frames, stage)
    if reduce_to_px is not None:
        reduce = reduction_levels(meta.rows, meta.columns, reduce_to_px)
    if not reduce:
        return None
    stage[0] = "pixels"
    stored = read_reduced_native(px, reduced_shape(px.rows, px.cols, reduce))
    return ds, meta, stored, reduce


def _pixels(
    path: PathLike, ds: Any, meta: ImageMeta, frames: Frames, reduce: int
) -> tuple[np.ndarray, str, int]:
    """Decode (at 1/2**reduce where asked): the stored values, the decoder, the reduction done."""
    single = frames is not None or meta.number_of_frames == 1
    if reduce and single and not frames:
        found = read_reduced(ds, meta, reduce)
        if found is not None:
            return found[0], found[1], reduce
    stored, decoder = decode_pixels(path, ds, frames)
    if reduce and stored.ndim == 2:
        return reduce_stored(stored, reduce), decoder, reduce
    return stored, decoder, 0  # stacks and colour are read at full size


def _read_dicom(
    path: PathLike,
    where: str,
    frames: Frames,
    voi: VOI | None,
    out_dtype: OutDtype,
    reduce: int,
    reduce_to_px: int | None,
    stage: list[str],
) -> Image:
    """:func:`read_dicom` without its boundary; `stage` says how far it got."""
    streamed = (
        _streamed(path, where, frames, reduce, reduce_to_px, stage)
        if (reduce or reduce_to_px is not None) and not frames
        else None
    )
    if streamed is not None:
        ds, meta, stored, reduce = streamed
        decoder = "native"
    else:
        stage[0] = "header"
        ds, meta = _header_and_meta(path, where, frames, stage)
        if reduce_to_px is not None:
            reduce = reduction_levels(meta.rows, meta.columns, reduce_to_px)
        stage[0] = "pixels"
        stored, decoder, reduce = _pixels(path, ds, meta, frames, reduce)
    stage[0] = "attributes"
    meta = replace(meta, decoder=decoder)
    stored, meta, steps = to_rgb(stored, meta, ds, where)
    spatial_ndim = 3 if (stored.ndim - (1 if meta.is_color else 0)) == 3 else 2
    geometry = geometry_from_dataset(ds, ndim=spatial_ndim, frame=_first_frame(frames), path=path)
    if reduce:
        geometry = geometry.resize((meta.rows, meta.columns), stored.shape[:2])
    mode = "identity" if is_identity_modality(meta) else ("lut" if meta.modality_lut else "rescale")
    params = {
        "transfer_syntax": str(meta.transfer_syntax_uid),
        "frames": _frames_param(frames),
        "modality_lut": mode,
        "reduce": reduce,
        "decoder": decoder,
    }
    steps.insert(0, AppliedStep("read_dicom", params))
    frame_metas = _per_frame_metas(ds, meta, frames, stored, spatial_ndim)
    if frame_metas is not None:
        # Enhanced objects may rescale each frame differently (PS3.3 C.7.6.16.2.9).
        stored = np.stack([apply_modality(f, m) for f, m in zip(stored, frame_metas, strict=True)])
        meta = replace(meta, rescale_slope=None, rescale_intercept=None)
        mode = "rescale per frame"
    steps.append(AppliedStep("modality_lut", {"mode": mode}))
    stage[0] = "intensity"
    try:
        return _intensity(stored, geometry, meta, steps, voi, out_dtype, mode)
    except RadprepError as e:
        if str(e).startswith(where):
            raise
        raise type(e)(f"{where}: {e}") from e


def _intensity(
    stored: np.ndarray,
    geometry: Any,
    meta: ImageMeta,
    steps: list[AppliedStep],
    voi: VOI | None,
    out_dtype: OutDtype,
    mode: str,
) -> Image:
    """Apply the Modality LUT, and the VOI when one is asked for."""
    if voi is None or voi.mode == "none":
        return Image(apply_modality(stored, meta), geometry, meta, tuple(steps))
    header_has_voi = bool(meta.voi_luts or (meta.window_centers and meta.window_widths))
    data_free = voi.mode in ("window", "preset") or (voi.mode == "header" and header_has_voi)
    if mode != "identity" and tabulable(stored) and data_free:
        # Fold the Modality LUT and the VOI into one table over the stored values.
        resolved = resolve_voi(stored, meta, voi)
        fn = display_function(meta, resolved, out_dtype)
        pixels = apply_pointwise(stored, lambda x: fn(apply_modality(x, meta)))
    else:
        values = apply_modality(stored, meta)
        pixels, resolved = apply_voi(values, meta, voi, out_dtype=out_dtype)
    voi_step = AppliedStep(
        "voi", {**resolved.to_dict(), "inverted": meta.inverted, "out_dtype": out_dtype}
    )
    return Image(pixels, geometry, replace(meta, intensity="display"), (*steps, voi_step))


def _per_frame_metas(
    ds: Any, meta: ImageMeta, frames: Frames, stored: np.ndarray, spatial_ndim: int
) -> list[ImageMeta] | None:
    """Per-frame metas when a multi-frame stack rescales frames differently, else None."""
    if spatial_ndim != 3 or meta.is_color or not ds.get("PerFrameFunctionalGroupsSequence"):
        return None
    numbers = range(stored.shape[0]) if frames is None else [int(f) for f in np.atleast_1d(frames)]
    metas = [meta_from_dataset(ds, frame=n) for n in numbers]
    pairs = {(m.rescale_slope, m.rescale_intercept) for m in metas}
    return metas if len(pairs) > 1 else None


def _frames_param(frames: Frames) -> Any:
    if frames is None or isinstance(frames, (int, np.integer)):
        return None if frames is None else int(frames)
    return [int(f) for f in frames]
