"""The DICOM index: every column against pydicom's own reading of real files, and an index of
some columns only (what the CBIS-DDSM source asks for) holding the same values."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

from radprep.datasets.scan import ALL_COLUMNS, scan_dicom
from realfiles import testdata

FILES = ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "emri_small.dcm", "rtplan.dcm"]
SOME = ("patient_id", "series_instance_uid", "rows", "columns")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scan")
    for name in FILES:
        shutil.copy(testdata(name), root / name)
    (root / "notes.txt").write_text("not DICOM\n")
    return root


def _text(ds: pydicom.Dataset, keyword: str) -> str | None:
    return str(ds.get(keyword) or "").strip() or None


def test_the_index_holds_what_pydicom_reads(folder: Path) -> None:
    full = scan_dicom(folder)
    rows = {r["path"]: r for r in full.table.to_pylist()}
    assert sorted(rows) == sorted(FILES) and full.skipped == [("notes.txt", "not DICOM")]
    for name in FILES:
        ds = pydicom.dcmread(folder / name)
        r = rows[name]
        assert r["patient_id"] == _text(ds, "PatientID")  # an empty value is no value
        assert r["series_instance_uid"] == _text(ds, "SeriesInstanceUID")
        assert r["sop_instance_uid"] == _text(ds, "SOPInstanceUID")
        assert r["has_pixels"] == ("PixelData" in ds)
        assert r["rows"] == (int(ds.Rows) if "Rows" in ds else None)
        assert r["columns"] == (int(ds.Columns) if "Columns" in ds else None)
        frames = int(ds.get("NumberOfFrames") or 1) if "Rows" in ds else None
        assert r["frames"] == frames
        assert r["transfer_syntax_uid"] == ds.file_meta.TransferSyntaxUID
        assert r["file_size"] == (folder / name).stat().st_size


def test_an_index_of_some_columns_holds_the_same_values(folder: Path) -> None:
    full = {r["path"]: r for r in scan_dicom(folder).table.to_pylist()}
    some = scan_dicom(folder, columns=SOME)
    assert some.table.column_names == scan_dicom(folder).table.column_names  # one schema
    for r in some.table.to_pylist():
        for column in ALL_COLUMNS:
            if column in {*SOME, "path", "has_pixels"}:
                assert r[column] == full[r["path"]][column], (r["path"], column)
            else:
                assert r[column] is None, (r["path"], column)
    assert some.skipped == [("notes.txt", "not DICOM")]
