"""Decode benchmark: `read_dicom` with the header window against plain pydicom, and the index.

Plain pydicom is what a careful user writes: ``ds = dcmread(p); a = ds.pixel_array;
apply_voi_lut(apply_modality_lut(a, ds), ds)``. Target: radprep within 10% of it (issue 2).
Run: ``make bench`` or ``.venv/bin/python benchmarks/decode.py``.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.pixels.processing import apply_modality_lut, apply_voi_lut

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, mammogram_sized, stats, table, timeit, write_result
from radprep.datasets.scan import scan_dicom
from radprep.io import read_dicom

warnings.simplefilter("ignore")


def plain_pydicom(path: Path) -> None:
    ds = pydicom.dcmread(path)
    apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)


def ours(path: Path) -> None:
    read_dicom(path, voi="header")


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="radprep-bench-"))
    try:
        files = {
            "CT 512x512 (693_UNCR)": Path(get_testdata_file("693_UNCR.dcm", download=False)),
            "MR 1024x1024 (MR2_UNCR)": Path(get_testdata_file("MR2_UNCR.dcm", download=False)),
            "CR 1955x1841 (RG1_UNCR)": Path(get_testdata_file("RG1_UNCR.dcm", download=False)),
            "CR 1955x1841 J2K (RG1_J2KR)": Path(get_testdata_file("RG1_J2KR.dcm", download=False)),
        }
        mammo = mammogram_sized(tmp)
        files["mammogram 4084x3328 uncompressed"] = mammo["uncompressed"]
        files["mammogram 4084x3328 J2K lossless"] = mammo["j2k"]
        rows = []
        for label, path in files.items():
            rep = 3 if "J2K" in label else 9
            p_med, p_iqr = stats(timeit(lambda p=path: plain_pydicom(p), repeat=rep))
            o_med, o_iqr = stats(timeit(lambda p=path: ours(p), repeat=rep))
            rows.append(
                [
                    label,
                    f"{p_med:.1f} ± {p_iqr:.1f}",
                    f"{o_med:.1f} ± {o_iqr:.1f}",
                    f"{o_med / p_med:.2f}",
                ]
            )
        t1 = table(
            [
                "file",
                "plain pydicom ms (median ± IQR)",
                "radprep read_dicom ms",
                "radprep / pydicom",
            ],
            rows,
        )

        # Index: a tree of every pydicom and pydicom-data file, three copies.
        import data_store
        import pydicom.data as pdata

        tree = tmp / "tree"
        for i in range(3):
            shutil.copytree(Path(pdata.__file__).parent / "test_files", tree / f"p{i}")
            shutil.copytree(Path(data_store.__file__).parent / "data", tree / f"d{i}")
        all_files = [p for p in tree.rglob("*") if p.is_file()]

        def plain_index() -> None:
            for p in all_files:
                with contextlib.suppress(Exception):
                    pydicom.dcmread(p, stop_before_pixels=True)

        t0 = time.perf_counter()
        plain_index()
        plain_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = scan_dicom(tree)
        ours_s = time.perf_counter() - t0
        n = len(all_files)
        t2 = table(
            [f"index of {n} files", "files/s", "instances indexed"],
            [
                ["plain dcmread(stop_before_pixels=True) loop", f"{n / plain_s:.0f}", "-"],
                ["radprep scan_dicom (Parquet rows)", f"{n / ours_s:.0f}", str(result.n_instances)],
            ],
        )
        write_result("decode", f"# Decode and index\n\n{machine()}\n\n{t1}\n\n{t2}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
