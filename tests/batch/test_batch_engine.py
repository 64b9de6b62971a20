"""The one batch engine behind `convert` (2D and --to nifti), `index` and `deid`: a batch
killed with SIGKILL and run again gives the bytes of an uninterrupted batch and redoes nothing
it had finished; `-j 2` gives the bytes of `-j 1`; every input is counted once."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from radprep.cli.app import app
from realfiles import testdata
from series_data import ct_series

RADPREP = [sys.executable, "-m", "radprep.cli.app"]
SUMMARY = re.compile(r"(\d+) file\(s\) found: (\d+) done, (\d+) failed, (\d+) skipped")


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def tree(out: Path) -> dict[str, str]:
    """sha256 of every output file (the ledger, and the records that name this folder, left
    out)."""
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file() and ".radprep" not in p.parts and p.suffix != ".jsonl"
    }


def stamps(out: Path) -> dict[str, tuple[int, int]]:
    """Inode and modification time of every output: an atomic rewrite changes both."""
    return {
        p.relative_to(out).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in out.rglob("*")
        if p.is_file() and ".radprep" not in p.parts and p.suffix != ".jsonl"
    }


def finished_ids(ledger: Path) -> list[str]:
    with sqlite3.connect(ledger, timeout=5) as db:
        return [r[0] for r in db.execute("SELECT item_id FROM items WHERE ok = 1")]


def finish_times(ledger: Path) -> dict[str, float]:
    """When each unit was recorded: a unit done again is recorded again, later."""
    with sqlite3.connect(ledger, timeout=5) as db:
        return dict(db.execute("SELECT item_id, finished FROM items WHERE ok = 1").fetchall())


def kill_mid_batch(
    args: list[str], ledger: Path, *, at_least: int, total: int, env: dict[str, str] | None = None
) -> int:
    """Start the command, SIGKILL it (and its workers) once `at_least` units are in its
    ledger; return how many were."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})}
    proc = subprocess.Popen(
        [*RADPREP, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    done, deadline = 0, time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if ledger.exists():
            try:
                with sqlite3.connect(ledger, timeout=1) as db:
                    done = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
            except sqlite3.Error:
                done = 0
            if done >= at_least:
                break
        time.sleep(0.01)
    assert proc.poll() is None, "the batch finished before it could be killed; give it more"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert at_least <= done < total
    return done


def counts(stdout: str) -> tuple[int, int, int, int]:
    m = SUMMARY.search(stdout)
    assert m is not None, stdout
    n, done, failed, skipped = (int(v) for v in m.groups())
    assert done + failed + skipped == n
    return n, done, failed, skipped


# -- convert, one file per image ------------------------------------------------------------


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 real radiographs and MR slices, a text file and an RT plan (skipped), and a file cut
    inside its pixel data (failed)."""
    root = tmp_path_factory.mktemp("images")
    for i in range(20):
        name = "RG3_UNCR.dcm" if i % 3 == 0 else "MR2_UNCR.dcm"
        shutil.copy(testdata(name), root / f"img{i:03d}.dcm")
    (root / "notes.txt").write_text("not DICOM\n")
    shutil.copy(testdata("rtplan.dcm"), root / "plan.dcm")
    data = testdata("MR_small.dcm").read_bytes()
    (root / "cut.dcm").write_bytes(data[: len(data) // 2])
    return root


@pytest.mark.slow
def test_convert_killed_and_resumed_gives_the_uninterrupted_bytes(
    images: Path, tmp_path: Path
) -> None:
    ref = tmp_path / "ref"
    code, stdout, _ = cli("convert", str(images), "-o", str(ref), "-q")
    assert code == 1  # the cut file
    assert counts(stdout) == (23, 20, 1, 2)
    assert len(tree(ref)) == 20

    out = tmp_path / "killed"
    ledger = out / ".radprep" / "ledger.sqlite"
    args = ["convert", str(images), "-o", str(out), "-q", "-j", "2"]
    kill_mid_batch(args, ledger, at_least=4, total=23)
    finished = finished_ids(ledger)
    before = stamps(out)
    done_files = {
        k: v for k, v in before.items() if str(images / k.replace(".png", ".dcm")) in finished
    }
    assert len(done_files) >= 3

    code, stdout, _ = cli(*args)
    assert code == 1
    assert counts(stdout) == (23, 20, 1, 2)
    assert f"{len(finished)} already done" in stdout
    assert tree(out) == tree(ref)
    after = stamps(out)
    assert {k: after[k] for k in done_files} == done_files  # nothing finished was redone
    assert not [p for p in out.rglob("*.tmp")]
    records = [json.loads(x) for x in (out / "inputs.jsonl").read_text().splitlines()]
    ref_records = [json.loads(x) for x in (ref / "inputs.jsonl").read_text().splitlines()]
    assert records == ref_records
    failures = [json.loads(x) for x in (out / "failures.jsonl").read_text().splitlines()]
    assert [f["item_id"] for f in failures] == [str(images / "cut.dcm")]
    assert "cut.dcm: the pixel data is shorter" in failures[0]["message"]


@pytest.mark.slow
def test_convert_on_two_workers_gives_the_bytes_of_one(images: Path, tmp_path: Path) -> None:
    subset = tmp_path / "in"
    subset.mkdir()
    for name in ("img001.dcm", "img002.dcm", "img003.dcm", "notes.txt", "cut.dcm"):
        shutil.copy(images / name, subset / name)
    outs = {}
    for j in ("1", "2"):
        out = tmp_path / f"j{j}"
        code, stdout, err = cli("convert", str(subset), "-o", str(out), "-j", j, "--to", "png16")
        assert code == 1 and "cut.dcm" in err
        assert counts(stdout) == (5, 3, 1, 1)
        outs[j] = out
    assert tree(outs["1"]) == tree(outs["2"]) and len(tree(outs["1"])) == 3
    for name in ("inputs.jsonl", "failures.jsonl"):
        assert (outs["1"] / name).read_text() == (outs["2"] / name).read_text()


def test_convert_with_other_options_redoes_every_file(tmp_path: Path) -> None:
    src = testdata("CT_small.dcm")
    out = tmp_path / "o"
    assert cli("convert", str(src), "-o", str(out))[0] == 0
    first = stamps(out)
    code, stdout, _ = cli("convert", str(src), "-o", str(out))
    assert code == 0 and "1 already done" in stdout and stamps(out) == first
    code, stdout, _ = cli("convert", str(src), "-o", str(out), "--window", "minmax")
    assert code == 0 and "already done" not in stdout and stamps(out) != first
    code, stdout, _ = cli("convert", str(src), "-o", str(out), "--window", "minmax", "--fresh")
    assert code == 0 and "already done" not in stdout


# -- convert --to nifti, one volume per series ------------------------------------------------


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 CT series of 8 slices cut from the real head CT, and a README (skipped)."""
    root = tmp_path_factory.mktemp("series")
    for k in range(10):
        ct_series(root / f"s{k:02d}", n=8, size=160, seed=k)
    (root / "README").write_text("not DICOM\n")
    return root


@pytest.mark.slow
def test_convert_series_killed_and_resumed_gives_the_uninterrupted_bytes(
    series: Path, tmp_path: Path
) -> None:
    ref = tmp_path / "ref"
    code, stdout, _ = cli("convert", str(series), "--to", "nifti", "-o", str(ref), "-q")
    assert code == 0
    assert counts(stdout) == (10 * 8 + 1, 10 * 8, 0, 1)
    assert len(tree(ref)) == 10

    out = tmp_path / "killed"
    ledger = out / ".radprep" / "ledger.sqlite"
    args = ["convert", str(series), "--to", "nifti", "-o", str(out), "-q"]
    kill_mid_batch(args, ledger, at_least=2, total=10)
    finished = finished_ids(ledger)
    done_files = {k: v for k, v in stamps(out).items() if k.removesuffix(".nii.gz") in finished}
    assert len(done_files) == len(finished)

    code, stdout, _ = cli(*args, "-j", "2")
    assert code == 0
    assert f"{len(finished)} already done" in stdout
    assert tree(out) == tree(ref)
    after = stamps(out)
    assert {k: after[k] for k in done_files} == done_files
    assert (out / "inputs.jsonl").read_text() == (ref / "inputs.jsonl").read_text()


@pytest.mark.slow
def test_convert_series_on_two_workers_gives_the_bytes_of_one(tmp_path: Path) -> None:
    data = tmp_path / "in"  # dcm2niix's mosaic series under two transfer syntaxes, and a CT
    dcm_qa = Path(__file__).parents[1] / "data" / "dcm_qa" / "In"
    shutil.copytree(dcm_qa / "Si_mr_0003", data / "mosaic")
    ct_series(data / "ct", n=4, size=64)
    outs = {}
    for j in ("1", "2"):
        out = tmp_path / f"j{j}"
        code, stdout, _ = cli("convert", str(data), "--to", "nifti", "-o", str(out), "-j", j)
        assert code == 0, stdout
        n, done, failed, _ = counts(stdout)
        assert n == sum(1 for p in data.rglob("*") if p.is_file() and not p.name.startswith("."))
        assert failed == 0 and done > 0
        outs[j] = out
    assert tree(outs["1"]) == tree(outs["2"]) and len(tree(outs["1"])) == 2
    assert (outs["1"] / "inputs.jsonl").read_text() == (outs["2"] / "inputs.jsonl").read_text()


# -- index ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree_of_headers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 real DICOM files of five kinds in three folders, a text file and a cut header."""
    root = tmp_path_factory.mktemp("headers")
    names = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm", "US1_UNCR.dcm"]
    for i in range(300):
        folder = root / f"d{i % 3}"
        folder.mkdir(exist_ok=True)
        shutil.copy(testdata(names[i % 5]), folder / f"f{i:03d}.dcm")
    (root / "notes.txt").write_text("not DICOM\n")
    (root / "cut.dcm").write_bytes(testdata("CT_small.dcm").read_bytes()[:200])
    return root


@pytest.mark.slow
def test_index_killed_and_resumed_gives_the_uninterrupted_table(
    tree_of_headers: Path, tmp_path: Path
) -> None:
    ref = tmp_path / "ref" / "index.parquet"
    code, stdout, _ = cli("index", str(tree_of_headers), "-o", str(ref))
    assert code == 1  # the cut header
    assert counts(stdout) == (302, 300, 1, 1)

    out = tmp_path / "killed" / "index.parquet"
    ledger = out.parent / ".radprep" / "index-index.parquet.sqlite"
    args = ["index", str(tree_of_headers), "-o", str(out)]
    kill_mid_batch(args, ledger, at_least=30, total=302)
    before = finish_times(ledger)
    assert not out.exists()

    code, stdout, _ = cli(*args)
    assert code == 1 and counts(stdout) == (302, 300, 1, 1)
    assert f"{len(before)} already done" in stdout
    after = finish_times(ledger)
    assert {k: after[k] for k in before} == before  # nothing finished was read again
    assert out.read_bytes() == ref.read_bytes()
    for name in ("index.inputs.jsonl", "index.failures.jsonl"):
        assert (out.parent / name).read_text() == (ref.parent / name).read_text()


@pytest.mark.slow
def test_index_on_two_workers_gives_the_table_of_one(tree_of_headers: Path, tmp_path: Path) -> None:
    tables = {}
    for j in ("1", "2"):
        out = tmp_path / j / "index.parquet"
        code, stdout, err = cli("index", str(tree_of_headers), "-o", str(out), "-j", j, "-q")
        assert code == 1 and "cut.dcm" in err
        assert counts(stdout) == (302, 300, 1, 1)
        tables[j] = out
    assert tables["1"].read_bytes() == tables["2"].read_bytes()
    rows = pq.read_table(tables["1"]).to_pylist()
    assert len(rows) == 300 and rows[0]["path"] == "d0/f000.dcm"
    assert sorted({r["modality"] for r in rows}) == ["CT", "MR", "NM", "RTPLAN", "US"]


# -- deid -------------------------------------------------------------------------------------

DEID_KEY = "batch-engine-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def patients(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 real CT and MR images, each its own patient and instance, in folders named after
    the patients; a text file (skipped) and a file cut short (failed)."""
    import pydicom
    from pydicom.uid import generate_uid

    root = tmp_path_factory.mktemp("patients")
    for i in range(40):
        ds = pydicom.dcmread(testdata("CT_small.dcm" if i % 2 else "MR_small.dcm"))
        ds.PatientName, ds.PatientID = f"DOE^JOHN{i:02d}", f"PID{i:04d}"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        folder = root / f"DOE_JOHN{i:02d}"
        folder.mkdir()
        ds.save_as(folder / "image.dcm")
    (root / "notes.txt").write_text("not DICOM\n")
    data = testdata("MR_small.dcm").read_bytes()
    (root / "cut.dcm").write_bytes(data[: len(data) // 2])
    return root


def deid_args(src: Path, out: Path, *more: str) -> list[str]:
    return ["deid", str(src), str(out), "--pixel-ocr", "off", "-q", *more]


def deid_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"RADPREP_DEID_KEY": DEID_KEY})
    return result.exit_code, result.stdout, result.stderr


def dicom_tree(out: Path) -> dict[str, str]:
    return {k: v for k, v in tree(out).items() if k.endswith(".dcm")}


@pytest.mark.slow
def test_deid_killed_and_resumed_gives_the_uninterrupted_bytes(
    patients: Path, tmp_path: Path
) -> None:
    ref = tmp_path / "ref"
    cw_ref = tmp_path / "secret" / "ref.csv"
    code, stdout, err = deid_cli(*deid_args(patients, ref, "-j", "1", "--crosswalk", str(cw_ref)))
    assert code == 1 and "cut.dcm" in err
    assert counts(stdout) == (42, 40, 1, 1)
    assert len(dicom_tree(ref)) == 40

    out = tmp_path / "killed"
    cw = tmp_path / "secret" / "killed.csv"
    ledger = out / ".radprep" / "ledger.sqlite"
    args = deid_args(patients, out, "-j", "2", "--crosswalk", str(cw))
    kill_mid_batch(args, ledger, at_least=5, total=42, env={"RADPREP_DEID_KEY": DEID_KEY})
    before = finish_times(ledger)
    assert not cw.exists() and cw.with_name("killed.csv.partial").exists()

    code, stdout, _ = deid_cli(*args)
    assert code == 1 and counts(stdout) == (42, 40, 1, 1)
    after = finish_times(ledger)
    assert {k: after[k] for k in before} == before  # nothing finished was done again
    assert dicom_tree(out) == dicom_tree(ref)
    assert cw.read_bytes() == cw_ref.read_bytes()  # no row lost to the kill
    assert not cw.with_name("killed.csv.partial").exists()
    code, stdout, _ = deid_cli(*args)  # all done already: nothing redone, no row lost
    assert code == 1 and "40 file(s) de-identified" in stdout and "(40 already there)" in stdout
    assert cw.read_bytes() == cw_ref.read_bytes()
    assert cw.with_name("killed.inputs.jsonl").read_text() == cw_ref.with_name(
        "ref.inputs.jsonl"
    ).read_text().replace(str(ref), str(out))
    # Nothing in the output folder names an input: not the ledger, not the audit.
    for p in out.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert (
                b"DOE" not in data and b"PID00" not in data and str(patients).encode() not in data
            )


@pytest.mark.slow
def test_deid_on_two_workers_gives_the_bytes_of_one(patients: Path, tmp_path: Path) -> None:
    outs = {}
    for j in ("1", "2"):
        out = tmp_path / f"j{j}"
        code, stdout, _ = deid_cli(*deid_args(patients, out, "-j", j))
        assert code == 1 and counts(stdout) == (42, 40, 1, 1)
        outs[j] = out
    assert dicom_tree(outs["1"]) == dicom_tree(outs["2"]) and len(dicom_tree(outs["1"])) == 40
    audits = [next((o / "deid-audit").glob("*.jsonl")).read_text() for o in outs.values()]
    assert audits[0] == audits[1]  # one record per input, in the inputs' order


# -- Dask ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_convert_and_index_on_a_local_dask_cluster_give_the_bytes_of_one_process(
    images: Path, tmp_path: Path
) -> None:
    pytest.importorskip("distributed")  # the `dask` extra, installed by `make test`
    subset = tmp_path / "in"
    subset.mkdir()
    for name in ("img001.dcm", "img002.dcm", "notes.txt", "cut.dcm"):
        shutil.copy(images / name, subset / name)
    for where in (["-j", "2", "--scheduler", "local"], []):
        out = tmp_path / ("dask" if where else "here")
        code, stdout, _ = cli("convert", str(subset), "-o", str(out / "png"), *where)
        assert code == 1 and counts(stdout) == (4, 2, 1, 1)
        code, stdout, _ = cli("index", str(subset), "-o", str(out / "index.parquet"), *where)
        # the header of the file cut in its pixel data reads: indexed
        assert code == 0 and counts(stdout) == (4, 3, 0, 1)
    assert tree(tmp_path / "dask") == tree(tmp_path / "here")
    assert len(tree(tmp_path / "here")) == 3  # two PNGs and the index
