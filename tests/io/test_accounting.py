"""Every input accounted for: file modes, worker lifetimes, batch records and exit codes."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from radprep.io.write import atomic_open, atomic_write_bytes


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_atomic_outputs_follow_the_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        a = atomic_write_bytes(tmp_path / "sub" / "a.bin", b"x")
        with atomic_open(tmp_path / "sub" / "b.txt", "w") as fh:
            fh.write("y")
    finally:
        os.umask(old)
    for p in (a, tmp_path / "sub" / "b.txt"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE((tmp_path / "sub").stat().st_mode) == 0o777 & ~mask


_ORPHAN_SCRIPT = """
import time
from radprep.batch.executor import ProcessExecutor
pool = ProcessExecutor(workers=2)._ensure()
busy = [pool.submit(time.sleep, 60.0) for _ in range(4)]
while len(pool._processes) < 2:
    time.sleep(0.05)
time.sleep(1.0)
print(" ".join(str(p) for p in pool._processes), flush=True)
busy[0].result()
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to see the workers")
def test_workers_end_when_the_main_process_is_killed_9(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_SCRIPT], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2 and all(_alive(p) for p in pids)  # busy sleeping 60 s
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids), "workers outlived the killed main process"


def test_pool_workers_see_the_environment_of_when_the_pool_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Forkserver workers fork from a server started with the first pool of the process: without
    # the parent's current environment they would miss credentials set since (AWS_*, RADPREP_*).
    import functools

    from radprep.batch.executor import ProcessExecutor

    read = functools.partial(os.getenv, "RADPREP_TEST_SECRET")  # os.getenv(key, default=item)
    monkeypatch.delenv("RADPREP_TEST_SECRET", raising=False)
    with ProcessExecutor(workers=1) as ex:
        assert [o.value for _, o in ex.map(read, [None])] == [None]
    monkeypatch.setenv("RADPREP_TEST_SECRET", "set-after-the-first-pool")
    with ProcessExecutor(workers=1) as ex:
        assert [o.value for _, o in ex.map(read, [None])] == ["set-after-the-first-pool"]


# --- Batch contract: every file done, failed (reason) or skipped (reason), counts adding up ---

import json  # noqa: E402
import shutil  # noqa: E402

import pyarrow.parquet as pq  # noqa: E402
import pydicom  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from radprep.cli.app import app  # noqa: E402
from realfiles import testdata  # noqa: E402


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _records(path: Path) -> dict[str, dict[str, str]]:
    lines = path.read_text().splitlines()
    return {Path(r["path"]).name: r for r in map(json.loads, lines)}


def _header_cut(name: str) -> bytes:
    """A real file cut right before its Pixel Data: a complete header, then nothing."""
    data = testdata(name).read_bytes()
    return data[: data.rfind(b"\xe0\x7f\x10\x00")]


@pytest.fixture
def awkward(tmp_path: Path) -> Path:
    """Good images, and each kind of file that used to vanish or stop a batch."""
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(testdata("CT_small.dcm"), root / "ct.dcm")
    shutil.copy(testdata("MR_small.dcm"), root / "mr.dcm")
    ds = pydicom.dcmread(testdata("MR_small.dcm"))
    ds.BitsStored = 65535  # overflowed the index's int16 column
    ds.InstanceNumber = 9999999999  # and its int32 column
    ds.save_as(root / "overflow.dcm")
    (root / "header_cut.dcm").write_bytes(_header_cut("CT_small.dcm"))
    data = testdata("CT_small.dcm").read_bytes()
    (root / "meta_only.dcm").write_bytes(data[:300])  # cut inside its header
    (root / "gone.dcm").symlink_to(root / "deleted-long-ago.dcm")  # unreadable
    (root / "notes.txt").write_text("not an image\n")
    shutil.copy(testdata("rtplan.dcm"), root / "plan.dcm")
    shutil.copy(
        testdata("emri_small_jpeg_2k_lossless_too_short.dcm"), root / "j2k_no_delimiter.dcm"
    )
    return root


