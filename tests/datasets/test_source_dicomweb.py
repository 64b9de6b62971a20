"""The ``dicomweb`` source against a real Orthanc with its DICOMweb plugin (Debian ``orthanc``
and ``orthanc-dicomweb``, installed by ``make test``), started on 127.0.0.1 with basic
authentication and a temporary storage folder, loaded with pydicom's real test files over its
REST API: the same output bytes as reading the files from disk, studies, series and QIDO queries
selecting what pydicom says they should, and every kind of bad input ending as a one-line error or
that item's failure, in bounded time."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pydicom
import pytest

from radprep.datasets.dicomweb import dicomweb_items, load_dicomweb_item
from radprep.errors import InputError, SpecError
from radprep.jobs.runner import run_recipe
from radprep.pipeline.spec import DicomwebSource, ReadSpec
from realfiles import testdata
from servers import (
    ORTHANC_PASSWORD,
    ORTHANC_USER,
    free_port,
    orthanc,
    orthanc_auth_header,
    orthanc_upload,
    write_recipe,
)

FILES = {
    "ct/small.dcm": "CT_small.dcm",
    "ct/head_j2k.dcm": "693_J2KR.dcm",
    "mr/knee.dcm": "MR_small.dcm",
    "mr/shoulder.dcm": "MR2_UNCR.dcm",
    "cr/chest_j2k.dcm": "RG3_J2KR.dcm",
}


def by_sop(out: Path) -> dict[tuple[str, str], bytes]:
    """Output bytes by (SOPInstanceUID, output), from the run's manifest."""
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    return {(r["sop_instance_uid"], r["output"]): (out / r["path"]).read_bytes() for r in rows}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    for rel, name in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(testdata(name), root / rel)
    return root


