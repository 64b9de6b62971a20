"""`radprep deid IN OUT` on real files: keys, exit codes, audit, crosswalk, quarantine."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from radprep.cli.app import app
from radprep.deid import pseudonymize_id
from realfiles import CT_SMALL, MR_SMALL, US_PALETTE, deid_data_files, testdata

KEY_TEXT = "cli-test-key-0123456789abcdef0123456789"


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env or {"RADPREP_DEID_KEY": ""})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A PACS export: patient names in folder and file names, an ultrasound, a text file."""
    root = tmp_path / "Doe_John_12345"
    (root / "CT").mkdir(parents=True)
    shutil.copy(testdata(CT_SMALL), root / "CT" / "John Doe CT.dcm")
    shutil.copy(testdata(MR_SMALL), root / "Doe MR 2004-08-26")
    shutil.copy(testdata(US_PALETTE), root / "us.dcm")
    (root / "notes.txt").write_text("exported for John Doe\n")
    data = testdata(MR_SMALL).read_bytes()
    (root / "cut.dcm").write_bytes(data[: len(data) // 2])
    return root


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets" / "deid.key"
    path.parent.mkdir()
    path.write_text(KEY_TEXT + "\n")
    path.chmod(0o600)
    return path


def test_refuses_without_a_key(export: Path, tmp_path: Path) -> None:
    code, _out, err = run("deid", str(export), str(tmp_path / "out"))
    assert code == 2
    assert err.strip().splitlines() == [
        "radprep: error: no de-identification key: give --key-file FILE or set RADPREP_DEID_KEY "
        "(make one with `python -c 'import secrets; print(secrets.token_hex(32))' > deid.key`), "
        "or pass --ephemeral-key for a one-off run"
    ]
    assert not (tmp_path / "out").exists()


def test_deid_a_folder_with_key_file_audit_and_crosswalk(
    export: Path, key_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    cw = tmp_path / "secrets" / "crosswalk.csv"
    code, stdout, err = run(
        "deid",
        str(export),
        str(out),
        "--key-file",
        str(key_file),
        "--workers",
        "1",
        "--crosswalk",
        str(cw),
    )
    assert code == 1  # the truncated file failed; everything else was done
    summary = stdout.strip().splitlines()[-1]
    assert summary.startswith(
        f"3 file(s) de-identified into {out} (0 already there); "
        "0 duplicate(s) of another input skipped; 0 quarantined for pixel review; 1 skipped (not DICOM, or a "
        "DICOMDIR); 1 failed; audit: "
    )
    assert "cut.dcm: PixelData (7FE0,0010) holds" in err and "the file ends before them" in err
    written = sorted(p for p in out.rglob("*.dcm"))
    assert len(written) == 3
    for p in written:
        assert p.name.startswith("2.25.") and "Doe" not in str(p.relative_to(out))
    audit = next((out / "deid-audit").glob("*.jsonl"))
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert sorted(r["status"] for r in lines) == [
        "failed",
        "skipped",
        "written",
        "written",
        "written",
    ]
    # The ultrasound was read: its overlay text was cleaned, not held for review.
    assert sorted(r.get("pixel_action", "") for r in lines) == [
        "",
        "",
        "cleaned",
        "unchanged",
        "unchanged",
    ]
    assert "Doe" not in audit.read_text() and "12345" not in audit.read_text()
    assert stat.S_IMODE(cw.stat().st_mode) == 0o600
    pid = pydicom.dcmread(testdata(CT_SMALL)).PatientID
    assert f"PatientID,{pid},{pseudonymize_id(pid, KEY_TEXT.encode())}" in cw.read_text()


def test_same_key_file_same_pseudonyms_across_runs(key_file: Path, tmp_path: Path) -> None:
    src = testdata(CT_SMALL)
    for name in ("a", "b"):
        code, _, _ = run(
            "deid", str(src), str(tmp_path / name), "--key-file", str(key_file), "-j", "1", "-q"
        )
        assert code == 0
    a, b = (next((tmp_path / n).rglob("*.dcm")) for n in ("a", "b"))
    assert a.relative_to(tmp_path / "a") == b.relative_to(tmp_path / "b")
    assert pydicom.dcmread(a).PatientID == pydicom.dcmread(b).PatientID
    # The environment variable is the same key.
    code, _, _ = run(
        "deid", str(src), str(tmp_path / "c"), "-j", "1", "-q", env={"RADPREP_DEID_KEY": KEY_TEXT}
    )
    assert code == 0
    assert next((tmp_path / "c").rglob("*.dcm")).relative_to(tmp_path / "c") == a.relative_to(
        tmp_path / "a"
    )


def test_ephemeral_key_warns(tmp_path: Path) -> None:
    code, stdout, err = run(
        "deid", str(testdata(CT_SMALL)), str(tmp_path / "out"), "--ephemeral-key", "-j", "1"
    )
    assert code == 0
    assert (
        "radprep: warning: --ephemeral-key: a random key for this run only; its pseudonyms, "
        "UIDs and date shifts will not match those of any other batch" in err
    )
    assert "1 file(s) de-identified" in stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--retain", "everything"],
            "--retain 'everything' is not an option; choose from longitudinal-modified-dates, longitudinal-full-dates, patient-characteristics, device-identity, institution-identity, uids, safe-private",
        ),
        (
            ["--crosswalk", "{out}/cw.csv"],
            "--crosswalk {out}/cw.csv is inside the output folder {out}, which is what gets shared; put it somewhere else",
        ),
        (
            ["--ephemeral-key", "--key-file", "k"],
            "--ephemeral-key and --key-file exclude each other; give one",
        ),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, extra: list[str], message: str) -> None:
    out = tmp_path / "out"
    args = [a.replace("{out}", str(out)) for a in extra]
    code, _, err = run(
        "deid", str(testdata(CT_SMALL)), str(out), *args, env={"RADPREP_DEID_KEY": KEY_TEXT}
    )
    assert code == 2
    assert err.strip() == "radprep: error: " + message.replace("{out}", str(out))


def test_retain_options_reach_the_output(key_file: Path, tmp_path: Path) -> None:
    src = testdata(CT_SMALL)
    code, _, _ = run(
        "deid",
        str(src),
        str(tmp_path / "out"),
        "--key-file",
        str(key_file),
        "--retain",
        "uids,device-identity",
        "--clean-descriptors",
        "-j",
        "1",
    )
    assert code == 0
    new = pydicom.dcmread(next((tmp_path / "out").rglob("*.dcm")))
    codes = {i.CodeValue for i in new.DeidentificationMethodCodeSequence}
    assert codes == {"113100", "113105", "113107", "113108", "113109", "113110"}
    assert new.SOPInstanceUID == pydicom.dcmread(src).SOPInstanceUID


def _audit(out: Path) -> list[dict]:
    audit = next((out / "deid-audit").glob("*.jsonl"))
    return [json.loads(line) for line in audit.read_text().splitlines()]


def test_pixel_ocr_and_pixel_text_flags_on_a_real_ultrasound(
    key_file: Path, tmp_path: Path
) -> None:
    """deid-data's RGB ultrasound (name, ID, dates and machine text burned in, no
    BurnedInAnnotation): cleaned by default, PHI text only with --pixel-text phi, held back
    unread with --pixel-ocr off."""
    src = next(p for p in deid_data_files() if p.as_posix().endswith("ultrasounds/RGB_IMAGE.dcm"))
    original = pydicom.dcmread(src).pixel_array
    ran: dict[str, tuple[dict, np.ndarray | None]] = {}
    for name, flags in {
        "default": [],
        "phi": ["--pixel-text", "phi"],
        "all": ["--pixel-text", "all", "--pixel-ocr", "suspect"],
    }.items():
        out = tmp_path / name
        code, stdout, _ = run("deid", str(src), str(out), "--key-file", str(key_file), *flags)
        assert code == 0, stdout
        (record,) = _audit(out)
        (written,) = out.rglob("*.dcm")
        ran[name] = (record, pydicom.dcmread(written).pixel_array)
    default, phi, everything = (ran[n][0] for n in ("default", "phi", "all"))
    for record in (default, phi, everything):
        assert record["status"] == "written" and record["pixel_action"] == "cleaned"
        assert record["ocr"] is True and "PatientName" in record["phi_in_pixels"]
    # An ultrasound is an overlay modality: by default all its text goes, as with `all`; with
    # `phi` only the boxes of identifying text are filled, and fewer pixels change.
    assert default["text_boxes"] == everything["text_boxes"] > phi["text_boxes"] > 0
    changed = {n: int(np.any(px != original, axis=-1).sum()) for n, (_, px) in ran.items()}
    assert changed["default"] == changed["all"] > changed["phi"] > 0, changed

    held = tmp_path / "held"
    code, stdout, err = run(
        "deid",
        str(src),
        str(tmp_path / "off"),
        "--key-file",
        str(key_file),
        "--pixel-ocr",
        "off",
        "--quarantine-dir",
        str(held),
    )
    assert code == 0
    (record,) = _audit(tmp_path / "off")
    assert record["status"] == "quarantined" and record["pixel_action"] == "held"
    assert not record.get("ocr") and record["reason"] == (
        "Modality (0008,0060) US without BurnedInAnnotation (0028,0301) NO"
    )
    assert not list((tmp_path / "off").rglob("*.dcm"))
    (copy,) = held.rglob("*.dcm")  # the held copy keeps its pixels for a person to review
    assert np.array_equal(pydicom.dcmread(copy).pixel_array, original)
    assert "needs pixel review" in err


def test_pixel_ocr_suspect_leaves_a_ct_unread(key_file: Path, tmp_path: Path) -> None:
    """A CT is not an overlay modality and its header suggests no text: read by default (and
    found clean), not read at all with --pixel-ocr suspect; written unchanged either way."""
    src = testdata(CT_SMALL)
    for flags, ocr, action in (([], True, "unchanged"), (["--pixel-ocr", "suspect"], False, "")):
        out = tmp_path / ("suspect" if flags else "default")
        code, _, _ = run("deid", str(src), str(out), "--key-file", str(key_file), *flags)
        assert code == 0
        (record,) = _audit(out)
        assert (record.get("ocr", False), record.get("pixel_action", "")) == (ocr, action)
        (written,) = out.rglob("*.dcm")
        assert np.array_equal(
            pydicom.dcmread(written).pixel_array, pydicom.dcmread(src).pixel_array
        )


@pytest.mark.parametrize(
    ("flag", "value", "choices"),
    [
        ("--pixel-ocr", "some", "'all', 'suspect', 'off'"),
        ("--pixel-text", "none", "'overlay_modalities', 'all', 'phi'"),
    ],
)
def test_pixel_flags_refuse_unknown_values(
    tmp_path: Path, flag: str, value: str, choices: str
) -> None:
    out = tmp_path / "out"
    code, _, err = run(
        "deid", str(testdata(CT_SMALL)), str(out), flag, value, env={"RADPREP_DEID_KEY": KEY_TEXT}
    )
    assert code == 2 and not out.exists()
    assert err.strip() == f"radprep: error: {flag}={value!r} is not valid; choose one of {choices}"
