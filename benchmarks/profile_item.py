"""Where the time of one `cbis-ddsm-299` item goes, stage by stage (issue 16).

One CBIS-DDSM image of the benchmark's inputs (``cbis_inputs.py``: a real mammogram, 16-bit,
uncompressed, with its ROI mask file), each stage timed on its own (median of 7 runs after one
warm-up; the streamed reads and the reads they replace called in turn, median of 15): the
header parse up to the pixel data, the ImageMeta, the pixels streamed from the
file and reduced band by band to the working grid (and, in brackets, the whole-file read and
reduction they replace), the whole image read; the mask's header, its pixels streamed with the
rows holding ROI found, that band's check and reduction (and, in brackets, the whole mask read,
scanned and reduced as before), every step of the recipe
(shared and per branch, timed around the pipeline's own step calls; a branch that begins with
the steps another already ran starts from its result and has no rows of its own), the breast
mask (computed, and taken again for unchanged pixels), the outputs' encoding and atomic writes,
the QA thumbnails and histograms, and the ledger record. The whole item as the run's worker
does it (``ItemJob``) closes the table.

Times are CPU time of this process (user + system, ``time.process_time``), not wall time: on a
shared machine the wall clock counts the other processes' turns too.
Run: ``.venv/bin/python benchmarks/profile_item.py``.
"""

# ruff: noqa: E501  (tables of timed commands read better one per line)

from __future__ import annotations

import collections
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, table, write_result
from cbis_inputs import build_replicated
from radprep.batch.ledger import Ledger
from radprep.clean import breast
from radprep.datasets import cbis_masks
from radprep.io.dicom import (
    _native_view,
    _read,
    _reduce_stored,
    meta_from_dataset,
    read_dicom,
    read_header,
)
from radprep.io.header import read_header_at_pixels
from radprep.io.stream import native_pixels, read_nonzero_native, read_reduced_native
from radprep.jobs import process
from radprep.jobs.outputs import item_outputs
from radprep.jobs.process import ItemJob, list_items
from radprep.pipeline import build
from radprep.pipeline.spec import load_recipe, recipe_hash
from radprep.report.thumbs import histogram, item_report, thumbnail

REPEAT = 7


def median_ms(fn) -> float:
    """Median CPU milliseconds of `fn` over REPEAT calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(REPEAT):
        t0 = time.process_time()
        fn()
        times.append((time.process_time() - t0) * 1000)
    return statistics.median(times)


def interleaved_ms(*fns, repeat: int = 15) -> list[float]:
    """Median CPU milliseconds of each of `fns`, called in turn (so a busy moment of the shared
    machine slows them alike), after one warm-up call each."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, t in zip(fns, times, strict=True):
            t0 = time.process_time()
            fn()
            t.append((time.process_time() - t0) * 1000)
    return [statistics.median(t) for t in times]