@pytest.fixture(scope="module")
def server(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Orthanc holding the files; yields its DICOMweb root; the password in the environment."""
    saved = dict(os.environ)
    with orthanc(tmp_path_factory.mktemp("orthanc")) as url:
        for rel in FILES:
            assert orthanc_upload(url, data / rel)["Status"] == "Success"
        os.environ["RADPREP_DICOMWEB_PASSWORD"] = ORTHANC_PASSWORD
        os.environ["RADPREP_TMPDIR"] = str(tmp_path_factory.mktemp("spool"))
        try:
            yield f"{url}/dicom-web"
        finally:
            os.environ.clear()
            os.environ.update(saved)


@pytest.fixture(scope="module")
def local(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], bytes]:
    """The same files read from disk by the dicom-folder source."""
    tmp = tmp_path_factory.mktemp("local")
    recipe = write_recipe(tmp, {"kind": "dicom-folder", "root": str(data)})
    assert run_recipe(recipe, out=tmp / "out", executor="serial", progress="quiet").done == 5
    return by_sop(tmp / "out")


def headers(data: Path) -> dict[str, pydicom.Dataset]:
    return {rel: pydicom.dcmread(data / rel, stop_before_pixels=True) for rel in FILES}


def test_studies_retrieved_by_two_workers_give_the_bytes_of_the_files_on_disk(
    tmp_path: Path, server: str, data: Path, local: dict[tuple[str, str], bytes]
) -> None:
    hdrs = headers(data)
    studies = sorted({str(h.StudyInstanceUID) for h in hdrs.values()})
    source = {"kind": "dicomweb", "url": server, "study": studies, "username": ORTHANC_USER}
    recipe = write_recipe(tmp_path, source)
    result = run_recipe(recipe, out=tmp_path / "out", workers=2, progress="quiet")
    assert (result.items, result.done, result.failed) == (5, 5, 0)
    assert by_sop(tmp_path / "out") == local
    rows = pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()
    for r in rows:
        h = next(h for h in hdrs.values() if h.SOPInstanceUID == r["sop_instance_uid"])
        assert r["sample_id"] == f"{h.StudyInstanceUID}/{h.SeriesInstanceUID}/{h.SOPInstanceUID}"
        assert r["patient_id"] == h.PatientID
        # Retrieved as stored: the decoder saw the file's own transfer syntax (JPEG 2000 too).
        read = next(s for s in json.loads(r["steps"]) if s["name"] == "read_dicom")
        assert read["params"]["transfer_syntax"] == h.file_meta.TransferSyntaxUID
    assert not list(Path(os.environ["RADPREP_TMPDIR"]).iterdir())


def test_series_and_qido_query_select_what_the_headers_say(server: str, data: Path) -> None:
    hdrs = headers(data)
    shoulder = hdrs["mr/shoulder.dcm"]
    spec = DicomwebSource(url=server, series=str(shoulder.SeriesInstanceUID), username="radprep")
    items = dicomweb_items(spec, data)
    assert [it.source["sop_instance_uid"] for it in items] == [shoulder.SOPInstanceUID]

    for modality in ("CT", "MR", "CR"):
        spec = DicomwebSource(url=server, query={"Modality": modality}, username="radprep")
        found = {it.source["sop_instance_uid"] for it in dicomweb_items(spec, data)}
        assert found == {h.SOPInstanceUID for h in hdrs.values() if h.Modality == modality}

    # A bearer token travels as the Authorization header (Orthanc, set for basic, refuses it).
    os.environ["TEST_TOKEN"] = "not-a-valid-token"
    try:
        spec = DicomwebSource(url=server, query={"Modality": "CT"}, token_env="TEST_TOKEN")
        with pytest.raises(InputError, match=r"access denied \(401: Unauthorized\)"):
            dicomweb_items(spec, data)
    finally:
        del os.environ["TEST_TOKEN"]


def test_missing_study_and_an_instance_deleted_after_listing_fail_only_their_items(
    tmp_path: Path, server: str, data: Path
) -> None:
    hdrs = headers(data)
    knee, small = hdrs["mr/knee.dcm"], hdrs["ct/small.dcm"]
    study = [str(knee.StudyInstanceUID), "1.2.826.0.1.3680043.99.1", str(small.StudyInstanceUID)]
    source = {"kind": "dicomweb", "url": server, "study": study, "username": "radprep"}
    recipe = write_recipe(tmp_path, {**source, "retries": 0})
    result = run_recipe(recipe, out=tmp_path / "out", executor="serial", progress="quiet")
    assert (result.items, result.done, result.failed) == (3, 2, 1)
    assert result.failures[0]["message"] == (
        f"{server}: study 1.2.826.0.1.3680043.99.1 not found (QIDO-RS lists no instances); "
        "check the StudyInstanceUID"
    )

    # The CT instance goes away between listing and retrieval: that item fails, in one line.
    items = dicomweb_items(DicomwebSource(**{**source, "retries": 0}), tmp_path)
    ct = next(it for it in items if it.source.get("sop_instance_uid") == small.SOPInstanceUID)
    root = server.removesuffix("/dicom-web")
    req = urllib.request.Request(
        f"{root}/tools/lookup",
        data=str(small.SOPInstanceUID).encode(),
        method="POST",
        headers=orthanc_auth_header(),
    )
    orthanc_id = json.loads(urllib.request.urlopen(req).read())[0]["ID"]
    urllib.request.urlopen(
        urllib.request.Request(
            f"{root}/instances/{orthanc_id}", method="DELETE", headers=orthanc_auth_header()
        )
    )
    try:
        with pytest.raises(InputError) as info:
            load_dicomweb_item(ct, ReadSpec())
    finally:
        assert orthanc_upload(root, data / "ct/small.dcm")["Status"] == "Success"
    assert str(info.value) == (
        f"{server}/studies/{small.StudyInstanceUID}/series/{small.SeriesInstanceUID}/instances/"
        f"{small.SOPInstanceUID}: no such object (404); check the path or UID"
    )


def test_wrong_password_unreachable_forbidden_and_silent_servers_fail_in_one_line(
    server: str, data: Path
) -> None:
    os.environ["WRONG_PASSWORD"] = "nope"
    try:
        spec = DicomwebSource(
            url=server, study="1.2.3", username="radprep", password_env="WRONG_PASSWORD"
        )
        with pytest.raises(InputError, match=r"study 1.2.3: access denied \(401: Unauthorized\)"):
            dicomweb_items(spec, data)
    finally:
        del os.environ["WRONG_PASSWORD"]
    with pytest.raises(SpecError, match=r"source.username is set but NO_SUCH_VAR is not"):
        dicomweb_items(
            DicomwebSource(url=server, study="1.2.3", username="x", password_env="NO_SUCH_VAR"),
            data,
        )

    closed = f"http://127.0.0.1:{free_port()}/dicom-web"
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=r"ConnectionError: .*\(after 3 attempts\)") as info:
        dicomweb_items(DicomwebSource(url=closed, study="1.2.3", retries=2, backoff_s=0.05), data)
    assert time.perf_counter() - t0 < 10
    assert "\n" not in str(info.value)

    class Forbidden(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(403)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forbidden)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/dicom-web"
        with pytest.raises(InputError, match=r"study 1.2.3: access denied \(403: Forbidden\)"):
            dicomweb_items(DicomwebSource(url=url, study="1.2.3"), data)
    finally:
        httpd.shutdown()

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/dicom-web"
        t0 = time.perf_counter()
        with pytest.raises(InputError, match=r"(?i)timed? ?out"):
            dicomweb_items(DicomwebSource(url=url, study="1.2.3", retries=0, timeout_s=1), data)
        assert time.perf_counter() - t0 < 10


def test_recipe_needs_something_to_retrieve() -> None:
    with pytest.raises(ValueError, match="give study, series or query"):
        DicomwebSource(url="http://127.0.0.1:1/dicom-web")
