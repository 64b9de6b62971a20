"""Decode benchmark: `read_dicom` with the header window against plain pydicom, and the index.

Plain pydicom is what a careful user writes: ``ds = dcmread(p); a = ds.pixel_array;
apply_voi_lut(apply_modality_lut(a, ds), ds)``. Target: radprep within 10% of it (issue 2).
The mammogram-sized image is also read as HTJ2K (radprep: OpenJPH through imagecodecs; pydicom:
OpenJPEG through pylibjpeg-openjpeg) beside JPEG 2000, in full and at 1/8 size (``reduce=3``,
what a 299-pixel recipe reads). Run: ``make bench`` or ``.venv/bin/python benchmarks/decode.py``.
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


def ours(path: Path, reduce: int = 0) -> None:
    read_dicom(path, voi="header", reduce=reduce)


def htj2k_twin(src: Path, dst: Path) -> Path:
    """Write `src` re-encoded as lossless HTJ2K (OpenJPH, 5 decomposition levels)."""
    import imagecodecs
    from pydicom.encaps import encapsulate
    from pydicom.uid import UID

    ds = pydicom.dcmread(src)
    ds.PixelData = encapsulate([imagecodecs.htj2k_encode(ds.pixel_array, reversible=True)])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.201")
    ds.save_as(dst, enforce_file_format=True)
    return dst


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
        files["mammogram 4084x3328 HTJ2K lossless"] = htj2k_twin(
            mammo["uncompressed"], tmp / "mammo_htj2k.dcm"
        )
        files["mammogram 4084x3328 J2K lossless, reduce=3"] = mammo["j2k"]
        files["mammogram 4084x3328 HTJ2K lossless, reduce=3"] = files[
            "mammogram 4084x3328 HTJ2K lossless"
        ]
        rows = []
        for label, path in files.items():
            rep = 3 if "J2K" in label else 9
            k = 3 if "reduce=3" in label else 0
            p_med, p_iqr = stats(timeit(lambda p=path: plain_pydicom(p), repeat=rep))
            o_med, o_iqr = stats(timeit(lambda p=path, k=k: ours(p, k), repeat=rep))
            decoder = read_dicom(path, reduce=k).meta.decoder
            rows.append(
                [
                    label,
                    f"{p_med:.1f} ± {p_iqr:.1f}",
                    f"{o_med:.1f} ± {o_iqr:.1f}",
                    f"{o_med / p_med:.2f}",
                    str(decoder),
                ]
            )
        t1 = table(
            [
                "file",
                "plain pydicom ms (median ± IQR)",
                "radprep read_dicom ms",
                "radprep / pydicom",
                "radprep's decoder",
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