def test_index_survives_every_file_and_accounts_for_it(awkward: Path, tmp_path: Path) -> None:
    out = tmp_path / "idx" / "index.parquet"
    code, stdout, err = cli("index", str(awkward), "--out", str(out))
    assert code == 1, stdout + err  # the unreadable files failed; every readable header indexed
    assert "9 file(s) found: 6 done, 2 failed, 1 skipped (not DICOM 1); 6 + 2 + 1 = 9" in stdout
    rows = {r["path"]: r for r in pq.read_table(out).to_pylist()}
    assert rows["overflow.dcm"]["bits_stored"] is None
    assert rows["overflow.dcm"]["instance_number"] is None
    assert rows["overflow.dcm"]["rows"] == 64
    records = _records(out.with_name("index.inputs.jsonl"))
    assert (
        records["gone.dcm"]["status"] == "failed" and "cannot open" in records["gone.dcm"]["reason"]
    )
    assert records["meta_only.dcm"]["status"] == "failed"
    assert "meta_only.dcm" in records["meta_only.dcm"]["reason"]
    assert "Traceback" not in stdout + err and "()" not in stdout + err


def test_convert_accounts_for_every_file(awkward: Path, tmp_path: Path) -> None:
    out = tmp_path / "png"
    code, stdout, err = cli("convert", str(awkward), "--out", str(out), "-q")
    assert code == 1
    assert "9 file(s) found: 3 done, 4 failed, 2 skipped (no pixels 1, not DICOM 1)" in stdout
    assert "3 + 4 + 2 = 9" in stdout
    records = _records(out / "inputs.jsonl")
    assert {k: r["status"] for k, r in records.items()} == {
        "ct.dcm": "done",
        "mr.dcm": "done",
        "overflow.dcm": "failed",  # BitsStored 65535 cannot describe pixels
        "header_cut.dcm": "failed",
        "meta_only.dcm": "failed",
        "gone.dcm": "failed",
        "notes.txt": "skipped",
        "plan.dcm": "skipped",
        "j2k_no_delimiter.dcm": "done",  # every fragment is there; only the delimiter is cut
    }
    # A cut-off file is truncated, never "no PixelData" or "not DICOM".
    assert records["header_cut.dcm"]["error"] == "TruncatedFileError"
    assert "cut off" in records["header_cut.dcm"]["reason"]
    assert records["meta_only.dcm"]["error"] == "TruncatedFileError"
    assert "warning" not in err  # -q: the summary and errors only


def test_run_accounts_for_every_file(awkward: Path, tmp_path: Path) -> None:
    import yaml

    recipe = {
        "version": 1,
        "name": "t",
        "source": {"kind": "dicom-folder", "root": str(awkward)},
        "read": {"window": "minmax", "frame": 0},
        "steps": [{"op": "resize", "size": [32, 32]}],
        "outputs": {"full": {"format": "png8"}},
        "report": {"enabled": False},
    }
    rp = tmp_path / "r.yaml"
    rp.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    code, stdout, err = cli("run", str(rp), "--out", str(out), "--serial", "-q")
    assert code == 1, stdout + err
    assert (
        "9 file(s) found: 3 done, 4 failed, 2 skipped (no pixels 1, not DICOM 1); 3 + 4 + 2 = 9"
        in stdout
    )
    records = _records(out / "inputs.jsonl")
    assert len(records) == 9
    assert records["header_cut.dcm"]["status"] == "failed"
    assert records["j2k_no_delimiter.dcm"]["status"] == "done"
    assert records["meta_only.dcm"]["status"] == "failed"
    assert records["gone.dcm"]["status"] == "failed"
    assert records["plan.dcm"] == {
        "path": str(awkward / "plan.dcm"),
        "status": "skipped",
        "reason": "no pixels",
    }
    failures = [json.loads(x) for x in (out / "failures.jsonl").read_text().splitlines()]
    assert len(failures) == 4
    assert any("meta_only.dcm" in f["message"] for f in failures)


