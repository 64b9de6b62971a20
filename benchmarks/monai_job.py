"""The reference job as a MONAI user would write it (run inside the benchmark's MONAI venv).

Per image of the CBIS-DDSM download's CSV: LoadImage the full mammogram and its ROI mask(s)
(pydicom reader), ScaleIntensity, an occluded copy (each ROI's box + 50 px to 0), SpatialCrop
(the square keeping the ROI) -> Resize(299, 299) -> SaveImage(png) for full, roi_mask and
occluded.
Usage: python monai_job.py OUT ROOT
"""

import csv
import sys
from pathlib import Path

import numpy as np
from monai.transforms import LoadImage, Resize, SaveImage, ScaleIntensity, SpatialCrop


def main() -> None:
    out, root = Path(sys.argv[1]), Path(sys.argv[2])
    with open(root / "mass_case_description_test_set.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_image: dict[str, list[str]] = {}
    for r in rows:
        by_image.setdefault(r["image file path"].strip(), []).append(
            r["ROI mask file path"].strip()
        )
    load = LoadImage(reader="PydicomReader", image_only=True, ensure_channel_first=True)
    scale = ScaleIntensity()
    resize = Resize((299, 299))
    savers = {
        name: SaveImage(
            output_dir=str(out / name),
            output_ext=".png",
            output_dtype=np.uint8,
            scale=255,
            separate_folder=False,
            output_postfix="",
        )
        for name in ("full", "roi_mask", "occluded")
    }
    for name in savers:
        (out / name).mkdir(parents=True, exist_ok=True)
    for i, (image, masks) in enumerate(by_image.items()):
        img = scale(load(str(root / image)))
        roi = None
        for m in masks:
            mm = load(str(root / m)) > 0
            roi = mm if roi is None else (roi | mm)
        # PydicomReader gives (channel, cols, rows): x first, as ITK does.
        _, w, h = img.shape
        ys = np.nonzero(np.asarray(roi[0]).any(axis=0))[0]
        xs = np.nonzero(np.asarray(roi[0]).any(axis=1))[0]
        centre = (ys[0] + ys[-1]) // 2 if ys.size else h // 2
        side = min(h, w)
        top = int(min(max(centre - side // 2, 0), h - side))
        occl = img.clone()
        if ys.size:
            occl[0, max(xs[0] - 50, 0) : xs[-1] + 51, max(ys[0] - 50, 0) : ys[-1] + 51] = 0
        crop = SpatialCrop(roi_start=(0, top), roi_end=(side, top + side))
        mask_img = roi.float()
        mask_img.meta = img.meta
        for name, arr in (("full", img), ("roi_mask", mask_img), ("occluded", occl)):
            # CBIS-DDSM names every file 1-1.dcm / 000000.dcm: name outputs by index, or
            # each image would overwrite the last.
            savers[name](resize(crop(arr)), filename=str(out / name / f"{i:05d}"))


if __name__ == "__main__":
    main()
