"""The one redactor (radprep.deid.redact) and its three users: the run's messages
(jobs/privacy.py), the report (report/stats.py) and DICOM descriptions (deid/actions.py).

Identifiers are real ones, read from pydicom's test files; the texts are built around them.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.pixels import pixel_array

from radprep.datasets.sources import Item
from radprep.deid.actions import identifying_values, scrub_text
from radprep.deid.ocr import display_frames
from radprep.deid.redact import (
    DICOM_TOKEN,
    PATH,
    REDACTED,
    Redactor,
    date_forms,
    name_forms,
    path_values,
)
from radprep.jobs.privacy import Privacy
from radprep.report.stats import load_run

KEY = b"a-test-key-of-32-bytes-0123456789"


def header(name: str) -> Dataset:
    return dcmread(get_testdata_file(name), stop_before_pixels=True, force=True)


def patient_id(name: str) -> str:
    return str(header(name).PatientID)


# Each (file, text where its PatientID stands alone, text where it is only part of other tokens)
ALONE_AND_INSIDE = [
    ("CT_small.dcm", "patient 1ct1 (1CT1) seen", "ref 1CT12, X1CT1 and 1CT1x"),
    (
        "examples_ybr_color.dcm",
        "id 204, done",
        "2048 x 2048 matrix, 1204 slices, 20.4 mm, 204.5 HU",
    ),
    ("eCT_Supplemental.dcm", "patient 0010.", "PatientName (0010,0010) missing; 00101 frames"),
    ("liver_expb_1frame.dcm", "ID=99000 seen", "values 990001 to 99000.5 and 1,99000"),
    ("waveform_ecg.dcm", "642341: no pixels", "leads 6423410 and 1642341"),
]


def privacy_scrub(pid: str) -> Callable[[str], str]:
    """The runner's scrubber of an item whose patient is `pid`."""
    privacy = Privacy(KEY, "S{hash:12}", "P{hash:10}", "test", {})
    item = privacy.item(
        Item(id="case-a", path="/in/case-a.dcm", fingerprint="x", source={"patient_id": pid})
    )
    return lambda text: privacy.scrub(text, item.id)


def report_redactor(tmp_path: Path, pid: str, source_path: str, root: str) -> Redactor:
    """The report's redactor of a de-identified run whose manifest holds `pid` and the path."""
    out = tmp_path / "run"
    out.mkdir()
    recipe = {"deid": {"ephemeral_key": True}, "source": {"root": root}}
    (out / "run.json").write_text(json.dumps({"recipe": recipe}))
    table = pa.table(
        {
            "sample_id": ["S0001"],
            "patient_id": [pid],
            "source_path": [source_path],
        }
    )
    pq.write_table(table, out / "manifest.parquet")
    return load_run(out)[1]


@pytest.mark.parametrize(("name", "alone", "inside"), ALONE_AND_INSIDE)
def test_an_id_goes_where_it_stands_alone_and_nowhere_else(
    name: str, alone: str, inside: str, tmp_path: Path
) -> None:
    pid = patient_id(name)
    scrubbers: dict[str, Callable[[str], str]] = {
        "run": privacy_scrub(pid),
        "report": report_redactor(tmp_path, pid, get_testdata_file(name), "/nowhere"),
        "deid": lambda text: scrub_text(text, [pid]),
    }
    for where, scrub in scrubbers.items():
        out = scrub(alone)
        assert pid.lower() not in out.lower(), (where, out)
        token = DICOM_TOKEN if where == "deid" else REDACTED
        assert out == re.sub(re.escape(pid), token, alone, flags=re.IGNORECASE), where
        # The text around the value is left byte for byte (no number inside a number, no value
        # inside a word): the report and the run redact it the same way.
        kept = scrub(inside)
        if where != "deid":  # descriptions also lose ID-like numbers (5+ digits)
            assert kept == inside, (where, kept)
    assert scrubbers["run"](alone + "; " + inside) == scrubbers["report"](alone + "; " + inside)


