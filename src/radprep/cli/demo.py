"""`radprep demo`: the built-in job on sample data that ships with pydicom-data (no download)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from radprep.cli._common import EXIT_FAILURES, EXIT_USAGE, console, fail, handle_errors
from radprep.datasets.scan import scan_dicom, write_index
from radprep.export.convert import convert as convert_paths
from radprep.intensity.window import VOI

# Real radiographs and cross-sections of pydicom-data: CR (MONOCHROME1, raw and JPEG 2000),
# CT in Hounsfield units, MR and ultrasound colour.
SAMPLE_FILES = (
    "RG1_UNCR.dcm",
    "RG1_J2KR.dcm",
    "RG3_UNCR.dcm",
    "RG3_J2KR.dcm",
    "693_UNCR.dcm",
    "MR2_UNCR.dcm",
    "US1_UNCR.dcm",
)


def sample_paths() -> list[Path]:
    """Return the sample files' paths in the installed pydicom-data package."""
    try:
        import data_store
    except ImportError:
        raise fail(
            "the demo needs the sample data of pydicom-data: pip install 'radprep[data]'",
            EXIT_USAGE,
        ) from None
    root = Path(data_store.__file__).parent / "data"
    return [root / name for name in SAMPLE_FILES]


@handle_errors
def demo(
    out: Path = typer.Option(Path("radprep-demo"), "--out", "-o", help="Output folder."),
) -> None:
    """Convert the sample radiographs of pydicom-data to PNG with their header windows."""
    paths = sample_paths()
    t0 = time.perf_counter()
    result = convert_paths(paths, out / "png", fmt="png8", voi=VOI("header"))
    scan = scan_dicom(paths[0].parent)
    index_path = write_index(scan, out / "index.parquet")
    dt = time.perf_counter() - t0
    console.print(
        f"radprep demo: {result.converted} sample DICOM files converted in {dt:.1f} s", markup=False
    )
    console.print(f"  images: {(out / 'png').resolve()}", markup=False)
    for p in result.written:
        console.print(f"    {p.resolve()}", markup=False)
    console.print(
        f"  index of the sample data ({scan.n_instances} instances): {index_path.resolve()}",
        markup=False,
    )
    if result.failures:
        for _, _, msg in result.failures:
            console.print(f"radprep: error: {msg}", markup=False)
        raise typer.Exit(EXIT_FAILURES)
