"""dicom3tools' dciodvfy finds no IOD error in a de-identified file that it did not find in the input.

dciodvfy checks a file against its IOD (Type 1 and 2 presence, conditions, enumerated values).
De-identification must not make a valid file invalid: every combined action keeps the presence
an IOD needs. The error lines of input and output are compared as sets, with values and UIDs
normalised away (they change by design). Inputs are valid real files of many IODs; files that
are broken on purpose (truncated, no meta, bad VRs) and deflated files (dciodvfy cannot read
deflate) are not used.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from radprep.deid import DeidConfig, deidentify_file
from realfiles import deid_data_files, testdata

KEY = b"dciodvfy-test-key-0123456789abcd"

if shutil.which("dciodvfy") is None:  # make test installs it; its absence must not pass quietly
    pytest.fail(
        "dicom3tools' dciodvfy is not installed (make test installs it: apt-get install dicom3tools)",
        pytrace=False,
    )

FILES = [
    "CT_small.dcm",  # CT
    "MR_small.dcm",  # MR
    "emri_small.dcm",  # Enhanced MR, functional groups
    "eCT_Supplemental.dcm",  # Enhanced CT
    "liver.dcm",  # Segmentation (SEG)
    "rtstruct.dcm",  # RT Structure Set
    "rtplan.dcm",  # RT Plan
    "rtdose.dcm",  # RT Dose
    "RG1_UNCR.dcm",  # CR
    "JPEG2000.dcm",  # NM, private groups
    "SC_rgb.dcm",  # Secondary Capture (held for pixel review)
    "US1_UNCR.dcm",  # Ultrasound (held)
    "reportsi.dcm",  # Basic Text SR
    "test-SR.dcm",  # Comprehensive SR
    "waveform_ecg.dcm",  # 12-lead ECG
    "mlut_18.dcm",  # Modality LUT
]


def _inputs() -> list[Path]:
    extra = [p for p in deid_data_files() if p.parent.name in ("humans", "animals", "ultrasounds")]
    return [testdata(n) for n in FILES] + extra


def _errors(path: Path) -> set[str]:
    proc = subprocess.run(["dciodvfy", "-new", str(path)], capture_output=True)
    lines = (proc.stdout + proc.stderr).decode("latin-1").splitlines()
    return {_normalise(line) for line in lines if line.startswith("Error")}


def _normalise(line: str) -> str:
    line = re.sub(r" = *<[^>]*>", " = <value>", line)  # values and UIDs change by design
    line = re.sub(r"\[\d+\]", "[n]", line)  # item numbers
    return " ".join(line.split())


@pytest.mark.parametrize("src", _inputs(), ids=lambda p: p.name)
def test_no_new_iod_errors(src: Path, tmp_path: Path) -> None:
    config = DeidConfig(quarantine="hold", quarantine_dir=tmp_path / "held")
    result = deidentify_file(src, tmp_path / "out", config, KEY)
    assert result.path is not None
    new_errors = _errors(result.path) - _errors(src)
    assert not new_errors, "\n".join(sorted(new_errors))


def test_basic_profile_alone_adds_no_iod_errors(tmp_path: Path) -> None:
    basic = DeidConfig(
        retain_longitudinal_modified_dates=False, retain_patient_characteristics=False
    )
    for name in ("CT_small.dcm", "emri_small.dcm", "liver.dcm", "rtstruct.dcm"):
        src = testdata(name)
        result = deidentify_file(src, tmp_path / name, basic, KEY)
        new_errors = _errors(result.path) - _errors(src)
        assert not new_errors, (name, sorted(new_errors))
