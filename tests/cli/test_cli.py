"""The command line on real files: output, files written, exit codes, one-line errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from radprep import __version__
from radprep.cli.app import app
from realfiles import testdata


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """A folder as exports come: good images in subfolders, a truncated file, a text file, a report."""
    root = tmp_path / "export"
    (root / "ct").mkdir(parents=True)
    (root / "cr").mkdir()
    shutil.copy(testdata("CT_small.dcm"), root / "ct" / "slice1.dcm")
    shutil.copy(testdata("RG3_UNCR.dcm"), root / "cr" / "chest.dcm")
    shutil.copy(testdata("emri_small.dcm"), root / "mr.dcm")
    data = testdata("MR_small.dcm").read_bytes()
    (root / "cut.dcm").write_bytes(data[: len(data) // 2])
    (root / "README.txt").write_text("exported by the PACS\n")
    shutil.copy(testdata("rtplan.dcm"), root / "plan.dcm")
    return root


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0 and out.strip() == f"radprep {__version__}"


def test_info_on_real_files() -> None:
    code, out, _ = run("info", str(testdata("693_UNCR.dcm")), str(testdata("RG1_J2KR.dcm")))
    assert code == 0
    assert "CT" in out and "512 x 512, 1 frame(s)" in out and "40/100" in out
    assert (
        "1 x + -1024" in out
        and "MONOCHROME1" in out
        and "JPEG 2000 Image Compression (Lossless Only)" in out
    )


def test_info_json() -> None:
    code, out, _ = run("info", "--json", str(testdata("693_UNCR.dcm")))
    assert code == 0
    (row,) = json.loads(out)
    assert row["modality"] == "CT"
    assert (row["rows"], row["columns"], row["frames"]) == (512, 512, 1)
    assert row["windows"] == [{"center": 40.0, "width": 100.0, "explanation": ""}]
    assert row["stored_min"] == -2000 and row["modality_min"] == -3024


def test_info_bad_file_is_one_line_and_exit_1(mixed_folder: Path) -> None:
    code, out, err = run("info", str(mixed_folder / "cut.dcm"))
    assert code == 1
    assert "Traceback" not in out + err
    lines = [ln for ln in err.splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("radprep: error: ") and "cut.dcm" in lines[0]


def test_convert_folder_goes_on_past_bad_files(mixed_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "png"
    before = {p: p.read_bytes() for p in mixed_folder.rglob("*") if p.is_file()}
    code, stdout, err = run("convert", str(mixed_folder), "--out", str(out))
    assert code == 1
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["cr/chest.png", "ct/slice1.png"] + [f"mr_f{i:04d}.png" for i in range(10)]
    assert (
        "6 file(s) found: 3 done, 1 failed, 2 skipped (no pixels 1, not DICOM 1); "
        "3 + 1 + 2 = 6; 12 output file(s) written" in stdout
    )
    records = {
        Path(r["path"]).name: r
        for r in map(json.loads, (out / "inputs.jsonl").read_text().splitlines())
    }
    assert {k: r["status"] for k, r in records.items()} == {
        "chest.dcm": "done",
        "slice1.dcm": "done",
        "mr.dcm": "done",
        "cut.dcm": "failed",
        "plan.dcm": "skipped",
        "README.txt": "skipped",
    }
    assert records["plan.dcm"]["reason"] == "no pixels"
    assert records["README.txt"]["reason"] == "not DICOM"
    assert "cut.dcm: the pixel data is shorter" in records["cut.dcm"]["reason"]
    assert "radprep: error: " in err and "cut.dcm: the pixel data is shorter than" in err
    assert "Traceback" not in stdout + err
    # The inputs are untouched and no temporary file is left behind.
    assert before == {p: p.read_bytes() for p in mixed_folder.rglob("*") if p.is_file()}
    assert not [p for p in out.rglob("*") if p.name.startswith(".") and ".radprep" not in p.parts]
    chest = cv2.imread(str(out / "cr" / "chest.png"), cv2.IMREAD_UNCHANGED)
    assert chest.shape == (1760, 1760) and chest.dtype == np.uint8


def test_convert_png16_npy_and_frames(tmp_path: Path) -> None:
    code, _, _ = run(
        "convert",
        str(testdata("693_UNCR.dcm")),
        "-o",
        str(tmp_path / "a"),
        "--to",
        "png16",
        "-w",
        "brain",
    )
    assert code == 0
    img = cv2.imread(str(tmp_path / "a" / "693_UNCR.png"), cv2.IMREAD_UNCHANGED)
    assert img.dtype == np.uint16 and img.max() == 65535
    code, _, _ = run(
        "convert", str(testdata("693_UNCR.dcm")), "-o", str(tmp_path / "b"), "--to", "npy"
    )
    hu = np.load(tmp_path / "b" / "693_UNCR.npy")
    assert code == 0 and hu.dtype == np.float32 and hu.min() == -3024.0
    code, _, _ = run(
        "convert", str(testdata("emri_small.dcm")), "-o", str(tmp_path / "c"), "--frame", "3"
    )
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        ".radprep",  # the resume ledger
        "emri_small.png",
        "failures.jsonl",
        "inputs.jsonl",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "jpg"], r"--to 'jpg' is not a format; choose one of png8, png16, npy"),
        (["--window", "loud"], r"window 'loud' is not understood"),
        (["--frame", "first"], r"--frame must be 'all' or a frame number from 0, got 'first'"),
        (["--frame", "99"], r"frame 99 does not exist"),
    ],
)
def test_convert_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    code, out, err = run("convert", str(testdata("emri_small.dcm")), "-o", str(tmp_path), *args)
    assert code == (1 if "99" in args else 2)
    assert "Traceback" not in out + err
    assert re.search(message, err)


def test_convert_missing_input(tmp_path: Path) -> None:
    code, _, err = run("convert", str(tmp_path / "nope"), "-o", str(tmp_path / "o"))
    assert code == 2 and "no such file or folder" in err


def test_index_folder(mixed_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "index.parquet"
    code, stdout, _ = run("index", str(mixed_folder), "--out", str(out))
    assert code == 0
    assert "indexed 5 DICOM instance(s)" in stdout
    assert "6 file(s) found: 5 done, 0 failed, 1 skipped (not DICOM 1); 5 + 0 + 1 = 6" in stdout
    lines = (tmp_path / "index.inputs.jsonl").read_text().splitlines()
    assert sorted(json.loads(x)["status"] for x in lines) == ["done"] * 5 + ["skipped"]
    table = pq.read_table(out)
    rows = {r["path"]: r for r in table.to_pylist()}
    assert set(rows) == {"ct/slice1.dcm", "cr/chest.dcm", "mr.dcm", "cut.dcm", "plan.dcm"}
    assert rows["ct/slice1.dcm"]["modality"] == "CT" and rows["ct/slice1.dcm"]["rows"] == 128
    assert rows["mr.dcm"]["frames"] == 10
    assert rows["plan.dcm"]["has_pixels"] is False and rows["cr/chest.dcm"]["has_pixels"] is True
    assert rows["cr/chest.dcm"]["sop_instance_uid"].startswith("1.")
    assert rows["cr/chest.dcm"]["file_size"] == (mixed_folder / "cr" / "chest.dcm").stat().st_size


def test_index_refuses_a_file(tmp_path: Path) -> None:
    code, _, err = run("index", str(testdata("CT_small.dcm")), "--out", str(tmp_path / "i.parquet"))
    assert code == 2 and "is not a folder" in err


@pytest.mark.parametrize(
    "command",
    [
        ["demo", "--out", "{out}"],
        ["run", "cbis-ddsm-299", "--out", "{out}"],
        ["deid", "{src}", "{out}", "--ephemeral-key"],
        ["occlusion", "{src}", "--model", "{src}", "--out", "{out}"],
    ],
    ids=lambda c: c[0],
)
@pytest.mark.parametrize("workers", ["0", "-3"])
def test_workers_below_one_are_refused_alike(
    tmp_path: Path, command: list[str], workers: str
) -> None:
    """`--workers` must be at least 1 in every command that has it: exit 2, one line, no work."""
    out = tmp_path / "out"
    args = [
        a.replace("{out}", str(out)).replace("{src}", str(testdata("CT_small.dcm")))
        for a in command
    ]
    code, stdout, err = run(*args, "--workers", workers)
    assert code == 2, (stdout, err)
    assert err.strip() == f"radprep: error: --workers must be >= 1, got {workers}"
    assert not out.exists()


def test_demo_writes_what_it_prints(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    code, stdout, _ = run("demo", "--out", str(out), "--workers", "2")
    assert code == 0, stdout
    assert "radprep demo: 8 real mammograms" in stdout and "8 done, 0 failed, 24 images" in stdout
    assert "CBIS-DDSM (Lee, Gimenez, Hoogi, Rubin 2016" in stdout and "CC BY 3.0" in stdout
    assert "made by the demo inside the breast, one per CSV abnormality" in stdout
    printed = [
        Path(m.group(1)) for line in stdout.splitlines() if (m := re.search(r":\s+(/\S+)$", line))
    ]
    assert len(printed) >= 6
    assert all(p.exists() for p in printed)
    assert len(list((out / "cbis-ddsm-299" / "full").glob("*.png"))) == 8
    # A second run resumes: nothing to redo, nothing rebuilt.
    code, stdout, _ = run("demo", "--out", str(out))
    assert code == 0 and "8 done" in stdout


def test_convert_series_accounts_for_every_file(tmp_path: Path, monkeypatch) -> None:
    """`convert --to nifti` lists each file like the 2D path: the series' slices done, the
    rest skipped or failed with a reason; and a volume past the size limit is refused before
    it is read, failing each of its files."""
    from series_data import split_emri

    root = tmp_path / "export"
    frames, slices = split_emri(root / "mr")
    (root / "notes.txt").write_text("not DICOM\n")
    shutil.copy(testdata("rtplan.dcm"), root / "plan.dcm")
    shutil.copy(testdata("liver.dcm"), root / "seg.dcm")  # a DICOM SEG
    data = testdata("CT_small.dcm").read_bytes()
    (root / "cut.dcm").write_bytes(data[:300])  # cut inside its header
    out = tmp_path / "nii"
    # The first slice named again: met twice, listed twice, converted once.
    code, stdout, err = run(
        "convert", str(root), str(slices[0]), "--to", "nifti", "--out", str(out)
    )
    assert code == 1, stdout + err  # the cut file failed
    n = len(slices) + 5
    assert (
        f"{n} file(s) found: {len(slices)} done, 1 failed, 4 skipped (duplicate 1, no pixels 1, not DICOM 1, not a volume 1); {len(slices)} + 1 + 4 = {n}"
        in stdout
    )
    assert "1 series converted, 1 file(s) written" in stdout
    records = [json.loads(x) for x in (out / "inputs.jsonl").read_text().splitlines()]
    assert len(records) == n
    status = {Path(r["path"]).name: (r["status"], r.get("reason", "")) for r in records[:-1]}
    assert {status[p.name] for p in slices} == {("done", "")}
    assert status["notes.txt"] == ("skipped", "not DICOM")
    assert status["plan.dcm"] == ("skipped", "no pixels")
    assert status["seg.dcm"] == ("skipped", "not a volume")
    assert status["cut.dcm"][0] == "failed" and status["cut.dcm"][1].startswith(
        str(root / "cut.dcm")
    )
    assert records[-1] == {"path": str(slices[0]), "status": "skipped", "reason": "duplicate"}
    (volume,) = out.glob("*.nii.gz")
    import SimpleITK as sitk

    written = sitk.GetArrayFromImage(sitk.ReadImage(str(volume)))
    assert written.shape == frames.shape == (10, 64, 64)  # every slice, once
    np.testing.assert_array_equal(np.sort(written, axis=None), np.sort(frames, axis=None))

    # 10 slices of 64 x 64 are 160 KiB as float32: a 100 kB limit refuses the series (each
    # slice alone, 8 KiB, is under it) with one line naming the sizes, and fails every slice.
    monkeypatch.setenv("RADPREP_MAX_DECODED_BYTES", "100000")
    code, stdout, err = run(
        "convert", str(root / "mr"), "--to", "nifti", "--out", str(tmp_path / "small")
    )
    assert code == 1
    assert "10 file(s) found: 0 done, 10 failed, 0 skipped" in stdout
    assert "0 series converted, 0 file(s) written" in stdout
    (line,) = err.strip().splitlines()
    assert line.startswith("radprep: error: MR_") and line.endswith(
        "10 frame(s) of Rows (0028,0010) 64 x Columns (0028,0011) 64 x 1 sample(s) need "
        "160.0 KiB as a float32 volume, past the decoded-size limit of 97.7 KiB; raise "
        "RADPREP_MAX_DECODED_BYTES if the series is genuine"
    )
    records = [
        json.loads(x) for x in (tmp_path / "small" / "inputs.jsonl").read_text().splitlines()
    ]
    assert all(r["status"] == "failed" and r["error"] == "SizeLimitError" for r in records)
    assert all(r["reason"].startswith(r["path"] + ": in series MR_") for r in records)
    assert not list((tmp_path / "small").glob("*.nii.gz"))


@pytest.mark.parametrize("to", ["png8", "nifti"])
def test_convert_without_any_image_says_where_it_looked(tmp_path: Path, to: str) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("x")
    shutil.copy(testdata("rtplan.dcm"), docs / "plan.dcm")
    code, _, err = run("convert", str(docs), "--to", to, "--out", str(tmp_path / "o"))
    assert (code, err.strip()) == (
        2,
        f"radprep: error: no DICOM image in {docs} (2 file(s) looked at, recursively; hidden "
        "files and folders left out)",
    )
