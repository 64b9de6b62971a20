"""De-identification speed: radprep beside dicognito, on the same files, in one run.

Both tools read each file with pydicom, de-identify it and write it to disk, one process, one
file at a time; the figure is files per second over the whole set (median of the repeats). The
files are every real DICOM file of pydicom's test files, pydicom-data and deid-data that both
tools handle (radprep writes quarantined images to a hold folder here, so that it does all the
work for every file).

dicognito is the comparison: ``pip install dicognito`` (it is in radprep's ``test`` extra).
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

import pydicom

from _common import machine, stats, table, timeit, write_result
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
        config = DeidConfig(quarantine="hold", quarantine_dir=Path(tmp) / "held")
        for i, src in enumerate(pydicom_files() + pydicom_data_files() + deid_data_files()):
            try:
                r = deidentify_file(src, Path(tmp) / "probe" / str(i), config, KEY)
                if r.path is None:
                    continue
                ds = pydicom.dcmread(src)
                anonymizer_cls().anonymize(ds)
                ds.save_as(Path(tmp) / f"{i}.dcm")
            except Exception:
                continue
            files.append(src)
    return files


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
    config = DeidConfig()

    def mem_radprep() -> None:
        for src, data in blobs:
            new, _ = deidentify_dataset(pydicom.dcmread(io.BytesIO(data)), config, KEY)
            _encode(new, src)

    def mem_dicognito() -> None:
        anonymizer = anonymizer_cls()
        for _, data in blobs:
            ds = pydicom.dcmread(io.BytesIO(data))
            anonymizer.anonymize(ds)
            ds.save_as(io.BytesIO())

    def disk_radprep(root: str | None) -> None:
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            cfg = DeidConfig(quarantine="hold", quarantine_dir=Path(tmp) / "held")
            for i, src in enumerate(files):
                # One output folder per input: the corpora hold compressed twins of one instance.
                deidentify_file(src, Path(tmp) / "out" / str(i), cfg, KEY)

    def disk_dicognito(root: str | None) -> None:
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            anonymizer = anonymizer_cls()
            for i, src in enumerate(files):
                ds = pydicom.dcmread(src)
                anonymizer.anonymize(ds)
                ds.save_as(Path(tmp) / f"{i}.dcm")

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
        (m1, q1), (m2, q2) = (stats(timeit(fn, repeat=5, warmup=1)) for fn in (ours, theirs))
        fps1, fps2 = len(files) / (m1 / 1000.0), len(files) / (m2 / 1000.0)
        rows.append(
            [
                label,
                f"{fps1:.0f} ({m1 / 1000:.2f} ± {q1 / 1000:.2f} s)",
                f"{fps2:.0f} ({m2 / 1000:.2f} ± {q2 / 1000:.2f} s)",
                f"{fps1 / fps2:.2f}x",
            ]
        )
    text = "\n".join(
        [
            "# De-identification",
            "",
            machine() + f", dicognito {dicognito.__version__}",
            "",
            f"{len(files)} real DICOM files ({size_mb:.0f} MB: pydicom test files, pydicom-data, "
            "deid-data), one at a time in one process; files/s over the set (median ± IQR of "
            "5 runs of the whole set).",
            "",
            table(["setting", "radprep files/s", "dicognito files/s", "radprep / dicognito"], rows),
            "",
            "radprep applies the whole PS3.15 Basic Profile as an allowlist with the ML default "
            "options (modified dates, patient characteristics), keyed UIDs and pseudonyms, "
            "marking and an audit record; to files it writes each output through "
            "`atomic_write_bytes` (temporary file, rename) after a no-overwrite check, "
            "in <study>/<series>/<sop>.dcm folders (three folder levels per file). dicognito "
            "applies its default anonymization and a plain `save_as` into one folder. In "
            "process, about a third of radprep's time is pydicom's per-element writer and a "
            "sixth the profile's actions.",
        ]
    )
    write_result("deid", text)


if __name__ == "__main__":
    main()
