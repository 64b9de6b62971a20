"""Files out: names from new UIDs, no overwrites, audit, crosswalk, quarantine, pixel cleaning, keys."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000Lossless

from radprep.deid import (
    DeidConfig,
    PixelRegion,
    date_shift_days,
    deidentify_dataset,
    deidentify_file,
    map_uid,
    pseudonymize_id,
    write_crosswalk,
)
from radprep.deid.pixels import burned_in_reason
from radprep.errors import SpecError
from realfiles import CT_SMALL, MR_SMALL, US_PALETTE, US_RGB_J2K, testdata

KEY = b"file-test-key-0123456789abcdef!!"
OTHER = b"other-file-key-0123456789abcdef!"


def _copy_as(src: Path, dst: Path, **attrs: object) -> Path:
    ds = pydicom.dcmread(src)
    for k, v in attrs.items():
        setattr(ds, k, v)
    dst.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dst, enforce_file_format=True)
    return dst


# Outputs ---------------------------------------------------------------------------------------


def test_output_path_is_built_from_new_uids(tmp_path: Path) -> None:
    src = testdata(CT_SMALL)
    original = pydicom.dcmread(src)
    result = deidentify_file(src, tmp_path, DeidConfig(), KEY)
    expected = (
        tmp_path
        / map_uid(original.StudyInstanceUID, KEY)
        / map_uid(original.SeriesInstanceUID, KEY)
        / f"{map_uid(original.SOPInstanceUID, KEY)}.dcm"
    )
    assert result.path == expected and expected.is_file()
    assert result.record.output == expected.relative_to(tmp_path).as_posix()
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary or claim files left behind


def test_rerun_is_unchanged_and_a_different_file_is_never_overwritten(tmp_path: Path) -> None:
    src = testdata(CT_SMALL)
    first = deidentify_file(src, tmp_path / "out", DeidConfig(), KEY)
    data = first.path.read_bytes()
    again = deidentify_file(src, tmp_path / "out", DeidConfig(), KEY)
    assert again.record.status == "unchanged" and again.path == first.path
    # Another input with the same SOPInstanceUID but other content: written beside the first
    # under a suffix from its own keyed hash, with a note; the first is left as it was.
    twin = _copy_as(src, tmp_path / "in" / "twin.dcm", SeriesDescription="other", KVP="99")
    second = deidentify_file(twin, tmp_path / "out", DeidConfig(), KEY)
    assert second.record.status == "written"
    assert second.path.parent == first.path.parent
    assert second.path.name.startswith(first.path.stem + "-") and second.path.suffix == ".dcm"
    assert "same SOPInstanceUID (0008,0018)" in second.record.note
    assert first.path.read_bytes() == data
    assert pydicom.dcmread(second.path).KVP == "99"
    # A re-run finds both where they were.
    assert deidentify_file(twin, tmp_path / "out", DeidConfig(), KEY).path == second.path
    assert deidentify_file(src, tmp_path / "out", DeidConfig(), KEY).record.status == "unchanged"


def test_a_planted_file_under_the_name_is_never_overwritten(tmp_path: Path) -> None:
    src = testdata(CT_SMALL)
    first = deidentify_file(src, tmp_path / "probe", DeidConfig(), KEY)
    target = tmp_path / "out" / first.path.relative_to(tmp_path / "probe")
    target.parent.mkdir(parents=True)
    target.write_bytes(b"someone else's file")
    result = deidentify_file(src, tmp_path / "out", DeidConfig(), KEY)
    assert target.read_bytes() == b"someone else's file"
    assert result.path != target and result.path.read_bytes() == first.path.read_bytes()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temp files


def test_audit_line_holds_new_ids_and_counts_only(tmp_path: Path) -> None:
    src = testdata(MR_SMALL)
    original = pydicom.dcmread(src)
    result = deidentify_file(src, tmp_path, DeidConfig(), KEY)
    line = result.record.to_json()
    doc = json.loads(line)
    assert "\n" not in line
    assert doc["status"] == "written" and doc["v"] == 1
    assert doc["sop_uid"] == map_uid(original.SOPInstanceUID, KEY)
    assert doc["patient_id"] == pseudonymize_id(original.PatientID, KEY)
    assert set(doc["actions"]) <= {"D", "Z", "X", "K", "C", "U"} and doc["actions"]["U"] >= 4
    assert doc["methods"] == ["113100", "113107", "113108"]
    originals = [
        str(e.value)
        for e in original.iterall()
        if e.VR in ("PN", "LO", "SH", "UI", "DA") and len(str(e.value)) >= 4
    ]
    assert not [v for v in originals if v in line and v not in doc["methods"]]
    assert src.name not in line and str(src.parent) not in line


def test_crosswalk_is_private_and_refused_inside_the_output(tmp_path: Path) -> None:
    src = testdata(CT_SMALL)
    result = deidentify_file(src, tmp_path / "out", DeidConfig(), KEY, with_crosswalk=True)
    kinds = {row[0] for row in result.crosswalk}
    assert {"file", "PatientID", "StudyInstanceUID", "SOPInstanceUID"} <= kinds
    with pytest.raises(
        SpecError,
        match=r"--crosswalk .*cw\.csv is inside the output folder .*out, which is what gets shared",
    ):
        write_crosswalk(
            tmp_path / "out" / "sub" / "cw.csv", result.crosswalk, out_root=tmp_path / "out"
        )
    path = write_crosswalk(
        tmp_path / "keys" / "cw.csv", result.crosswalk, out_root=tmp_path / "out"
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert text.startswith("kind,original,pseudonym\n")
    assert f"PatientID,{pydicom.dcmread(src).PatientID}," in text
    assert deidentify_file(src, tmp_path / "o2", DeidConfig(), KEY).crosswalk == ()


# Burned-in text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "attrs", "expected"),
    [
        (CT_SMALL, {}, None),
        (CT_SMALL, {"BurnedInAnnotation": "YES"}, "BurnedInAnnotation (0028,0301) is YES"),
        (US_PALETTE, {}, "Modality (0008,0060) US without BurnedInAnnotation (0028,0301) NO"),
        (US_PALETTE, {"BurnedInAnnotation": "NO"}, None),
        ("SC_rgb.dcm", {}, "Modality (0008,0060) OT without BurnedInAnnotation (0028,0301) NO"),
        (
            CT_SMALL,
            {"ImageType": ["DERIVED", "SECONDARY", "SCREEN SAVE"]},
            "a screen save without BurnedInAnnotation (0028,0301) NO",
        ),
    ],
)
def test_which_images_need_pixel_review(name: str, attrs: dict, expected: str | None) -> None:
    ds = pydicom.dcmread(testdata(name))
    for k, v in attrs.items():
        setattr(ds, k, v)
    assert burned_in_reason(ds) == expected


def test_suspect_images_are_quarantined_not_written(tmp_path: Path) -> None:
    # Without OCR, the header alone decides (pixel_ocr: off).
    src = testdata(US_PALETTE)
    result = deidentify_file(src, tmp_path / "out", DeidConfig(pixel_ocr="off"), KEY)
    assert result.record.status == "quarantined" and result.path is None
    assert "needs" not in result.record.reason and "US" in result.record.reason
    assert not (tmp_path / "out").exists()
    held = DeidConfig(pixel_ocr="off", quarantine="hold", quarantine_dir=tmp_path / "review")
    result = deidentify_file(src, tmp_path / "out", held, KEY)
    assert result.path.is_file() and (tmp_path / "review") in result.path.parents
    inside = DeidConfig(
        pixel_ocr="off", quarantine="hold", quarantine_dir=tmp_path / "out" / "review"
    )
    with pytest.raises(SpecError, match=r"quarantine_dir .* is inside the output folder"):
        deidentify_file(src, tmp_path / "out", inside, KEY)


def test_pixel_cleaning_blanks_the_regions_and_only_then_says_no(tmp_path: Path) -> None:
    src = testdata(US_RGB_J2K)  # ultrasound, RGB, JPEG 2000
    original = pydicom.dcmread(src)
    before = original.pixel_array.copy()
    region = PixelRegion(
        manufacturer=str(original.Manufacturer).upper(),
        model=None,
        rows=original.Rows,
        columns=original.Columns,
        rectangles=[(0, 0, 19, original.Columns - 1), (100, 200, 120, 260)],
    )
    config = DeidConfig(pixel_cleaning=[region], pixel_ocr="off")
    result = deidentify_file(src, tmp_path, config, KEY)
    assert result.record.status == "written" and result.record.pixels_cleaned
    assert "113101" in result.record.methods
    new = pydicom.dcmread(result.path)
    assert new.BurnedInAnnotation == "NO"
    assert new.file_meta.TransferSyntaxUID == JPEG2000Lossless  # lossless stays lossless
    after = new.pixel_array
    assert not after[:20].any() and not after[100:121, 200:261].any()
    mask = np.ones(after.shape[:2], bool)
    mask[:20] = False
    mask[100:121, 200:261] = False
    assert np.array_equal(after[mask], before[mask])
    # A region for another size does not apply: the image stays quarantined.
    other = region.model_copy(update={"rows": original.Rows + 1, "rectangles": ((0, 0, 1, 1),)})
    result = deidentify_file(
        src, tmp_path / "b", DeidConfig(pixel_cleaning=[other], pixel_ocr="off"), KEY
    )
    assert result.record.status == "quarantined"


# Keys and batches ------------------------------------------------------------------------------


def _batch(src: Path, out: Path, key: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(deidentify_file(src, out, DeidConfig(), key).path)


def test_two_batches_of_one_patient_agree_and_another_key_does_not(tmp_path: Path) -> None:
    # One patient, two studies 74 days apart, de-identified in separate batches.
    ct = _copy_as(
        testdata(CT_SMALL), tmp_path / "in" / "a.dcm", PatientID="PAT-0042", StudyDate="20200101"
    )
    mr = _copy_as(
        testdata(MR_SMALL), tmp_path / "in" / "b.dcm", PatientID="PAT-0042", StudyDate="20200315"
    )
    a1 = _batch(ct, tmp_path / "batch1", KEY)
    b2 = _batch(mr, tmp_path / "batch2", KEY)
    a3 = _batch(ct, tmp_path / "batch3", KEY)
    assert a1.PatientID == b2.PatientID == pseudonymize_id("PAT-0042", KEY)
    assert a1.PatientName == a1.PatientID
    assert (a1.StudyInstanceUID, a1.SOPInstanceUID) == (a3.StudyInstanceUID, a3.SOPInstanceUID)

    def day(v: str) -> dt.date:
        return dt.datetime.strptime(v, "%Y%m%d").date()

    shift = date_shift_days("PAT-0042", KEY)
    assert (day(a1.StudyDate) - dt.date(2020, 1, 1)).days == shift
    assert (day(b2.StudyDate) - dt.date(2020, 3, 15)).days == shift
    assert (day(b2.StudyDate) - day(a1.StudyDate)).days == 74  # the interval survives
    c = _batch(ct, tmp_path / "other", OTHER)
    assert c.PatientID != a1.PatientID
    assert c.StudyInstanceUID != a1.StudyInstanceUID and c.SOPInstanceUID != a1.SOPInstanceUID
    assert c.StudyDate != a1.StudyDate


def test_retain_uids_and_full_dates_keep_them(tmp_path: Path) -> None:
    ds = pydicom.dcmread(testdata(CT_SMALL))
    config = DeidConfig(
        retain_uids=True,
        retain_longitudinal_modified_dates=False,
        retain_longitudinal_full_dates=True,
    )
    new, record = deidentify_dataset(ds, config, KEY)
    assert new.SOPInstanceUID == ds.SOPInstanceUID and new.StudyDate == ds.StudyDate
    assert new.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert new.LongitudinalTemporalInformationModified == "UNMODIFIED"
    assert {"113106", "113110"} <= set(record.methods)
