"""Real servers for the remote-source tests and benchmark, each started on 127.0.0.1 on a free
port with its state in a temporary folder, and stopped afterwards: a local S3 (moto's server
mode) and Orthanc with its DICOMweb plugin (Debian ``orthanc`` and ``orthanc-dicomweb``)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
ORTHANC_USER, ORTHANC_PASSWORD = "radprep", "s3cret-test"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], what: str, headers: dict[str, str]) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2)
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer at {url} within 30 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def moto_s3() -> Iterator[str]:
    """Run moto's S3 server; yield its endpoint URL (``http://127.0.0.1:PORT``)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{endpoint}/moto-api/", proc, "moto_server", {})
        yield endpoint
    finally:
        _stop(proc)


def moto_require_auth(endpoint: str, on: bool) -> None:
    """Make the moto server check credentials (unknown keys then get 403) or stop checking."""
    body = b"0" if on else b"inf"
    urllib.request.urlopen(
        urllib.request.Request(
            f"{endpoint}/moto-api/reset-auth",
            data=body,
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
    )


def orthanc_auth_header() -> dict[str, str]:
    token = base64.b64encode(f"{ORTHANC_USER}:{ORTHANC_PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@contextmanager
def orthanc(folder: Path) -> Iterator[str]:
    """Run Orthanc with DICOMweb and basic authentication; yield its HTTP root URL."""
    http, dicom = free_port(), free_port()
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "radprep-test",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "HttpPort": http,
        "DicomPort": dicom,
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {ORTHANC_USER: ORTHANC_PASSWORD},
        "Plugins": [DICOMWEB_PLUGIN],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "StudiesMetadata": "Full"},
        "HttpThreadsCount": 8,
        "StableAge": 1,
    }
    cfg = folder / "orthanc.json"
    cfg.write_text(json.dumps(config))
    log = open(folder / "orthanc.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen([ORTHANC, str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{http}"
    try:
        _wait(f"{url}/system", proc, "Orthanc", orthanc_auth_header())
        yield url
    finally:
        _stop(proc)
        log.close()


def orthanc_upload(url: str, path: str | os.PathLike[str]) -> dict[str, str]:
    """POST one DICOM file to Orthanc's REST API; return its answer (ids, status)."""
    req = urllib.request.Request(
        f"{url}/instances",
        data=Path(path).read_bytes(),
        method="POST",
        headers={"Content-Type": "application/dicom", **orthanc_auth_header()},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        answer: dict[str, str] = json.loads(resp.read())
    return answer


# The recipe both remote-source test files run: small outputs, no report.
RECIPE = {
    "version": 1,
    "read": {"window": "header"},
    "steps": [{"op": "resize", "size": [64, 64]}],
    "outputs": {"full": {"format": "png8"}, "array": {"format": "npy"}},
    "report": {"enabled": False},
}


def write_recipe(folder: Path, source: dict[str, object]) -> Path:
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump({**RECIPE, "source": source}))
    return path