def test_descriptions_keep_numbers_that_hold_a_short_id() -> None:
    pid = patient_id("examples_ybr_color.dcm")  # "204"
    text = "2048 x 2048 matrix, 1204 slices, 20.4 mm"
    assert scrub_text(text, identifying_values(header("examples_ybr_color.dcm"))) == text
    assert scrub_text(f"patient {pid}", [pid]) == "patient ***"


def test_the_report_does_not_redact_the_words_of_where_data_lives(tmp_path: Path) -> None:
    # pydicom keeps its test files under .../pydicom/data/test_files/: the old report redactor
    # searched every folder name of the manifest's paths, so "data" and "pydicom" went from
    # every message.
    path = get_testdata_file("CT_small.dcm")
    root = str(Path(path).parent)
    redact = report_redactor(tmp_path, patient_id("CT_small.dcm"), path, root)
    plain = "Pixel Data decoded by pydicom; metadata read; header window missing"
    assert redact(plain) == plain
    assert redact(f"{path}: cut off") == f"{REDACTED}: cut off"
    assert redact("CT_small.dcm: cut off") == f"{REDACTED}: cut off"
    assert redact("ct_small has no pixels") == f"{REDACTED} has no pixels"
    # Without the root every folder name counts (a value could be a patient's folder).
    assert "test_files" in path_values(path)
    assert path_values(path, below=root) == sorted(
        {path, "CT_small.dcm", "CT_small"}, key=len, reverse=True
    )


def test_names_in_their_written_forms() -> None:
    ds = header("rtplan.dcm")  # PatientName Last^First^mid^pre
    assert str(ds.PatientName) == "Last^First^mid^pre"
    idents = identifying_values(ds)
    text = "Seen by First mid Last; LAST, First called; first last; Last^First"
    out = scrub_text(text, idents)
    assert not re.search(r"first|last", out, re.IGNORECASE), out
    assert out.startswith("Seen by ***;")
    plain = "Lastly, the firstborn lasted"
    assert scrub_text(plain, idents) == plain
    forms = name_forms("Lestrade^G")  # SC_rgb_rle_32bit.dcm
    assert {"Lestrade^G", "G Lestrade", "Lestrade, G", "Lestrade"} <= set(forms)
    assert scrub_text("Dr G Lestrade", name_forms("Lestrade^G")) == "Dr ***"


def test_date_forms_match_the_calendar() -> None:
    ds = header("CT_small.dcm")
    da = str(ds.StudyDate)
    d = date(int(da[:4]), int(da[4:6]), int(da[6:]))
    written = [
        d.strftime(f)
        for f in ("%Y%m%d", "%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d.%m.%y")
    ]
    written += [d.strftime("%d %b %Y").upper(), d.strftime("%b %d, %Y").upper()]
    written += [f"{d.day}/{d.month}/{d.year}", f"{d.month}/{d.day}/{d.year}"]
    assert set(written) <= set(date_forms(da))
    assert date_forms("2004011") == [] and date_forms("not a date") == []
    idents = identifying_values(ds)
    for form in written:
        text = f"prior study of {form.title()}; a 2004 cohort with 119 slices"
        out = scrub_text(text, idents)
        assert out == "prior study of ***; a 2004 cohort with 119 slices", (form, out)


