"""The header facts the pipeline needs: :class:`~radprep.image.ImageMeta` and the geometry.

Both come from the header alone (no pixel data is needed); enhanced multi-frame objects are read
through their functional groups (PS3.3 C.7.6.16).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID

from radprep._dicom import functional_group_value
from radprep.errors import InvalidAttributeError, RadprepWarning
from radprep.geometry import Geometry
from radprep.image import LUT, ImageMeta
from radprep.io.error_map import one_line
from radprep.io.header import PathLike, transfer_syntax

__all__ = ["geometry_from_dataset", "meta_from_dataset"]

_fg_value = functional_group_value


def _floats(value: Any) -> tuple[float, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, (list, tuple, MultiValue)):
        return tuple(float(v) for v in value if v != "" and v is not None)
    return (float(value),)


def _strings(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, (list, tuple, MultiValue)):
        return tuple(str(v) for v in value)
    return (str(value),)


def _lut_from_item(item: Dataset, ds: Dataset, what: str = "LUT") -> LUT:
    raw_desc = item.LUTDescriptor
    desc = [int(v) for v in (raw_desc if isinstance(raw_desc, Sequence) else [raw_desc])]
    elem = item["LUTData"]
    n_data = (
        0
        if elem.value is None
        else (len(elem.value) if isinstance(elem.value, (bytes, Sequence)) else 1)
    )
    if len(desc) != 3 or not 1 <= desc[2] <= 16 or n_data == 0:
        # PS3.3 C.11.1.1.1, C.11.2.1.1: three descriptor values, up to 16 bits per entry, data.
        raise InvalidAttributeError(
            f"{what} has LUTDescriptor (0028,3002) {desc} and {n_data} LUTData "
            "(0028,3006) value(s); a LUT needs three descriptor values, 1 to 16 bits per entry "
            "and its data"
        )
    if elem.VR == "OW" or isinstance(elem.value, bytes):
        little = transfer_syntax(ds) != UID("1.2.840.10008.1.2.2")
        data = np.frombuffer(elem.value, dtype="<u2" if little else ">u2").astype(np.uint16)
    else:
        vals = elem.value if isinstance(elem.value, (list, MultiValue)) else [elem.value]
        data = np.asarray([int(v) for v in vals], dtype=np.int64)
        data = (data & 0xFFFF).astype(np.uint16)
    # PS3.3 C.11.1.1: the first descriptor value is the entry count (0 means 65536); the
    # second is US or SS depending on the pixel representation (pydicom gives it unsigned).
    first = desc[1]
    if ds.get("PixelRepresentation", 0) == 1 and first > 32767:
        first -= 65536
    if desc[2] == 8 and data.size and int(data.max()) > 255:
        raise InvalidAttributeError(
            f"{what} has values up to {int(data.max())} but its LUTDescriptor (0028,3002) says "
            "8 bits per entry; the LUT does not fit"
        )
    return LUT((desc[0], first, desc[2]), data, str(item.get("LUTExplanation", "") or ""))


def meta_from_dataset(ds: Dataset, *, frame: int = 0) -> ImageMeta:
    """Return the :class:`ImageMeta` of a data set (header only; no pixel data needed)."""
    ts = transfer_syntax(ds)
    voi_seq = _fg_value(ds, "FrameVOILUTSequence", "VOILUTSequence", frame) or ds.get(
        "VOILUTSequence"
    )
    voi_luts = tuple(
        _lut_from_item(item, ds, f"VOILUTSequence (0028,3010) item {i}")
        for i, item in enumerate(voi_seq or [])
        if "LUTDescriptor" in item and "LUTData" in item
    )
    mlut_seq = ds.get("ModalityLUTSequence")
    mlut = (
        _lut_from_item(mlut_seq[0], ds, "ModalityLUTSequence (0028,3000)")
        if mlut_seq and "LUTData" in mlut_seq[0]
        else None
    )
    slope = _fg_value(ds, "PixelValueTransformationSequence", "RescaleSlope", frame)
    intercept = _fg_value(ds, "PixelValueTransformationSequence", "RescaleIntercept", frame)
    rtype = _fg_value(ds, "PixelValueTransformationSequence", "RescaleType", frame)
    centers = _floats(_fg_value(ds, "FrameVOILUTSequence", "WindowCenter", frame))
    widths = _floats(_fg_value(ds, "FrameVOILUTSequence", "WindowWidth", frame))
    expl = _strings(_fg_value(ds, "FrameVOILUTSequence", "WindowCenterWidthExplanation", frame))
    vfunc = _fg_value(ds, "FrameVOILUTSequence", "VOILUTFunction", frame)
    laterality = (
        ds.get("ImageLaterality")
        or _fg_value(ds, "FrameAnatomySequence", "FrameLaterality", frame)
        or ds.get("Laterality")
        or None
    )
    frames = ds.get("NumberOfFrames") or 1
    return ImageMeta(
        modality=ds.get("Modality") or None,
        photometric_interpretation=str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip(),
        samples_per_pixel=int(ds.get("SamplesPerPixel", 1) or 1),
        bits_allocated=int(ds.get("BitsAllocated", 16) or 16),
        bits_stored=int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16),
        pixel_representation=int(ds.get("PixelRepresentation", 0) or 0),
        rows=int(ds.get("Rows", 0) or 0),
        columns=int(ds.get("Columns", 0) or 0),
        number_of_frames=int(frames),
        transfer_syntax_uid=str(ts),
        laterality=str(laterality).strip().upper() or None if laterality else None,
        view_position=(str(ds.get("ViewPosition", "")).strip().upper() or None),
        window_centers=centers,
        window_widths=widths,
        window_explanations=expl,
        voi_lut_function=str(vfunc).strip().upper() if vfunc else None,
        voi_luts=voi_luts,
        rescale_slope=None if slope in (None, "") else float(slope),
        rescale_intercept=None if intercept in (None, "") else float(intercept),
        rescale_type=str(rtype) if rtype else None,
        modality_lut=mlut,
        presentation_lut_shape=(str(ds.get("PresentationLUTShape", "")).strip().upper() or None),
        presentation_intent_type=(str(ds.get("PresentationIntentType", "")).strip() or None),
        sop_class_uid=str(ds.get("SOPClassUID", "")) or None,
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")) or None,
        series_instance_uid=str(ds.get("SeriesInstanceUID", "")) or None,
        study_instance_uid=str(ds.get("StudyInstanceUID", "")) or None,
    )


def geometry_from_dataset(
    ds: Dataset, *, ndim: int = 2, frame: int = 0, path: PathLike | None = None
) -> Geometry:
    """Return the in-plane geometry of a data set (and a frame axis for multi-frame arrays).

    PixelSpacing (0028,0030) is preferred; ImagerPixelSpacing (0018,1164) (projection
    radiography, at the detector) is used when it is absent. A zero or negative spacing is
    reported with a warning and the geometry falls back to pixel units.
    """
    where = f"{os.fspath(path)}: " if path is not None else ""
    spacing: tuple[float, ...] | None = None
    source = "none"
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        tag = "(0028,0030)" if keyword == "PixelSpacing" else "(0018,1164)"
        try:
            value = (
                _fg_value(ds, "PixelMeasuresSequence", keyword, frame)
                if keyword == "PixelSpacing"
                else ds.get(keyword)
            )
            vals = _floats(value)
        except (ValueError, TypeError, OverflowError) as e:
            warnings.warn(
                f"{where}{keyword} {tag} is not numeric ({one_line(e)}); "
                "geometry kept in pixel units",
                RadprepWarning,
                stacklevel=2,
            )
            continue
        if not vals:
            continue
        if len(vals) == 2 and all(np.isfinite(v) and v > 0 for v in vals):
            spacing, source = vals, keyword
            break
        warnings.warn(
            f"{where}{keyword} {tag} is {list(vals)}, not two positive numbers; "
            "geometry kept in pixel units",
            RadprepWarning,
            stacklevel=2,
        )
    unit = "mm" if spacing is not None else "px"
    in_plane = spacing if spacing is not None else (1.0, 1.0)
    if ndim == 3:
        between = _floats(_fg_value(ds, "PixelMeasuresSequence", "SpacingBetweenSlices", frame))
        thick = _floats(_fg_value(ds, "PixelMeasuresSequence", "SliceThickness", frame))
        dz = next((v for v in (*between, *thick) if v > 0), 1.0)
        return Geometry(spacing=(dz, *in_plane), unit=unit, spacing_source=source)  # type: ignore[arg-type]
    return Geometry(spacing=in_plane, unit=unit, spacing_source=source)  # type: ignore[arg-type]
