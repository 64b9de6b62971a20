"""Real series for the volume tests, made from real files: frames split out of pydicom-data's
enhanced MR into single-frame instances with proper positions, and CT slices stacked from a real
CT image. Every pixel is a real pixel; only the positions are written here, so the tests know
the exact geometry the assembled volume must have."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from realfiles import CT_HU, MR_ENHANCED_10F, testdata

# An oblique orientation (rotated about two axes), so row/column/normal mix-ups show.
OBLIQUE_IOP = (
    0.8660254037844387,
    0.5,
    0.0,
    -0.3535533905932738,
    0.6123724356957946,
    0.7071067811865476,
)
MR_PIXEL_SPACING = (0.7, 0.9)  # (row spacing, column spacing): unequal on purpose
MR_ORIGIN = (-12.5, 30.25, 101.0)


def normal_of(iop: Sequence[float]) -> np.ndarray:
    r = np.asarray(iop[:3], float)
    c = np.asarray(iop[3:], float)
    return np.cross(r, c)


def emri_frames() -> tuple[np.ndarray, Dataset]:
    """The enhanced MR's 10 frames (stored values) and its header."""
    ds = pydicom.dcmread(testdata(MR_ENHANCED_10F))
    return ds.pixel_array.copy(), ds


def split_emri(
    out: Path,
    *,
    iop: Sequence[float] = OBLIQUE_IOP,
    origin: Sequence[float] = MR_ORIGIN,
    pixel_spacing: Sequence[float] = MR_PIXEL_SPACING,
    slice_spacing: float | None = None,
    positions: Sequence[float] | None = None,
    shift_per_slice: Sequence[float] = (0.0, 0.0, 0.0),
    seed: int = 0,
    keep: Sequence[int] | None = None,
) -> tuple[np.ndarray, list[Path]]:
    """Write the enhanced MR's frames as shuffled single-frame MR instances.

    Frame k sits at ``origin + positions[k] * normal + k * shift_per_slice`` (``positions``
    default to ``k * slice_spacing``; slice spacing defaults to the file's own
    SpacingBetweenSlices, 1.2 mm). File names and InstanceNumbers are shuffled, so only the
    positions can put the frames back in order.

    Returns the original frames (in order) and the files written.
    """
    frames, src = emri_frames()
    dz = float(src.SpacingBetweenSlices) if slice_spacing is None else slice_spacing
    n = frames.shape[0]
    pos = [k * dz for k in range(n)] if positions is None else list(positions)
    normal = normal_of(iop)
    order = np.random.default_rng(seed).permutation(n)
    series_uid = generate_uid()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for rank, k in enumerate(order):
        k = int(k)
        if keep is not None and k not in keep:
            continue
        ds = Dataset()
        for elem in src:
            if elem.tag.group in (0x0008, 0x0010, 0x0018, 0x0020, 0x0028) and elem.VR != "SQ":
                ds.add(copy.deepcopy(elem))
        for kw in ("NumberOfFrames", "DataPointRows", "DataPointColumns"):
            if kw in ds:
                delattr(ds, kw)
        ds.SOPClassUID = pydicom.uid.MRImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.SeriesInstanceUID = series_uid
        ds.InstanceNumber = int(rank + 1)  # shuffled: not the spatial order
        ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
        ds.ImageOrientationPatient = [f"{v:.10g}" for v in iop]
        p = np.asarray(origin, float) + pos[k] * normal + k * np.asarray(shift_per_slice, float)
        ds.ImagePositionPatient = [f"{v:.10g}" for v in p]
        ds.PixelSpacing = [f"{v:.10g}" for v in pixel_spacing]
        ds.SliceThickness = f"{dz:.10g}"
        ds.PixelData = np.ascontiguousarray(frames[k]).tobytes()
        ds.file_meta = pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = out / f"IM{rank:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        written.append(path)
    return frames, written


def ct_series(
    out: Path,
    *,
    n: int = 6,
    size: int = 96,
    slice_spacing: float = 2.5,
    origin: Sequence[float] = (-120.0, -80.0, -300.0),
    iop: Sequence[float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    pixel_spacing: Sequence[float] | None = None,
    series_uid: str | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, list[Path]]:
    """Write `n` CT slices cut from the real head CT (693_UNCR), each a different crop.

    Returns the expected volume in Hounsfield units ``(n, size, size)`` and the files.
    """
    src = pydicom.dcmread(testdata(CT_HU))
    stored = src.pixel_array
    slope = float(src.get("RescaleSlope", 1))
    intercept = float(src.get("RescaleIntercept", 0))
    ps = [float(v) for v in (pixel_spacing or src.PixelSpacing)]
    normal = normal_of(iop)
    series_uid = series_uid or generate_uid()
    order = np.random.default_rng(seed).permutation(n)
    out.mkdir(parents=True, exist_ok=True)
    vol = np.empty((n, size, size), np.float32)
    written = []
    for rank, k in enumerate(order):
        k = int(k)
        shifted = np.roll(stored, (-(150 + 8 * k), -(200 + 4 * k)), axis=(0, 1))
        crop = np.ascontiguousarray(shifted[:size, :size])
        vol[k] = crop.astype(np.float32) * slope + intercept
        ds = copy.deepcopy(src)
        ds.Rows, ds.Columns = size, size
        ds.PixelData = crop.tobytes()
        ds.SOPInstanceUID = generate_uid()
        ds.SeriesInstanceUID = series_uid
        ds.InstanceNumber = int(rank + 1)
        ds.ImageOrientationPatient = [f"{v:.10g}" for v in iop]
        p = np.asarray(origin, float) + k * slice_spacing * normal
        ds.ImagePositionPatient = [f"{v:.10g}" for v in p]
        ds.PixelSpacing = [f"{v:.10g}" for v in ps]
        ds.SliceThickness = f"{slice_spacing:.10g}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = out / f"CT{rank:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        written.append(path)
    return vol, written


def ct_with_liver_seg(out: Path, *, n: int = 5) -> tuple[np.ndarray, Path]:
    """A CT series on the grid of pydicom-data's liver.dcm SEG (the SEG's referenced series UID,
    its pixel spacing and orientation, one slice above and below its three frames), with the SEG
    copied beside it. The pixels are the real head CT's: the geometry, not the anatomy, is what
    the tests check.

    Returns the CT volume in HU and the SEG's path.
    """
    import shutil

    from realfiles import SEG_LIVER

    seg = pydicom.dcmread(testdata(SEG_LIVER), stop_before_pixels=True)
    ref_uid = seg.ReferencedSeriesSequence[0].SeriesInstanceUID
    first = seg.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0].ImagePositionPatient
    ps = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
    origin = (float(first[0]), float(first[1]), float(first[2]) - 1.0)
    vol, _ = ct_series(
        out / "ct",
        n=n,
        size=int(seg.Rows),
        slice_spacing=1.0,
        origin=origin,
        pixel_spacing=[float(v) for v in ps],
        series_uid=ref_uid,
    )
    seg_path = out / "seg" / "liver.dcm"
    seg_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(testdata(SEG_LIVER), seg_path)
    return vol, seg_path
