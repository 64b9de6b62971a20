"""The ``file-list`` source over local paths and over ``s3://`` served by a real local S3 (moto's
server mode): the same output bytes as the dicom-folder source on the same files, a Dask run with
two workers fetching their own objects, a SIGKILLed run resumed by ETag, s5cmd and idc-index
lists, and every kind of bad input ending as a one-line error or that item's failure, in
bounded time."""

from __future__ import annotations

import csv
import email.utils
import http.server
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from radprep.cli.app import app
from radprep.datasets.file_list import file_list_items, read_file_list
from radprep.errors import InputError, SpecError
from radprep.io.remote import filesystem
from radprep.jobs.runner import run_recipe
from radprep.pipeline.spec import FileListSource
from realfiles import testdata
from servers import free_port, moto_require_auth, moto_s3, write_recipe

RADPREP = str(Path(sys.executable).parent / "radprep")
BUCKET = "radprep-test"
FILES = {
    "cr/chest.dcm": "RG3_UNCR.dcm",
    "cr/chest_j2k.dcm": "RG3_J2KR.dcm",
    "ct/head.dcm": "693_UNCR.dcm",
    "ct/small.dcm": "CT_small.dcm",
    "mr/knee.dcm": "MR_small.dcm",
    "mr/shoulder.dcm": "MR2_UNCR.dcm",
}
LABELS = {"cr/chest.dcm": "1", "cr/chest_j2k.dcm": "1", "ct/head.dcm": "0"}


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def outputs(out: Path) -> dict[str, bytes]:
    """Every written image and array, by path under the output folder."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for sub in ("full", "array")
        for p in sorted((out / sub).rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    for rel, name in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(testdata(name), root / rel)
    return root


@pytest.fixture(scope="module")
def s3(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server holding the files under s3://BUCKET/data/, the environment pointing at
    it (inherited by worker processes and the CLI), fetched objects spooled in a folder of the
    test's own."""
    saved = dict(os.environ)
    with moto_s3() as endpoint:
        os.environ.update(
            RADPREP_TMPDIR=str(tmp_path_factory.mktemp("spool")),
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
        )
        os.environ.pop("AWS_PROFILE", None)
        fs, _ = filesystem(f"s3://{BUCKET}/")
        fs.mkdir(BUCKET)
        for rel in FILES:
            fs.put_file(str(data / rel), f"{BUCKET}/data/{rel}")
        try:
            yield endpoint
        finally:
            os.environ.clear()
            os.environ.update(saved)