def main() -> None:
    cv2.setNumThreads(1)
    tmp = Path(os.environ.get("RADPREP_BENCH_TMP") or tempfile.mkdtemp(prefix="radprep-prof-"))
    root = build_replicated(tmp, 9)
    recipe, _ = load_recipe("cbis-ddsm-299", overrides=[f"source.root={root}"])
    items = list_items(recipe)
    item = items[0]
    out = tmp / "profile-out"
    job = ItemJob(recipe.model_dump_json(exclude={"out"}), str(out), recipe_hash(recipe))
    _, pipe, load = job._built()
    rows: list[list[str]] = []

    def add(stage: str, ms: float) -> None:
        rows.append([stage, f"{ms:.2f}"])

    path = item.path
    add("image: header parse (pydicom, stop before pixels)", median_ms(lambda: read_header(path)))
    add(
        "image: header parsed up to the pixel data, its place checked (streamable?)",
        median_ms(lambda: native_pixels(path, *read_header_at_pixels(path))),
    )
    ds, tell = read_header_at_pixels(path)
    add("image: ImageMeta from the parsed header", median_ms(lambda: meta_from_dataset(ds)))
    px = native_pixels(path, ds, tell)
    meta = meta_from_dataset(ds)
    sample = load(item, recipe.read)
    k = int(sample.image.history[0].params["reduce"])
    grid = sample.image.spatial_shape[:2]
    whole = _read(path, {})
    view = _native_view(whole, meta_from_dataset(whole))
    streamed, parsed, reduced = interleaved_ms(
        lambda: read_reduced_native(px, grid),
        lambda: _read(path, {}),
        lambda: _reduce_stored(view, k),
    )
    add(f"image: pixels streamed in bands, each reduced (1/{2**k}, area, {meta.rows}x{meta.columns} uint16)", streamed)  # fmt: skip
    add("(image, as before: the file read and parsed in one pass, pixels as bytes)", parsed)
    add("(image, as before: the bytes' view reduced to the working grid)", reduced)
    add(
        "image: read_dicom (header, streamed reduced read, min-max window to uint16)",
        median_ms(lambda: read_dicom(path, voi="minmax", out_dtype="uint16", reduce=k)),
    )
    # The ROI's mask file: of its folder's files, the one of the image's size (the other is the
    # cropped image); the index gave their sizes.
    roi = item.extra["rois"][0]
    mask_path = max(
        zip(roi["candidates"], roi["shapes"], strict=True), key=lambda c: c[1][0] * c[1][1]
    )[0]
    add("mask: header parsed up to the pixel data, its place checked", median_ms(lambda: native_pixels(mask_path, *read_header_at_pixels(mask_path))))  # fmt: skip
    mpx = native_pixels(mask_path, *read_header_at_pixels(mask_path))

    def streamed_mask() -> None:
        with read_nonzero_native(mpx):
            pass

    with read_nonzero_native(mpx) as (scratch, roi_rows):
        mask = scratch.copy()
    streamed, onto, parsed, scanned = interleaved_ms(
        streamed_mask,
        lambda: cbis_masks._mask_band_onto(mask, grid, roi_rows),
        lambda: _native_view(d := _read(mask_path, {}), meta_from_dataset(d)),
        lambda: cbis_masks._nonzero_rows(mask),
    )
    add("mask: pixels streamed in bands, the rows holding ROI found and kept", streamed)
    add("mask: that band checked (two values, 0 and 255) and reduced onto the working grid", onto)  # fmt: skip
    add("(mask, as before: the file read and parsed in one pass, bytes viewed)", parsed)
    add("(mask, as before: the rows holding ROI, one 64-bit pass over the whole mask)", scanned)  # fmt: skip
    add("(mask: the whole image checked and reduced, as before the band)", median_ms(lambda: cbis_masks._is_mask(mask) and cbis_masks._mask_onto(mask, grid) is not None))  # fmt: skip
    add("mask: the ROI mask as the loader finds it (all the mask rows above)", median_ms(lambda: cbis_masks._roi_mask(roi, (meta.rows, meta.columns), grid, 20)))  # fmt: skip
    add("load (the source's loader: all of the above and the window)", median_ms(lambda: load(item, recipe.read)))  # fmt: skip

    # The recipe's steps, each timed around the pipeline's own call.
    spent: dict[str, list[float]] = collections.defaultdict(list)
    apply = build._apply

    def timed_apply(t, s, rng, where):
        t0 = time.process_time()
        try:
            return apply(t, s, rng, where)
        finally:
            spent[f"{where} {t.op}"].append((time.process_time() - t0) * 1000)

    build._apply = timed_apply
    try:
        for _ in range(REPEAT + 1):
            branches = pipe.process(sample)
    finally:
        build._apply = apply
    for where, ms in spent.items():
        add(f"step {where}", statistics.median(ms[1:]))
    add("steps, all (shared and the three branches)", median_ms(lambda: pipe.process(sample)))
    pixels = sample.image.pixels

    def computed() -> None:
        breast._MEMO.image = None
        breast.breast_mask(pixels)

    calls = [0]
    inner = breast._breast_small

    def counting(*args, **kwargs):
        calls[0] += 1
        return inner(*args, **kwargs)

    breast._breast_small = counting
    try:
        breast._MEMO.image = None
        pipe.process(sample)
    finally:
        breast._breast_small = inner

    add("breast mask, computed (working grid)", median_ms(computed))
    add("breast mask, the same pixels again (memo)", median_ms(lambda: breast.breast_mask(pixels)))
    rows.append(["breast masks computed for the item's steps", str(calls[0])])
    outputs, written = item_outputs(item, recipe, branches, job.run_hash)
    fresh = iter(range(10**6))  # every write to a new file in an existing folder, as in a run
    for o in outputs:
        spec = recipe.outputs[o.record.output]
        writer = process.get_writer(spec.format, spec.format_options)
        add(
            f"encode {o.record.output} (PNG, 299x299)",
            median_ms(lambda w=writer, o=o: w(o.array, o.geometry)),
        )
        data = writer(o.array, o.geometry)
        add(
            f"atomic write {o.record.output}",
            median_ms(
                lambda o=o, d=data: process.atomic_write_bytes(
                    out / f"w{next(fresh)}" / o.record.path, d
                )
            ),
        )
    add("QA: source thumbnail", median_ms(lambda: thumbnail(sample.image.pixels)))
    add("QA: histogram of the source", median_ms(lambda: histogram(sample.image.pixels)))
    encoded = {
        o.record.output: process.get_writer("png8", {})(o.array, o.geometry) for o in outputs
    }
    add("QA: item_report (2 thumbnails made, 3 outputs' PNGs as theirs, 4 histograms, ROI outline)", median_ms(lambda: item_report(dataclasses.replace(sample, id=f"{next(fresh)}"), written, out, encoded=encoded)))  # fmt: skip

    payload = job(item)
    db = Ledger(tmp / "ledger.sqlite")
    with db:
        add("ledger: record one item (sqlite)", median_ms(lambda: db.record(item.id, run_hash="h", fingerprint="f", ok=True, payload=payload)))  # fmt: skip
    add(
        "the whole item as a worker runs it (ItemJob)",
        median_ms(lambda: job(dataclasses.replace(item, id=f"{next(fresh)}"))),
    )
    timings = {
        k: round(v * 1000, 1)
        for k, v in job(dataclasses.replace(item, id=f"{next(fresh)}"))["timings"].items()
    }
    text = (
        f"# One `cbis-ddsm-299` item, stage by stage\n\n{machine()}\n\n"
        + table(["stage (one CBIS-DDSM mammogram and its ROI mask)", "median ms"], rows)
        + f"\n\nThe item's own timings in wall ms (as run.json's stage_seconds sums them): {json.dumps(timings)}"
    )
    write_result("profile_item", text)


if __name__ == "__main__":
    main()