def test_no_dicom_image_is_an_error_saying_where(tmp_path: Path) -> None:
    empty = tmp_path / "docs"
    empty.mkdir()
    (empty / "a.txt").write_text("x")
    shutil.copy(testdata("rtplan.dcm"), empty / "plan.dcm")
    code, _, err = cli("convert", str(empty), "--out", str(tmp_path / "o"))
    assert code == 2 and f"no DICOM image in {empty} (2 file(s) looked at" in err
    code, _, err = cli(
        "index", str(tmp_path / "nothing-here"), "--out", str(tmp_path / "i.parquet")
    )
    assert code == 2 and "no such file or folder" in err
    (empty / "plan.dcm").unlink()
    code, _, err = cli("index", str(empty), "--out", str(tmp_path / "i.parquet"))
    assert code == 2 and f"no DICOM file under {empty} (1 file(s) looked at" in err


def test_same_problem_same_code_and_wording(tmp_path: Path) -> None:
    missing = str(tmp_path / "absent.dcm")
    for args in (
        ["info", missing],
        ["convert", missing, "--out", str(tmp_path / "o")],
        ["index", missing, "--out", str(tmp_path / "i.parquet")],
    ):
        code, _, err = cli(*args)
        assert (code, err.strip()) == (2, f"radprep: error: no such file or folder: {missing}")


