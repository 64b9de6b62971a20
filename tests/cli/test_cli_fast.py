"""`radprep info` without the command-line framework gives what the typer command gives."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from radprep.cli.app import app, main
from realfiles import CT_SMALL, testdata


def _main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> tuple:
    monkeypatch.setattr(sys, "argv", ["radprep", *args])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = int(e.code or 0)
    done = capsys.readouterr()
    return code, done.out, done.err


def _typer(*args: str) -> tuple:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        [str(testdata(CT_SMALL))],
        ["--json", str(testdata(CT_SMALL)), str(testdata("RG1_J2KR.dcm"))],
        ["--no-pixels", str(testdata("emri_small.dcm"))],
    ],
)
def test_fast_info_equals_the_typer_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, args: list[str]
) -> None:
    fast = _main(monkeypatch, capsys, "info", *args)
    assert fast[0] == 0 and fast[1]
    assert fast == _typer("info", *args)


def test_fast_info_bad_file_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    bad = tmp_path / "notes.dcm"
    bad.write_text("not DICOM\n")
    code, out, err = _main(monkeypatch, capsys, "info", "--json", str(bad), str(testdata(CT_SMALL)))
    assert code == 1
    rows = json.loads(out)
    assert rows[0]["error"] == "NotDicomError" and rows[1]["modality"] == "CT"
    code, out, err = _main(monkeypatch, capsys, "info", str(bad))
    assert code == 1 and err.strip().startswith("radprep: error: ") and "notes.dcm" in err


def test_what_the_fast_path_does_not_answer_goes_to_typer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    code, _, err = _main(monkeypatch, capsys, "info", str(tmp_path / "missing.dcm"))
    assert code == 2 and "no such file or folder" in err
    code, out, _ = _main(monkeypatch, capsys, "info", "--help")
    assert code == 0 and "--no-pixels" in out
