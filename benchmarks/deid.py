"""De-identification speed: radprep beside dicognito, on the same files, in one run.

Both tools read each file with pydicom, de-identify it and write it to disk, one process, one
file at a time; the figure is files per second over the whole set (median of the repeats). The
files are every real DICOM file of pydicom's test files, pydicom-data and deid-data that both
tools handle (radprep writes quarantined images to a hold folder here, so that it does all the
work for every file).

dicognito is the comparison: ``pip install dicognito`` (it is in radprep's ``test`` extra).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

import pydicom

from _common import machine, stats, table, write_result
from radprep.deid import DeidConfig, deidentify_file
from realfiles import deid_data_files, pydicom_data_files, pydicom_files

KEY = b"benchmark-key-0123456789abcdef!!"


def _dicognito():
    try:
        from dicognito.anonymizer import Anonymizer
    except ImportError:
        sys.exit("this benchmark compares with dicognito: pip install dicognito")
    return Anonymizer


def usable_files() -> list[Path]:
    """The files both tools de-identify without error."""
    anonymizer_cls = _dicognito()
    files = []
    with tempfile.TemporaryDirectory() as tmp:
        config = DeidConfig(quarantine="hold", quarantine_dir=Path(tmp) / "held", pixel_ocr="off")
        for i, src in enumerate(pydicom_files() + pydicom_data_files() + deid_data_files()):
            try:
                r = deidentify_file(src, Path(tmp) / "probe", config, KEY)
                if r.path is None:
                    continue
                ds = pydicom.dcmread(src)
                anonymizer_cls().anonymize(ds)
                ds.save_as(Path(tmp) / f"{i}.dcm")
            except Exception:
                continue
            files.append(src)
    return files


def _paired(
    ours: Callable[[], float], theirs: Callable[[], float], repeat: int
) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
    """Time the two alternately (a warm-up each first): a busy machine slows both alike.

    Each function returns the seconds its own loop took (setting up and removing the output
    folder are not timed).
    """
    ours()
    theirs()
    a, b = [], []
    for _ in range(repeat):
        a.append(ours() * 1000.0)
        b.append(theirs() * 1000.0)
    ratios = [y / x for x, y in zip(a, b, strict=True)]
    return stats(a), stats(b), stats(ratios)


def _timed(loop: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    loop()
    return time.perf_counter() - t0


def main() -> None:
    warnings.simplefilter("ignore")
    import io

    import dicognito

    from radprep.deid import deidentify_dataset
    from radprep.deid.core import _encode

    anonymizer_cls = _dicognito()
    files = usable_files()
    blobs = [(f, f.read_bytes()) for f in files]
    size_mb = sum(len(b) for _, b in blobs) / 1e6
    # Header work against header work: burned-in text (OCR) is timed by benchmarks/deid_ocr.py.
    config = DeidConfig(pixel_ocr="off")

    def mem_radprep() -> float:
        def loop() -> None:
            for src, data in blobs:
                new, _ = deidentify_dataset(pydicom.dcmread(io.BytesIO(data)), config, KEY)
                _encode(new, src)

        return _timed(loop)

    def mem_dicognito() -> float:
        def loop() -> None:
            anonymizer = anonymizer_cls()
            for _, data in blobs:
                ds = pydicom.dcmread(io.BytesIO(data))
                anonymizer.anonymize(ds)
                ds.save_as(io.BytesIO())

        return _timed(loop)

    def disk_radprep(root: str | None) -> float:
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            cfg = DeidConfig(quarantine="hold", quarantine_dir=Path(tmp) / "held", pixel_ocr="off")

            def loop() -> None:
                for src in files:
                    # One output folder: twins of one instance are written under a suffix.
                    deidentify_file(src, Path(tmp) / "out", cfg, KEY)

            return _timed(loop)

    def disk_dicognito(root: str | None) -> float:
        with tempfile.TemporaryDirectory(dir=root) as tmp:

            def loop() -> None:
                anonymizer = anonymizer_cls()
                for i, src in enumerate(files):
                    ds = pydicom.dcmread(src)
                    anonymizer.anonymize(ds)
                    ds.save_as(Path(tmp) / f"{i}.dcm")

            return _timed(loop)

    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    setups = [
        ("in memory: read, de-identify, encode", mem_radprep, mem_dicognito),
        (
            "files on a RAM disk (/dev/shm)",
            lambda: disk_radprep(shm),
            lambda: disk_dicognito(shm),
        ),
        ("files on the disk (/tmp)", lambda: disk_radprep(None), lambda: disk_dicognito(None)),
    ]
    rows = []
    for label, ours, theirs in setups:
        (m1, q1), (m2, q2), (r, qr) = _paired(ours, theirs, repeat=7)
        fps1, fps2 = len(files) / (m1 / 1000.0), len(files) / (m2 / 1000.0)
        rows.append(
            [
                label,
                f"{fps1:.0f} ({m1 / 1000:.2f} ± {q1 / 1000:.2f} s)",
                f"{fps2:.0f} ({m2 / 1000:.2f} ± {q2 / 1000:.2f} s)",
                f"{r:.2f}x ± {qr:.2f}",
            ]
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = "\n".join(
        [
            "# De-identification",
            "",
            machine() + f", dicognito {dicognito.__version__}",
            "",
            f"{len(files)} real DICOM files ({size_mb:.0f} MB: pydicom test files, pydicom-data, "
            "deid-data), one at a time in one process; files/s over the set (median ± IQR of "
            "7 runs of the whole set, the two tools run alternately; the ratio is the median of "
            "the per-pair ratios). Timed: reading, de-identifying and writing every file; not "
            "timed: making and removing the temporary output folder. Load average at the end: "
            f"{load:.1f}.",
            "",
            table(["setting", "radprep files/s", "dicognito files/s", "radprep / dicognito"], rows),
            "",
            "radprep applies the whole PS3.15 Basic Profile as an allowlist with the ML default "
            "options (modified dates, patient characteristics), keyed UIDs and pseudonyms, "
            "marking and an audit record; it checks each file for cut-off data and broken pixel "
            "data and writes each output with a no-overwrite hard link from a temporary file, "
            "in <study>/<series>/<sop>.dcm folders. Kept elements are written as the bytes "
            "they had in the source; UIDs, empty values and date shifts are applied to the "
            "raw bytes; values over 256 KiB (native pixel data) are never loaded but copied "
            "from the source file by the kernel (copy_file_range). dicognito applies its "
            "default anonymization and a plain `save_as` into one folder.",
        ]
    )
    write_result("deid", text)


if __name__ == "__main__":
    main()