def test_output_inside_input_is_refused_everywhere(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(testdata("CT_small.dcm"), root / "ct.dcm")
    for args in (
        ["convert", str(root), "--out", str(root / "png")],
        ["index", str(root), "--out", str(root / "index.parquet")],
    ):
        code, _, err = cli(*args)
        assert code == 2 and "is inside the input folder" in err, err
    assert sorted(p.name for p in root.iterdir()) == ["ct.dcm"]


def test_unwritable_output_is_exit_2_before_any_work(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, stdout, err = cli("convert", str(testdata("CT_small.dcm")), "--out", str(blocker / "o"))
    assert code == 2 and f"cannot write to {blocker / 'o'}" in err and stdout == ""


def test_disk_full_mid_batch_is_exit_2_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    calls = {"n": 0}

    def full(target: Path) -> tuple[int, str]:
        calls["n"] += 1
        raise OSError(errno.ENOSPC, "No space left on device", str(target.parent))

    # Every atomic write creates its temporary file here: the first one meets a full disk.
    monkeypatch.setattr("radprep.io.write._create_temp", full)
    code, _, err = cli("convert", str(testdata("CT_small.dcm")), "--out", str(tmp_path / "o"))
    monkeypatch.undo()
    assert calls["n"] == 1
    assert code == 2 and "No space left on device" in err and "internal error" not in err


def test_workers_must_be_at_least_one(tmp_path: Path) -> None:
    code, _, err = cli("run", "cbis-ddsm-299", "--out", str(tmp_path), "--workers", "0")
    assert code == 2 and "--workers must be >= 1, got 0" in err


@pytest.mark.parametrize("key", ["outputs.full.steps[1].size", "outputs.full.steps.1.size"])
def test_set_takes_brackets_and_dots(key: str) -> None:
    from radprep.pipeline.spec import load_recipe

    recipe, _ = load_recipe("cbis-ddsm-299", overrides=[f"{key}=[64, 64]"])
    assert recipe.outputs["full"].steps[1]["size"] == [64, 64]


def test_recipe_sizes_are_checked_against_the_limit() -> None:
    from radprep.errors import SpecError
    from radprep.pipeline.spec import load_recipe

    with pytest.raises(
        SpecError,
        match=r"outputs\.full\.steps\[1\]\.size: \[100000, 100000\] "
        r"needs 111\.8 GiB per image, past the decoded-size limit of 4\.0 GiB",
    ):
        load_recipe("cbis-ddsm-299", overrides=["outputs.full.steps[1].size=[100000, 100000]"])


def test_header_asking_for_too_much_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from radprep.errors import SizeLimitError
    from radprep.io.dicom import read_dicom

    ds = pydicom.dcmread(testdata("CT_small.dcm"))
    ds.Rows, ds.Columns, ds.NumberOfFrames = 60000, 60000, 1000
    p = tmp_path / "huge.dcm"
    ds.save_as(p)
    with pytest.raises(SizeLimitError, match=r"huge\.dcm: Rows \(0028,0010\) 60000 x Columns"):
        read_dicom(p)
    monkeypatch.setenv("RADPREP_MAX_DECODED_BYTES", str(32 * 1024))  # configurable
    with pytest.raises(
        SizeLimitError, match=r"CT_small\.dcm: .* past the decoded-size limit of 32\.0 KiB"
    ):
        read_dicom(testdata("CT_small.dcm"))


_BOMB_SCRIPT = """
import sys
from radprep.cli.app import app
try:
    app(["convert", sys.argv[1], "--out", sys.argv[2]], prog_name="radprep")
except SystemExit as e:
    code = e.code
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve from the forking (test) process.
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0].split()[1]
print(code, int(hwm) // 1024, flush=True)
"""


def _deflate_bomb(path: Path, inflated_mb: int) -> None:
    """A real deflated file (pydicom's image_dfl.dcm) whose body gains a private element of
    zeros: a few hundred KB on disk, `inflated_mb` MB inflated."""
    import zlib

    from pydicom.filereader import read_preamble

    raw = testdata("image_dfl.dcm").read_bytes()
    with open(testdata("image_dfl.dcm"), "rb") as fh:
        read_preamble(fh, False)
        pydicom.filereader._read_file_meta_info(fh)
        body_at = fh.tell()
    body = zlib.decompress(raw[body_at:], -zlib.MAX_WBITS)
    size = inflated_mb << 20
    # (0009,1010) OB of `size` zeros: a private element, explicit VR little endian.
    elem = b"\x09\x00\x10\x10OB\x00\x00" + size.to_bytes(4, "little")
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    # A full flush ends each piece on a byte boundary with no back-references past it, so one
    # compressed MiB of zeros can be repeated: a real bomb, built in a fraction of a second.
    head = packer.compress(elem) + packer.flush(zlib.Z_FULL_FLUSH)
    mib = packer.compress(bytes(1 << 20)) + packer.flush(zlib.Z_FULL_FLUSH)
    tail = packer.compress(body) + packer.flush()
    chunks = [head, mib * inflated_mb, tail]
    path.write_bytes(raw[:body_at] + b"".join(chunks))


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads VmHWM from /proc")
def test_deflate_bomb_is_refused_with_little_memory(tmp_path: Path) -> None:
    import subprocess
    import sys

    bomb = tmp_path / "bomb.dcm"
    _deflate_bomb(bomb, 1024)  # 1 GiB of zeros
    assert bomb.stat().st_size < 1.1e6  # 1 GiB of zeros inflated
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-c", _BOMB_SCRIPT, str(bomb), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    code, rss_mb = (int(v) for v in proc.stdout.split()[-2:])
    print(f"deflate bomb {bomb.stat().st_size} bytes: exit {code}, peak RSS {rss_mb} MB")
    assert code == 1 and "inflates past 256.0 MiB" in proc.stderr, proc.stderr[-2000:]
    assert rss_mb < 1024


def test_sigint_says_what_is_done_and_how_to_go_on(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    root = tmp_path / "many"
    root.mkdir()
    for i in range(120):
        shutil.copy(testdata("CT_small.dcm"), root / f"ct{i:03d}.dcm")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "radprep.cli.app",
            "convert",
            str(root),
            "--out",
            str(tmp_path / "o"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    for _ in range(5):  # a few files converted
        assert proc.stdout.readline().startswith("converted ")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    # convert resumes from its ledger: the same command goes on where it stopped
    m = re.search(r"radprep: error: interrupted: (\d+) item\(s\) done; resume with: (.*)", err)
    assert m is not None, err
    assert 5 <= int(m.group(1)) < 120
    assert m.group(2).startswith("radprep convert ") and str(root) in m.group(2)
    assert "Traceback" not in err


def test_run_stops_with_exit_2_when_the_disk_is_full(
    awkward: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import yaml

    def full(target: Path) -> tuple[int, str]:
        raise OSError(errno.ENOSPC, "No space left on device")

    recipe = {
        "version": 1,
        "name": "t",
        "source": {"kind": "dicom-folder", "root": str(awkward)},
        "read": {"window": "minmax", "frame": 0},
        "outputs": {"full": {"format": "png8"}},
        "report": {"enabled": False},
    }
    rp = tmp_path / "r.yaml"
    rp.write_text(yaml.safe_dump(recipe))
    monkeypatch.setattr("radprep.io.write._create_temp", full)
    code, _, err = cli("run", str(rp), "--out", str(tmp_path / "run"), "--serial")
    assert code == 2, err
    assert "No space left on device" in err and "run the same command again to resume" in err
    assert "internal error" not in err


def test_warnings_are_one_line_without_source(tmp_path: Path) -> None:
    data = bytearray(testdata("CT_small.dcm").read_bytes())
    i = data.find(b"\x28\x00\x30\x00DS")
    n = int.from_bytes(data[i + 6 : i + 8], "little")
    data[i + 8 : i + 8 + n] = (b"abc\\def" + b" " * n)[:n]
    p = tmp_path / "spacing.dcm"
    p.write_bytes(bytes(data))
    code, _, err = cli("info", str(p))
    assert code == 0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("radprep: warning: ") for ln in lines), err
    assert f"radprep: warning: {p}: PixelSpacing (0028,0030) is not numeric" in err


def test_run_with_deid_accounts_for_every_file_by_pseudonym(
    awkward: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With de-identification on, inputs.jsonl lists every file too, named by its sample
    pseudonym (or `source-file-N` for a file that made no sample, as failures.jsonl names it):
    the counts add up and no original path, folder or file name is in it."""
    import yaml

    from radprep.deid import pseudonymize_id

    key = "a-test-key-of-32-bytes-0123456789"
    monkeypatch.setenv("RADPREP_DEID_KEY", key)
    exported = awkward.rename(awkward.with_name("DOE^JANE_19610101"))  # named like a patient
    recipe = {
        "version": 1,
        "name": "t",
        "source": {"kind": "dicom-folder", "root": str(exported)},
        "read": {"window": "minmax", "frame": 0},
        "steps": [{"op": "resize", "size": [32, 32]}],
        "outputs": {"full": {"format": "png8"}},
        "report": {"enabled": False},
        "deid": {"enabled": True},
    }
    rp = tmp_path / "r.yaml"
    rp.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    code, stdout, err = cli("run", str(rp), "--out", str(out), "--serial", "-q")
    assert code == 1, stdout + err
    assert (
        "9 file(s) found: 3 done, 4 failed, 2 skipped (no pixels 1, not DICOM 1); 3 + 4 + 2 = 9"
        in stdout
    )
    text = (out / "inputs.jsonl").read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert len(records) == 9
    by_status: dict[str, list[str]] = {}
    for r in records:
        by_status.setdefault(r["status"], []).append(r["path"])
    assert {k: len(v) for k, v in by_status.items()} == {"done": 3, "failed": 4, "skipped": 2}
    names = [r["path"] for r in records]
    assert len(set(names)) == 9  # one line per file, each its own name
    # The samples are named by their keyed pseudonyms (the manifest's sample ids), the rest by
    # the names failures.jsonl gives them.
    samples = {r["sample_id"] for r in pq.read_table(out / "manifest.parquet").to_pylist()}
    assert samples <= set(names) and len(samples) == 3
    failures = [json.loads(x) for x in (out / "failures.jsonl").read_text().splitlines()]
    assert {f["item_id"] for f in failures} == set(by_status["failed"])
    assert all(n.startswith(("S", "source-file-")) for n in names)
    # Nothing of the original tree: folder, file names (with or without suffix), the path.
    secrets = {str(exported), exported.name, "DOE^JANE", "19610101"}
    secrets |= {p.name for p in exported.iterdir()} | {p.stem for p in exported.iterdir()}
    secrets = {s for s in secrets if len(s) >= 4}  # "ct" and "mr" are in ordinary words
    assert not [s for s in secrets if s in text], text
    # The pseudonyms are the keyed ones of the file ids the run without de-identification uses.
    sample_ids = {pseudonymize_id(p.stem, key.encode(), "S{hash:12}") for p in exported.iterdir()}
    assert samples <= sample_ids