def test_non_identifying_text_is_left_byte_for_byte() -> None:
    # Every identifying value of twenty real headers, against the messages radprep writes.
    names = [
        "CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtstruct.dcm", "JPEG2000.dcm",
        "SC_rgb_rle_32bit.dcm", "examples_overlay.dcm", "examples_ybr_color.dcm",
        "examples_palette.dcm", "eCT_Supplemental.dcm", "waveform_ecg.dcm", "mlut_18.dcm",
        "vlut_04.dcm", "liver_expb_1frame.dcm", "MR2_UNCR.dcm", "RG3_UNCR.dcm",
        "explicit_VR-UN.dcm", "693_J2KI.dcm", "badVR.dcm", "gdcm-US-ALOKA-16_big.dcm",
    ]  # fmt: skip
    values: set[str] = set()
    for name in names:
        values.update(identifying_values(header(name)))
    assert len(values) > 100
    messages = [
        "mask 'mass' resized from (3000, 2000) to (299, 299)",
        "sample 'S3f9a0c1d2e4b': 12% of ROI 'mass' lies outside the detected breast",
        "WindowCenter (0028,1050) missing; window over the 0.1-99.9 percentiles",
        "PatientName (0010,0010) missing",
        "Pixel Data has 2 bytes of padding",
        "laterality flipped to match the left breast",
        "transfer syntax 1.2.840.10008.1.2.4.90 unsupported",
        "residue removed: 4.5% of the border",
        "image of 512 x 512 px, 16 bits stored, 2 frames",
    ]
    redact = Redactor(values)
    for text in messages:
        assert redact(text) == text
        assert redact.remove_values(text) == text


def test_token_and_length() -> None:
    r = Redactor(["Jsssss", "Sssssss"], patterns=(), token="#", max_len=8)
    assert r("jsssss SSSSSSS was here") == "# # was "
    assert Redactor(name_forms("Sssssss^Jsssss"), patterns=(), token="#")("Jsssss Sssssss") == "#"
    assert Redactor(["abc"], active=False)("abc") == "abc"
    assert len(scrub_text("x" * 100, [], 64)) == 64


# The palette of the display image (deid/ocr.py) is the reader's (io/dicom.py) ----------------


def _display(name: str) -> np.ndarray:
    ds = dcmread(get_testdata_file(name))
    return display_frames(ds, pixel_array(ds, raw=True))[0]


def test_a_big_endian_palette_shows_as_dcmtk_draws_it(tmp_path: Path) -> None:
    shown = _display("OBXXXX1A_expb.dcm")  # Explicit VR Big Endian, 16-bit LUT entries
    assert (shown == _display("OBXXXX1A.dcm")).all()  # its little-endian twin
    png = tmp_path / "ref.png"
    subprocess.run(
        ["dcmj2pnm", "--write-png", get_testdata_file("OBXXXX1A_expb.dcm"), str(png)],
        check=True,
        capture_output=True,
    )
    ref = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2GRAY)
    assert ref.shape == shown.shape
    assert np.abs(ref.astype(int) - shown).max() <= 1  # 16-bit entries rounded to 8 bits
    assert shown.std() > 10
    # A segmented palette (dcmtk draws none): the same as its little-endian twin, and the
    # expansion, called twice, does not swap the file's words back.
    ds = dcmread(get_testdata_file("gdcm-US-ALOKA-16_big.dcm"))
    stored = pixel_array(ds, raw=True)
    first, second = (display_frames(ds, stored)[0] for _ in range(2))
    assert (first == second).all() and (first == _display("gdcm-US-ALOKA-16.dcm")).all()


@pytest.mark.parametrize(
    "text",
    ["read at 1/8 scale", "3/4 of the breast kept", "window and/or level", "ratio 299/4084"],
)
def test_fractions_and_word_pairs_are_not_paths(text: str) -> None:
    assert PATH.sub("<path>", text) == text


@pytest.mark.parametrize(
    "text",
    [
        "/data/cbis/P_00173/1-1.dcm",
        "./in/P_00173/x",
        "Mass-Test_P_00173_LEFT_CC/1.3.6.1.4/000000",
        "P_00173/1-1.dcm",
        "C:\\data\\P_00173.dcm",
        "~/cbis/P_00173",
    ],
)
def test_paths_are_hidden_whole(text: str) -> None:
    assert PATH.sub("<path>", f"failed: {text} (truncated)") == "failed: <path> (truncated)"
