"""`radprep demo`: the built-in CBIS-DDSM recipe on sample data built from real radiographs.

No download and no server: the sample dataset is made from the radiographs that ship in the
pydicom-data package, in CBIS-DDSM's exact layout and CSV schema.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from radprep.cli._common import EXIT_FAILURES, EXIT_USAGE, console, fail, handle_errors
from radprep.jobs.runner import run_recipe

DATA_VERSION = "1"  # bump when the sample dataset changes, so old copies are rebuilt


def sample_dataset(folder: Path) -> Path:
    """Build the CBIS-DDSM-shaped sample dataset in `folder` unless it is already there."""
    marker = folder / ".radprep-demo-data"
    if marker.exists() and marker.read_text().strip() == DATA_VERSION:
        return folder
    try:
        import data_store  # noqa: F401  (pydicom-data)
    except ImportError:
        raise fail(
            "the demo needs the sample radiographs of pydicom-data: pip install 'radprep[data]'",
            EXIT_USAGE,
        ) from None
    from radprep.datasets.cbis_demo import build_cbis_dataset

    build_cbis_dataset(folder)
    marker.write_text(DATA_VERSION + "\n")
    return folder


@handle_errors
def demo(
    out: Path = typer.Option(Path("radprep-demo"), "--out", "-o", help="Output folder."),
    workers: int | None = typer.Option(None, "--workers", "-j", help="Worker processes."),
) -> None:
    """Run the built-in cbis-ddsm-299 recipe on a sample CBIS-DDSM built from real radiographs."""
    t0 = time.perf_counter()
    data = sample_dataset(out / "cbis-ddsm-sample")
    built = time.perf_counter() - t0
    result = run_recipe(
        "cbis-ddsm-299",
        out=out / "cbis-ddsm-299",
        overrides=[f"source.root={data.resolve()}"],
        workers=workers,
        progress="auto",
    )
    rate = (result.items - result.skipped) / result.seconds if result.seconds else 0.0
    console.print(
        f"radprep demo: {result.items} mammograms (sample data built in {built:.1f} s), "
        f"{result.done} done, {result.failed} failed, {result.outputs} images written in "
        f"{result.seconds:.1f} s ({rate:.1f} images/s)",
        markup=False,
    )
    console.print(f"  sample CBIS-DDSM data: {data.resolve()}", markup=False)
    for name in ("full", "roi_mask", "occluded"):
        console.print(
            f"  {name + ' images:':17s} {(result.out_dir / name).resolve()}", markup=False
        )
    console.print(f"  manifest:         {result.manifest}", markup=False)
    console.print(f"  run record:       {result.run_file}", markup=False)
    report = result.out_dir / "report" / "index.html"
    if report.exists():
        console.print(f"  report:           {report}", markup=False)
    if result.failed:
        console.print(f"  failures:         {result.failures_file}", markup=False)
        raise typer.Exit(EXIT_FAILURES)
