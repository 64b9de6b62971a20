"""A one-file summary of what a DICOM file holds (the `radprep info` command)."""

from __future__ import annotations

import os
from typing import Any

from pydicom.uid import UID

from radprep.errors import RadprepError
from radprep.intensity.modality import apply_modality
from radprep.intensity.window import value_range
from radprep.io.decode import decode_stored
from radprep.io.error_map import boundary_error
from radprep.io.header import read_header
from radprep.io.meta import geometry_from_dataset, meta_from_dataset

__all__ = ["describe", "format_summary"]


def describe(path: str | os.PathLike[str], *, pixels: bool = True) -> dict[str, Any]:
    """Return a JSON-serialisable summary of one DICOM file.

    Parameters
    ----------
    path : path
        The file.
    pixels : bool
        Also decode the pixels and report the stored and modality value ranges.

    Returns
    -------
    dict
        modality, rows, columns, frames, photometric interpretation, bits, signedness, transfer
        syntax (UID and name), windows with explanations, VOI LUT count, rescale, laterality,
        view, spacing, and (with `pixels`) the stored and modality min/max.

    Raises
    ------
    InputError
        The same errors as :func:`~radprep.io.read_dicom`, and only those.
    """
    where = os.fspath(path)
    stage = ["header"]
    try:
        return _describe(path, pixels, stage)
    except RadprepError as e:
        if where in str(e):
            raise
        raise type(e)(f"{where}: {e}") from e
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # one boundary for whatever a parser or decoder raises
        raise boundary_error(e, where, stage[0]) from e


def _describe(path: str | os.PathLike[str], pixels: bool, stage: list[str]) -> dict[str, Any]:
    ds = read_header(path)
    stage[0] = "attributes"
    meta = meta_from_dataset(ds)
    ts = UID(meta.transfer_syntax_uid)
    geometry = geometry_from_dataset(
        ds, path=path
    )  # a spacing that is not two positive numbers warns
    spacing = list(geometry.spacing) if geometry.unit == "mm" else None
    info: dict[str, Any] = {
        "path": os.fspath(path),
        "modality": meta.modality,
        "sop_class": UID(meta.sop_class_uid or "").name or meta.sop_class_uid,
        "rows": meta.rows,
        "columns": meta.columns,
        "frames": meta.number_of_frames,
        "photometric_interpretation": meta.photometric_interpretation,
        "samples_per_pixel": meta.samples_per_pixel,
        "bits_allocated": meta.bits_allocated,
        "bits_stored": meta.bits_stored,
        "signed": bool(meta.pixel_representation),
        "transfer_syntax_uid": str(ts),
        "transfer_syntax": ts.name,
        "windows": [
            {"center": c, "width": w, "explanation": e}
            for c, w, e in zip(
                meta.window_centers,
                meta.window_widths,
                (*meta.window_explanations, *[""] * len(meta.window_centers)),
                strict=False,
            )
        ],
        "voi_lut_function": meta.voi_lut_function,
        "voi_luts": len(meta.voi_luts),
        "rescale_slope": meta.rescale_slope,
        "rescale_intercept": meta.rescale_intercept,
        "rescale_type": meta.rescale_type,
        "modality_lut": meta.modality_lut is not None,
        "presentation_lut_shape": meta.presentation_lut_shape,
        "presentation_intent": meta.presentation_intent_type,
        "laterality": meta.laterality,
        "view_position": meta.view_position,
        "spacing_mm": spacing,
    }
    if pixels:
        stage[0] = "pixels"
        stored = decode_stored(path, ds)
        lo, hi = value_range(stored)
        info["stored_min"], info["stored_max"] = lo, hi
        if not meta.is_color:
            mlo, mhi = value_range(apply_modality(stored, meta))
            info["modality_min"], info["modality_max"] = mlo, mhi
    return info


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def format_summary(r: dict[str, Any]) -> str:
    """Return :func:`describe`'s summary as text: the path, then one aligned line per fact."""
    windows = ", ".join(
        f"{w['center']:g}/{w['width']:g}" + (f" ({w['explanation']})" if w["explanation"] else "")
        for w in r["windows"]
    )
    rescale = (
        f"{_fmt(r['rescale_slope'])} x + {_fmt(r['rescale_intercept'])}"
        if r["rescale_slope"] is not None or r["rescale_intercept"] is not None
        else ("LUT" if r["modality_lut"] else "-")
    )
    signed = "signed" if r["signed"] else "unsigned"
    items = [
        ("modality", r["modality"]),
        ("size", f"{r['rows']} x {r['columns']}, {r['frames']} frame(s)"),
        ("photometric", r["photometric_interpretation"]),
        ("bits", f"{r['bits_stored']}/{r['bits_allocated']} {signed}"),
        ("transfer syntax", f"{r['transfer_syntax']} ({r['transfer_syntax_uid']})"),
        ("windows", windows or "-"),
        ("VOI LUTs", r["voi_luts"]),
        ("rescale", rescale),
    ]
    if "stored_min" in r:
        items.append(("stored min/max", f"{_fmt(r['stored_min'])} / {_fmt(r['stored_max'])}"))
    if "modality_min" in r:
        items.append(("modality min/max", f"{_fmt(r['modality_min'])} / {_fmt(r['modality_max'])}"))
    width = max(len(k) for k, _ in items)
    return "\n".join([str(r["path"]), *(f"{k:<{width}}  {_fmt(v)}" for k, v in items)])