@pytest.fixture(scope="module")
def reference(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The dicom-folder source's outputs over the same files (an independent enumerator)."""
    tmp = tmp_path_factory.mktemp("ref")
    recipe = write_recipe(tmp, {"kind": "dicom-folder", "root": str(data)})
    result = run_recipe(recipe, out=tmp / "out", executor="serial", progress="quiet")
    assert result.done == len(FILES)
    return outputs(tmp / "out")


def local_rows(data: Path) -> list[dict[str, str]]:
    return [
        {"path": rel, "label": LABELS.get(rel, "0"), "patient_id": f"P{i % 3}", "split": "train"}
        for i, rel in enumerate(FILES)
    ]


# -- local paths ------------------------------------------------------------------------------


def test_local_list_gives_the_dicom_folder_outputs_and_the_labels(
    tmp_path: Path, data: Path, reference: dict[str, bytes]
) -> None:
    listing = write_csv(data / "files.csv", local_rows(data))
    try:
        recipe = write_recipe(tmp_path, {"kind": "file-list", "list": str(listing)})
        result = run_recipe(recipe, out=tmp_path / "out", executor="serial", progress="quiet")
    finally:
        listing.unlink()
    assert (result.items, result.done, result.failed) == (6, 6, 0)
    assert outputs(tmp_path / "out") == reference
    table = pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()
    by_id = {r["sample_id"]: r for r in table if r["output"] == "full"}
    assert by_id["cr/chest"]["label_label"] == "1"
    assert by_id["mr/knee"]["label_label"] == "0"
    assert {r["label_official_split"] for r in table} == {"train"}
    assert by_id["cr/chest"]["patient_id"] == "P0"
    assert by_id["ct/head"]["source_path"] == "ct/head.dcm"


# -- a local S3 -------------------------------------------------------------------------------


def s3_rows() -> list[dict[str, str]]:
    return [
        {"path": f"s3://{BUCKET}/data/{rel}", "id": rel.removesuffix(".dcm"), "label": "1"}
        for rel in FILES
    ]


def test_s3_list_gives_the_same_bytes_with_etag_fingerprints(
    tmp_path: Path, s3: str, reference: dict[str, bytes]
) -> None:
    listing = write_csv(tmp_path / "files.csv", s3_rows())
    spec = FileListSource(list=str(listing))
    items = file_list_items(spec, tmp_path)
    assert sorted(it.id for it in items) == sorted(r.removesuffix(".dcm") for r in FILES)
    fs, _ = filesystem(f"s3://{BUCKET}/")
    for it in items:
        # The fingerprint is the object's ETag as the server reports it (one HEAD per object).
        etag = fs.info(it.path.removeprefix("s3://"))["ETag"].strip('"')
        assert it.fingerprint == f"etag:{etag}"
        assert it.extra["remote"]["s3_endpoint_url"] == s3
    recipe = write_recipe(tmp_path, {"kind": "file-list", "list": str(listing)})
    result = run_recipe(recipe, out=tmp_path / "out", executor="serial", progress="quiet")
    assert (result.done, result.failed) == (6, 0)
    assert outputs(tmp_path / "out") == reference
    assert not list(Path(os.environ["RADPREP_TMPDIR"]).iterdir())  # every fetched copy removed

    # Without an id column the id is the object's bucket and key, without .dcm.
    no_ids = write_csv(tmp_path / "noid.csv", [{"path": r["path"]} for r in s3_rows()])
    ids = {it.id for it in file_list_items(FileListSource(list=str(no_ids)), tmp_path)}
    assert f"{BUCKET}/data/cr/chest" in ids


@pytest.mark.slow
def test_dask_two_workers_read_from_s3_with_the_list_itself_on_s3(
    tmp_path: Path, s3: str, reference: dict[str, bytes]
) -> None:
    fs, _ = filesystem(f"s3://{BUCKET}/")
    listing = write_csv(tmp_path / "files.csv", s3_rows())
    fs.put_file(str(listing), f"{BUCKET}/lists/files.csv")
    recipe = write_recipe(tmp_path, {"kind": "file-list", "list": f"s3://{BUCKET}/lists/files.csv"})
    result = run_recipe(
        recipe,
        out=tmp_path / "out",
        executor="dask",
        scheduler="local",
        workers=2,
        progress="quiet",
    )
    assert (result.done, result.failed) == (6, 0)
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["executor"]["executor"] == "dask" and run["executor"]["workers"] == 2
    assert outputs(tmp_path / "out") == reference


@pytest.mark.slow
def test_sigkill_then_resume_redoes_only_unfinished_and_changed_objects(
    tmp_path: Path, s3: str, data: Path
) -> None:
    fs, _ = filesystem(f"s3://{BUCKET}/")
    names = ["mr/shoulder.dcm", "ct/head.dcm", "ct/small.dcm"]
    rows = []
    for i in range(16):
        key = f"{BUCKET}/many/img{i:03d}.dcm"
        fs.put_file(str(data / names[i % 3]), key)
        rows.append({"path": f"s3://{key}", "label": str(i % 2)})
    listing = write_csv(tmp_path / "files.csv", rows)
    recipe = write_recipe(tmp_path, {"kind": "file-list", "list": str(listing)})
    ref = tmp_path / "ref"
    assert run_recipe(recipe, out=ref, executor="serial", progress="quiet").done == 16

    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [RADPREP, "run", str(recipe), "-o", str(out), "--workers", "2", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    ledger = out / ".radprep" / "ledger.sqlite"
    deadline, done = time.time() + 60, 0
    while time.time() < deadline and proc.poll() is None:
        if ledger.exists():
            try:
                with sqlite3.connect(ledger, timeout=1) as db:
                    done = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
            except sqlite3.Error:
                done = 0
            if done >= 2:
                break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 2 <= done < 16

    result = run_recipe(recipe, out=out, progress="quiet", workers=2)
    assert (result.done, result.failed) == (16, 0), result.failures[:3]
    assert result.skipped >= done
    assert outputs(out) == outputs(ref)
    # The killed workers' fetched copies were swept by the new workers.
    assert not list(Path(os.environ["RADPREP_TMPDIR"]).iterdir())

    # A changed object (a new ETag) is redone, and only it.
    fs.put_file(str(data / "mr/knee.dcm"), f"{BUCKET}/many/img005.dcm")
    again = run_recipe(recipe, out=out, executor="serial", progress="quiet")
    assert (again.skipped, again.done) == (15, 16)
    shutil.rmtree(ref)


def test_s5cmd_manifest_and_idc_index_export_are_read_as_they_are(tmp_path: Path, s3: str) -> None:
    # s5cmd run's manifest as idc-index writes it: one "cp <series folder>/* <dest>" per series.
    manifest = tmp_path / "manifest.s5cmd"
    manifest.write_text(
        f'cp s3://{BUCKET}/data/cr/* .\ncp --show-progress "s3://{BUCKET}/data/mr/*" "./mr"\n'
    )
    items = file_list_items(FileListSource(list=str(manifest)), tmp_path)
    assert sorted(it.id for it in items) == sorted(
        f"{BUCKET}/data/{r}".removesuffix(".dcm") for r in FILES if r.startswith(("cr/", "mr/"))
    )
    assert all(it.fingerprint.startswith("etag:") for it in items)

    # An idc-index query result saved as Parquet: one row per series, its series_aws_url.
    table = pa.table(
        {
            "collection_id": ["test_cr", "test_ct"],
            "PatientID": ["CR-1", "CT-7"],
            "StudyInstanceUID": ["1.2.3", "1.2.4"],
            "SeriesInstanceUID": ["1.2.3.1", "1.2.4.1"],
            "Modality": ["CR", "CT"],
            "series_aws_url": [f"s3://{BUCKET}/data/cr/*", f"s3://{BUCKET}/data/ct/*"],
        }
    )
    pq.write_table(table, tmp_path / "idc.parquet")
    items = file_list_items(FileListSource(list=str(tmp_path / "idc.parquet")), tmp_path)
    assert len(items) == 4
    head = next(it for it in items if it.id.endswith("ct/head"))
    assert head.source["patient_id"] == "CT-7"
    assert head.source["series_instance_uid"] == "1.2.4.1"
    assert head.labels == {
        "collection_id": "test_ct",
        "StudyInstanceUID": "1.2.4",
        "SeriesInstanceUID": "1.2.4.1",
        "Modality": "CT",
    }


def test_http_urls_are_fetched_and_a_403_or_404_fails_only_its_item(
    tmp_path: Path, data: Path, reference: dict[str, bytes]
) -> None:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(data), **kwargs)

        def send_head(self) -> Any:
            if "private" in self.path:
                self.send_error(403, "Forbidden")
                return None
            return super().send_head()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    rows = [{"path": f"{url}/{rel}", "id": rel.removesuffix(".dcm")} for rel in FILES]
    rows += [
        {"path": f"{url}/private/x.dcm", "id": "forbidden"},
        {"path": f"{url}/gone.dcm", "id": "gone"},
    ]
    listing = write_csv(tmp_path / "files.csv", rows)
    recipe = write_recipe(tmp_path, {"kind": "file-list", "list": str(listing), "retries": 0})
    try:
        result = run_recipe(recipe, out=tmp_path / "out", executor="serial", progress="quiet")
        items = {it.id: it for it in file_list_items(FileListSource(list=str(listing)), tmp_path)}
    finally:
        httpd.shutdown()
    assert (result.done, result.failed) == (6, 2), result.failures
    assert outputs(tmp_path / "out") == reference
    why = {f["item_id"]: f["message"] for f in result.failures}
    assert why["forbidden"].startswith(f"{url}/private/x.dcm: access denied (403")
    assert why["gone"] == f"{url}/gone.dcm: no such object (404); check the path or UID"
    # No ETag from this server: size and Last-Modified, as the file system has them.
    st = (data / "ct/small.dcm").stat()
    modified = email.utils.formatdate(st.st_mtime, usegmt=True)
    assert items["ct/small"].fingerprint == f"{st.st_size}:{modified}"


# -- bad input --------------------------------------------------------------------------------


def test_missing_object_bad_rows_and_unknown_scheme_fail_only_their_items(
    tmp_path: Path, s3: str
) -> None:
    rows = [
        {"path": f"s3://{BUCKET}/data/ct/small.dcm", "label": "1"},
        {"path": f"s3://{BUCKET}/data/ct/missing.dcm", "label": "1"},
        {"path": "", "label": "0"},
        {"path": "nosuchscheme://host/x.dcm", "label": "0"},
        {"path": f"s3://{BUCKET}/nothing-here/*", "label": "0"},
        {"path": "local/missing.dcm", "label": "0"},
    ]
    listing = write_csv(tmp_path / "files.csv", rows)
    recipe = write_recipe(tmp_path, {"kind": "file-list", "list": str(listing)})
    t0 = time.perf_counter()
    result = run_recipe(recipe, out=tmp_path / "out", executor="serial", progress="quiet")
    assert time.perf_counter() - t0 < 20
    assert (result.items, result.done, result.failed) == (6, 1, 5)
    why = {f["item_id"]: f["message"] for f in result.failures}
    assert why[f"{BUCKET}/data/ct/missing"] == (
        f"s3://{BUCKET}/data/ct/missing.dcm: no such object (404); check the path in the list"
    )
    assert why["row-000004"] == f"{listing} row 4: empty path"
    assert why["host/x"].startswith("nosuchscheme://host/x.dcm: no filesystem for nosuchscheme://")
    assert why["row-000006"] == (
        f"s3://{BUCKET}/nothing-here/*: no objects match; check the path in the list"
    )
    assert why["local/missing"] == "local/missing.dcm: no such file; check the path in the list"
    assert all("\n" not in m for m in why.values())


def test_access_denied_is_each_items_failure(tmp_path: Path, s3: str) -> None:
    listing = write_csv(tmp_path / "files.csv", s3_rows()[:2])
    recipe = write_recipe(tmp_path, {"kind": "file-list", "list": str(listing), "retries": 0})
    moto_require_auth(s3, True)  # moto now checks keys: "testing" is unknown -> 403
    try:
        result = run_recipe(recipe, out=tmp_path / "out", executor="serial", progress="quiet")
    finally:
        moto_require_auth(s3, False)
    assert (result.done, result.failed) == (0, 2)
    for f in result.failures:
        assert f["message"].startswith(f"s3://{BUCKET}/data/cr/chest")
        assert "access denied (403" in f["message"]


def test_unreachable_and_silent_endpoints_fail_in_one_line_without_hanging(
    tmp_path: Path, s3: str
) -> None:
    listing = write_csv(tmp_path / "files.csv", s3_rows()[:2])
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens
    spec = FileListSource(
        list=str(listing), storage_options={"endpoint_url": closed}, retries=2, backoff_s=0.05
    )
    t0 = time.perf_counter()
    with pytest.raises(
        InputError, match=r"Could not connect to the endpoint URL.*after 3 attempts"
    ):
        file_list_items(spec, tmp_path)
    assert time.perf_counter() - t0 < 10
    source = {"kind": "file-list", "list": str(listing), "retries": 0}
    source["storage_options"] = {"endpoint_url": closed}
    recipe = write_recipe(tmp_path, source)
    cli = CliRunner().invoke(app, ["run", str(recipe), "-o", str(tmp_path / "out"), "-q"])
    assert cli.exit_code == 1
    assert cli.stderr.count("\n") == 1
    assert cli.stderr.startswith(f"radprep: error: s3://{BUCKET}/data/cr: EndpointConnectionError")

    # A server that accepts connections and never answers: the read timeout ends it.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        spec = FileListSource(
            list=str(listing),
            storage_options={"endpoint_url": f"http://127.0.0.1:{port}"},
            retries=0,
            timeout_s=1.0,
        )
        t0 = time.perf_counter()
        with pytest.raises(InputError, match=r"(?i)timeout|timed out") as info:
            file_list_items(spec, tmp_path)
        assert time.perf_counter() - t0 < 15
        assert "\n" not in str(info.value)


