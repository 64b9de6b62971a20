"""Shared helpers for the benchmark scripts: timing, tables, machine facts, sample inputs."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"


def compile_radprep() -> None:
    """Compile radprep's modules to bytecode, as a wheel's install does: a whole-process timing
    then measures radprep as users run it, not Python compiling ~100 modules at every start
    (which an editable install under PYTHONDONTWRITEBYTECODE would do)."""
    import compileall

    import radprep

    compileall.compile_dir(str(Path(radprep.__file__).parent), quiet=1)


def timeit(fn: Callable[[], Any], *, repeat: int = 7, warmup: int = 1) -> list[float]:
    """Return per-call wall times in milliseconds."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def stats(ms: list[float]) -> tuple[float, float]:
    """Median and interquartile range."""
    q = np.percentile(ms, [25, 75])
    return statistics.median(ms), float(q[1] - q[0])


def machine() -> str:
    """One line on the machine and versions."""
    import cv2
    import pydicom

    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, pydicom {pydicom.__version__}, OpenCV {cv2.__version__}"
    )


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def write_result(name: str, text: str) -> Path:
    """Print a result and save it under benchmarks/results/."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.md"
    path.write_text(text + "\n")
    print(text)
    print(f"\n(saved to {path})")
    return path


def mammogram_sized(tmp: Path, *, rows: int = 4084, cols: int = 3328) -> dict[str, Path]:
    """Write a mammogram-sized 16-bit CR from the real radiograph RG1 (uncompressed and JPEG 2000).

    The pixels are RG1_UNCR's, resized with OpenCV to `rows` x `cols`; the header is RG1's with
    the size updated, so every reader sees a real CR header.
    """
    import cv2
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless

    ds = pydicom.dcmread(get_testdata_file("RG1_UNCR.dcm", download=False))
    big = cv2.resize(ds.pixel_array, (cols, rows), interpolation=cv2.INTER_CUBIC)
    big = np.clip(big, 0, 2**15 - 1).astype(np.uint16)
    ds.Rows, ds.Columns = rows, cols
    ds.PixelData = big.tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    raw = tmp / "mammo_uncompressed.dcm"
    ds.save_as(raw, enforce_file_format=True)
    j2k = tmp / "mammo_j2k_lossless.dcm"
    if not j2k.exists():
        ds.compress(JPEG2000Lossless, big)
        ds.save_as(j2k, enforce_file_format=True)
    return {"uncompressed": raw, "j2k": j2k}
