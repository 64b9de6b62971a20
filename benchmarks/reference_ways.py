"""The reference job the ways radprep is compared with, each a whole process (start-up counted).

Usage: python reference_ways.py WAY ROOT OUT, WAY one of ``plain``, ``notebook``, ``floor``.
ROOT is a CBIS-DDSM download (its CSV names each full mammogram and ROI mask); each way writes
three 8-bit 299x299 PNGs per image (full, roi_mask, occluded) under OUT, like ``cbis-ddsm-299``.

- plain: what a competent hand-written script does: the pydicom header, pixels read into reused
  buffers, OpenCV for everything else: reduce to the working grid (area), min-max window,
  breast = Otsu's largest component (outside it to black: labels and white residue), the
  square crop keeping the ROI, the ROI box + 50 px occluded, area resize to 299, PNG.
- notebook: the CBIS-DDSM notebook's way: each DICOM to a 16-bit PNG first, then PIL at full
  size (crop keeping the ROI, white residue to 0, bicubic resize, 8-bit, save).
- floor: the least any way can do: read the image and mask pixels into reused buffers, reduce
  each to 299 (an exact 8x8 area average first), encode three PNGs. No header parse, no
  cleaning, no crop.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import numpy as np

SIZE = 299


def job_rows(root: Path) -> list[tuple[Path, list[Path]]]:
    """(full mammogram, its ROI mask files) per image, from the download's CSV."""
    with open(root / "mass_case_description_test_set.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_image: dict[str, list[Path]] = {}
    for r in rows:
        by_image.setdefault(r["image file path"].strip(), []).append(
            root / r["ROI mask file path"].strip()
        )
    return [(root / image, masks) for image, masks in by_image.items()]


def _read_into(path: Path, buf: np.ndarray) -> np.ndarray:
    """The pixel data of an uncompressed DICOM (its last element) into a reused buffer."""
    with open(path, "rb", buffering=0) as fh:
        fh.seek(os.fstat(fh.fileno()).st_size - buf.nbytes)
        fh.readinto(memoryview(buf).cast("B"))
    return buf


def plain(root: Path, out: Path) -> None:
    import cv2
    import pydicom

    cv2.setNumThreads(1)
    bufs: dict[type, np.ndarray] = {}

    def buffer(shape: tuple[int, int], dtype: type) -> np.ndarray:
        """A reused buffer (grown when an image is larger), viewed at `shape`."""
        n = shape[0] * shape[1]
        if bufs.get(dtype) is None or bufs[dtype].size < n:
            bufs[dtype] = np.empty(n, dtype)
        return bufs[dtype][:n].reshape(shape)

    for image, masks in job_rows(root):
        ds = pydicom.dcmread(image, stop_before_pixels=True)
        rows, cols = int(ds.Rows), int(ds.Columns)
        full = _read_into(image, buffer((rows, cols), np.uint16))
        f = 1
        while min(rows, cols) // (2 * f) >= SIZE:
            f *= 2
        grid = (cols // f, rows // f)
        img = cv2.resize(full, grid, interpolation=cv2.INTER_AREA)
        roi = np.zeros(img.shape, np.uint8)
        for m in masks:
            mds = pydicom.dcmread(m, stop_before_pixels=True)
            mfull = _read_into(m, buffer((int(mds.Rows), int(mds.Columns)), np.uint8))
            roi |= cv2.resize(mfull, grid, interpolation=cv2.INTER_AREA) > 0
        lo, hi, _, _ = cv2.minMaxLoc(img)
        img8 = cv2.convertScaleAbs(
            img, alpha=255.0 / max(hi - lo, 1), beta=-lo * 255.0 / max(hi - lo, 1)
        )
        _, fg = cv2.threshold(img8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        n, lab, st, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        breast = (
            (lab == 1 + int(np.argmax(st[1:, cv2.CC_STAT_AREA]))).astype(np.uint8) if n > 1 else fg
        )
        img8[breast == 0] = 0
        h, w = img8.shape
        side = min(h, w)
        ys = np.nonzero(roi.any(axis=1))[0]
        centre = (ys[0] + ys[-1]) // 2 if ys.size else h // 2
        top = int(min(max(centre - side // 2, 0), h - side))
        occl = img8.copy()
        if ys.size:  # each ROI component's box plus 50 px
            b = 50 // f
            _, _, boxes, _ = cv2.connectedComponentsWithStats(roi, connectivity=8)
            for x, y, bw, bh, _ in boxes[1:]:
                occl[max(y - b, 0) : y + bh + b, max(x - b, 0) : x + bw + b] = 0
        sid = image.parts[-4]
        for name, arr in (("full", img8), ("roi_mask", roi * np.uint8(255)), ("occluded", occl)):
            small = cv2.resize(
                arr[top : top + side, :side], (SIZE, SIZE), interpolation=cv2.INTER_AREA
            )
            if name == "roi_mask":
                small = np.where(small > 0, np.uint8(255), np.uint8(0))
            (out / name).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out / name / f"{sid}.png"), small)


def notebook(root: Path, out: Path) -> None:
    import pydicom
    from PIL import Image

    for image, masks in job_rows(root):
        sid = image.parts[-4]
        ds = pydicom.dcmread(image)
        png16 = out / "png16" / f"{sid}.png"
        png16.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(ds.pixel_array.astype(np.uint16)).save(png16)  # step 1: PNG16
        arr = np.asarray(Image.open(png16)).astype(np.uint16)
        roi = np.zeros(arr.shape, bool)
        for m in masks:
            roi |= pydicom.dcmread(m).pixel_array > 0
        h, w = arr.shape
        rows = np.nonzero(roi.any(axis=1))[0]
        centre = (rows[0] + rows[-1]) // 2 if rows.size else h // 2
        top = int(min(max(centre - w // 2, 0), h - w))
        arr = arr.copy()
        arr[arr == arr.max()] = 0  # the white-residue rule, 16-bit
        occl = arr.copy()
        if rows.size:
            cols = np.nonzero(roi.any(axis=0))[0]
            occl[max(rows[0] - 50, 0) : rows[-1] + 51, max(cols[0] - 50, 0) : cols[-1] + 51] = 0
        for name, a in (
            ("full", arr),
            ("roi_mask", roi.astype(np.uint16) * 65535),
            ("occluded", occl),
        ):
            crop = Image.fromarray(np.ascontiguousarray(a[top : top + w, :]))
            small = np.asarray(crop.resize((SIZE, SIZE), Image.BICUBIC))
            (out / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray((small / 257).astype(np.uint8)).save(out / name / f"{sid}.png")


def floor(root: Path, out: Path) -> None:
    import cv2

    cv2.setNumThreads(1)
    for d in ("full", "roi_mask", "occluded"):
        (out / d).mkdir(parents=True, exist_ok=True)
    bufs: dict[type, np.ndarray] = {}
    for image, masks in job_rows(root):
        sid = image.parts[-4]
        small = {}
        for name, path, dtype in (("full", image, np.uint16), ("roi_mask", masks[0], np.uint8)):
            # No header parse: the file's tail is the pixel data, read into a reused buffer
            # and viewed 1024 pixels wide (the reduction reads every pixel whatever the width).
            n = (os.path.getsize(path) - 4096) // np.dtype(dtype).itemsize // 8192 * 8192
            if bufs.get(dtype) is None or bufs[dtype].size < n:
                bufs[dtype] = np.empty(n, dtype)
            px = _read_into(path, bufs[dtype][:n]).reshape(-1, 1024)
            # The cheapest reduction: an exact 8x8 area average, then to 299x299.
            eighth = cv2.resize(px, (128, px.shape[0] // 8), interpolation=cv2.INTER_AREA)
            small[name] = cv2.resize(eighth, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        full8 = (small["full"] >> 8).astype(np.uint8)
        cv2.imwrite(str(out / "full" / f"{sid}.png"), full8)
        cv2.imwrite(str(out / "roi_mask" / f"{sid}.png"), small["roi_mask"])
        cv2.imwrite(str(out / "occluded" / f"{sid}.png"), full8)


if __name__ == "__main__":
    way, root, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    {"plain": plain, "notebook": notebook, "floor": floor}[way](root, out)