def test_list_errors_are_one_line_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"source.list: .*nope.csv is not a file"):
        read_file_list("nope.csv", base=tmp_path)
    write_csv(tmp_path / "cols.csv", [{"file": "a.dcm", "label": "1"}])
    with pytest.raises(SpecError, match=r"has no path column \(path, url, series_aws_url"):
        file_list_items(FileListSource(list="cols.csv"), tmp_path)
    write_csv(tmp_path / "dup.csv", [{"path": "a.dcm"}, {"path": "b.dcm"}, {"path": "a.dcm"}])
    with pytest.raises(SpecError, match=r"row 4: item 'a' is listed twice \(first at row 2\)"):
        file_list_items(FileListSource(list="dup.csv"), tmp_path)


# -- the per-item function for other engines --------------------------------------------------


def test_process_item_gives_the_arrays_and_records_a_run_writes_and_writes_nothing(
    tmp_path: Path, s3: str
) -> None:
    import dataclasses

    import numpy as np

    import radprep

    listing = write_csv(tmp_path / "files.csv", s3_rows())
    recipe = write_recipe(tmp_path, {"kind": "file-list", "list": str(listing)})
    out = tmp_path / "out"
    assert run_recipe(recipe, out=out, executor="serial", progress="quiet").done == 6
    manifest = {
        (r["sample_id"], r["output"]): r
        for r in pq.read_table(out / "manifest.parquet").to_pylist()
    }
    before = sorted(p for p in tmp_path.rglob("*"))
    items = radprep.list_items(recipe)
    assert [it.id for it in items] == sorted(r["id"] for r in s3_rows())
    for item in items:
        # As an engine hands it over: a plain dict (Ray rows, Spark records).
        done = radprep.process_item(dataclasses.asdict(item), recipe)
        assert sorted(r["output"] for r in done.records) == ["array", "full"]
        for row in done.rows():
            written = manifest[(item.id, row["output"])]
            assert row["path"] == written["path"]
            assert row["shape"] == list(written["shape"])
            assert row["recipe_hash"] == written["recipe_hash"]
            if row["format"] == "npy":
                np.testing.assert_array_equal(row["array"], np.load(out / written["path"]))
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert not list(Path(os.environ["RADPREP_TMPDIR"]).iterdir())

    bad = {"id": "x", "path": f"s3://{BUCKET}/nope.dcm", "extra": items[0].extra}
    with pytest.raises(InputError, match=r"s3://radprep-test/nope.dcm: no such object \(404\)"):
        radprep.process_item(bad, recipe)
