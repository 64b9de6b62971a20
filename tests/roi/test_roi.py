"""ROI ops: boxes from masks, occlusion, merged or separate masks, patches."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radprep.errors import InputError, RadprepWarning, SpecError
from radprep.roi import (
    bbox_from_mask,
    bboxes_from_mask,
    boxes_overlap,
    clip_bbox,
    expand_bbox,
    extract_patches,
    merge_masks,
    occlude_roi,
    occlusion_box,
    stack_masks,
    union_bbox,
)


@st.composite
def images_and_rois(draw: st.DrawFn) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    rows = draw(st.integers(1, 30))
    cols = draw(st.integers(1, 30))
    # Boxes touching row 0, column 0, the last row and the last column are drawn often.
    y0 = draw(st.one_of(st.just(0), st.integers(0, rows - 1)))
    y1 = draw(st.one_of(st.just(rows - 1), st.integers(y0, rows - 1)))
    x0 = draw(st.one_of(st.just(0), st.integers(0, cols - 1)))
    x1 = draw(st.one_of(st.just(cols - 1), st.integers(x0, cols - 1)))
    image = np.arange(1, rows * cols + 1, dtype=np.int32).reshape(rows, cols)
    return image, (y0, x0, y1, x1)


# --- boxes -------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(images_and_rois())
def test_bbox_from_mask_is_inclusive(case) -> None:
    image, (y0, x0, y1, x1) = case
    mask = np.zeros(image.shape, dtype=np.uint8)
    mask[y0 : y1 + 1, x0 : x1 + 1] = 255
    assert bbox_from_mask(mask) == (y0, x0, y1, x1)


def test_bboxes_from_mask_gives_one_box_per_component_and_their_union() -> None:
    mask = np.zeros((20, 20), dtype=bool)
    mask[0:2, 0:3] = True  # touches row 0 and column 0
    mask[10:19, 15:20] = True  # touches the last column
    mask[5, 5] = True
    boxes = bboxes_from_mask(mask)
    assert boxes == [(10, 15, 18, 19), (0, 0, 1, 2), (5, 5, 5, 5)]  # largest first
    assert union_bbox(boxes) == bbox_from_mask(mask) == (0, 0, 18, 19)
    assert bboxes_from_mask(np.zeros((3, 3), bool)) == []
    # Diagonal neighbours join under 8-connectivity only.
    diagonal = np.eye(3, dtype=bool)
    assert len(bboxes_from_mask(diagonal)) == 1
    assert len(bboxes_from_mask(diagonal, connectivity=4)) == 3


def test_box_errors_say_what_was_wrong() -> None:
    with pytest.raises(InputError, match=r"mask of shape \(3, 4\) is empty: no ROI pixel"):
        bbox_from_mask(np.zeros((3, 4)))
    with pytest.raises(SpecError, match=r"union_bbox needs at least one box, got none"):
        union_bbox([])
    with pytest.raises(SpecError, match=r"connectivity=6 is not valid; choose one of 4, 8"):
        bboxes_from_mask(np.zeros((3, 3)), connectivity=6)
    with pytest.raises(SpecError, match=r"mask must be 2D, got 3D"):
        bbox_from_mask(np.zeros((3, 3, 3)))
    with pytest.raises(SpecError, match=r"margin must be >= 0, got -2"):
        expand_bbox((1, 1, 2, 2), -2)


def test_expand_and_clip() -> None:
    assert expand_bbox((5, 5, 6, 6), 10) == (-5, -5, 16, 16)
    assert expand_bbox((5, 5, 6, 6), (1, 2), shape=(8, 7)) == (4, 3, 7, 6)
    assert clip_bbox((-3, 2, 40, 5), (10, 10)) == (0, 2, 9, 5)
    assert boxes_overlap((0, 0, 2, 2), (2, 2, 3, 3))
    assert not boxes_overlap((0, 0, 2, 2), (3, 0, 4, 2))


# --- occlusion ---------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(images_and_rois(), st.integers(0, 12))
def test_occlude_changes_exactly_the_box_plus_buffer(case, buffer_px: int) -> None:
    image, (y0, x0, y1, x1) = case
    before = image.copy()
    out = occlude_roi(image, (y0, x0, y1, x1), buffer_px=buffer_px, fill=0)
    np.testing.assert_array_equal(image, before)  # the input is not changed
    rows, cols = image.shape
    expected = np.zeros(image.shape, dtype=bool)
    expected[
        max(0, y0 - buffer_px) : min(rows, y1 + buffer_px + 1),
        max(0, x0 - buffer_px) : min(cols, x1 + buffer_px + 1),
    ] = True
    np.testing.assert_array_equal(out == 0, expected)  # every input pixel is >= 1
    np.testing.assert_array_equal(out[~expected], image[~expected])


@pytest.mark.parametrize(
    "box",
    [
        pytest.param((0, 5, 3, 9), id="touches-row-0"),
        pytest.param((5, 0, 9, 3), id="touches-column-0"),
        pytest.param((16, 5, 19, 9), id="touches-last-row"),
        pytest.param((5, 26, 9, 29), id="touches-last-column"),
        pytest.param((0, 0, 19, 29), id="whole-image"),
    ],
)
def test_occlude_roi_at_the_edges(box: tuple[int, int, int, int]) -> None:
    image = np.ones((20, 30), np.uint8)
    out = occlude_roi(image, box, buffer_px=2)
    y0, x0, y1, x1 = box
    want = np.ones((20, 30), np.uint8)
    want[max(0, y0 - 2) : y1 + 3, max(0, x0 - 2) : x1 + 3] = 0
    np.testing.assert_array_equal(out, want)


def _notebook_occlude(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The notebook's occlusion: y1 and x1 inclusive maxima, but exclusive slice ends."""
    y0, x0, y1, x1 = box
    out = image.copy()
    out[y0 - 50 : y1 + 50, x0 - 50 : x1 + 50] = 0
    return out


def test_occlusion_covers_the_last_buffer_row_the_notebook_misses() -> None:
    image = np.ones((400, 300), np.uint8)
    box = (150, 100, 200, 160)
    ours = occlude_roi(image, box, buffer_px=50)
    theirs = _notebook_occlude(image, box)
    assert (ours == 0).sum() == (201 + 50 - 100) * (161 + 50 - 50)  # rows 100..250, cols 50..210
    diff = np.argwhere(ours != theirs)
    assert set(diff[:, 0]) | set(diff[:, 1]) >= {250, 210}  # the notebook stops one short
    assert theirs[250, 100] == 1 and theirs[120, 210] == 1
    assert occlusion_box(box, image.shape, buffer_px=50) == (100, 50, 250, 210)


def test_notebook_occlusion_near_the_top_wraps_and_ours_clips() -> None:
    image = np.ones((400, 300), np.uint8)
    box = (10, 100, 40, 120)
    theirs = _notebook_occlude(image, box)  # -40:90 is an empty slice: nothing is occluded
    assert (theirs == 0).sum() == 0
    ours = occlude_roi(image, box)
    assert np.all(ours[0:91, 50:171] == 0) and (ours == 0).sum() == 91 * 121


def test_occlude_fill_mean_and_seeded_noise() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(100, 200, (60, 50, 3)).astype(np.uint16)
    out = occlude_roi(image, (20, 20, 29, 29), buffer_px=0, fill="mean")
    np.testing.assert_array_equal(out[25, 25], np.rint(image.mean(axis=(0, 1))))
    noise_a = occlude_roi(image, (20, 20, 29, 29), buffer_px=2, fill="noise", seed=7)
    noise_b = occlude_roi(image, (20, 20, 29, 29), buffer_px=2, fill="noise", seed=7)
    noise_c = occlude_roi(image, (20, 20, 29, 29), buffer_px=2, fill="noise", seed=8)
    np.testing.assert_array_equal(noise_a, noise_b)
    assert not np.array_equal(noise_a, noise_c)
    region = noise_a[18:32, 18:32].astype(float)
    assert abs(region.mean() - image.mean()) < 5 and region.std() > 10
    np.testing.assert_array_equal(noise_a[:18], image[:18])


def test_occlude_takes_a_mask_and_rejects_bad_fill() -> None:
    image = np.ones((10, 10), np.float32)
    mask = np.zeros((10, 10), bool)
    mask[4:6, 4:6] = True
    out = occlude_roi(image, mask, buffer_px=1, fill=-1.0)
    assert (out == -1).sum() == 16
    with pytest.raises(SpecError, match=r"fill='median' is not valid; choose a number, 'mean'"):
        occlude_roi(image, mask, fill="median")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"buffer_px must be >= 0, got -1"):
        occlude_roi(image, mask, buffer_px=-1)


# --- masks -------------------------------------------------------------------------------------


def test_masks_merged_or_kept_apart() -> None:
    a = np.zeros((5, 5), np.uint8)
    a[0, 0] = 255
    b = np.zeros((5, 5), bool)
    b[4, 4] = True
    merged = merge_masks({"mass": a, "calc": b})
    assert merged.dtype == bool and merged.sum() == 2 and merged[0, 0] and merged[4, 4]
    stacked = stack_masks([a, b])
    assert stacked.shape == (2, 5, 5) and stacked[0].sum() == 1 and stacked[1, 4, 4]
    assert a[0, 0] == 255  # inputs untouched
    with pytest.raises(InputError, match=r"masks\[1\] has shape \(4, 4\) but masks\[0\] has"):
        merge_masks([a, np.zeros((4, 4))])
    with pytest.raises(SpecError, match=r"need at least one mask, got none"):
        stack_masks([])


# --- patches -----------------------------------------------------------------------------------


def test_roi_patches_are_centred_and_background_patches_avoid_every_roi() -> None:
    image = np.arange(200 * 150, dtype=np.int32).reshape(200, 150)
    rois = [(40, 40, 59, 59), (150, 100, 160, 110)]
    patches = extract_patches(image, rois, sizes=(32, 16), background=5, seed=3)
    roi_patches = [p for p in patches if p.kind == "roi"]
    background = [p for p in patches if p.kind == "background"]
    assert [(p.roi_index, p.pixels.shape) for p in roi_patches] == [
        (0, (32, 32)),
        (0, (16, 16)),
        (1, (32, 32)),
        (1, (16, 16)),
    ]
    assert roi_patches[0].box == (33, 33, 64, 64)  # centre 49 - 16
    assert len(background) == 10
    for p in patches:
        y0, x0, y1, x1 = p.box
        np.testing.assert_array_equal(p.pixels, image[y0 : y1 + 1, x0 : x1 + 1])
        assert not np.shares_memory(p.pixels, image)
    for p in background:
        assert not any(boxes_overlap(p.box, roi) for roi in rois)


def test_patches_are_seeded_jittered_and_stay_inside() -> None:
    image = np.zeros((64, 64), np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[0:4, 60:64] = True  # an ROI in the top-right corner
    a = extract_patches(image, mask, sizes=(20,), jitter_px=5, per_roi=6, seed=11)
    b = extract_patches(image, mask, sizes=(20,), jitter_px=5, per_roi=6, seed=11)
    assert [p.box for p in a] == [p.box for p in b]
    for p in a:
        y0, x0, y1, x1 = p.box
        assert y0 >= 0 and y1 < 64 and x0 >= 0 and x1 < 64 and p.pixels.shape == (20, 20)
    free = extract_patches(
        np.zeros((200, 200)), [(90, 90, 99, 99)], jitter_px=8, per_roi=40, sizes=(20,)
    )
    centres = {(p.box[0] + 10, p.box[1] + 10) for p in free}  # top-left + side // 2
    assert len(centres) > 10
    assert all(86 <= cy <= 102 and 86 <= cx <= 102 for cy, cx in centres)


def test_background_patches_respect_the_background_mask_and_warn_when_short() -> None:
    image = np.zeros((100, 100), np.uint8)
    inside = np.zeros((100, 100), bool)
    inside[:, :50] = True
    patches = extract_patches(image, [], sizes=(10,), background=8, background_mask=inside, seed=0)
    assert all(inside[p.box[0] + 5, p.box[1] + 5] for p in patches)
    with pytest.warns(RadprepWarning, match=r"found 0 of 3 background patches of size 90"):
        out = extract_patches(image, [(40, 40, 60, 60)], sizes=(90,), background=3, max_tries=20)
    assert [p.kind for p in out] == ["roi"]


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"sizes": (101,)}, SpecError, r"patch size 101 exceeds the 100x100 image"),
        ({"sizes": (0,)}, SpecError, r"sizes must be > 0, got 0"),
        ({"background": -1}, SpecError, r"background must be >= 0, got -1"),
        (
            {"sizes": (10,), "background_mask": np.ones((5, 5), bool)},
            InputError,
            r"background_mask has shape \(5, 5\) but the image is 100x100",
        ),
    ],
)
def test_patch_errors(kwargs: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        extract_patches(np.zeros((100, 100)), [(1, 1, 2, 2)], **kwargs)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 120), st.integers(1, 120), st.floats(0.02, 0.8), st.integers(0, 2**32 - 1))
def test_component_boxes_match_scipy(rows: int, cols: int, p: float, seed: int) -> None:
    from scipy import ndimage

    mask = np.random.default_rng(seed).random((rows, cols)) < p
    for connectivity, structure in ((8, np.ones((3, 3))), (4, None)):
        labels, _ = ndimage.label(mask, structure=structure)
        areas = np.bincount(labels.ravel())[1:]
        expected = [
            (s[0].start, s[1].start, s[0].stop - 1, s[1].stop - 1)
            for s in ndimage.find_objects(labels)
        ]
        boxes = bboxes_from_mask(mask, connectivity=connectivity)
        assert sorted(boxes) == sorted(expected)
        if len(set(expected)) == len(expected):  # each box names one component: largest first
            area = dict(zip(expected, areas, strict=True))
            assert all(area[a] >= area[b] for a, b in itertools.pairwise(boxes))


def test_component_boxes_of_more_components_than_16_bits_count() -> None:
    mask = np.zeros((600, 600), bool)
    mask[::2, ::2] = True  # 90,000 single pixels
    boxes = bboxes_from_mask(mask)
    assert len(boxes) == 90_000 and boxes[0] == (0, 0, 0, 0) and boxes[-1] == (598, 598, 598, 598)


@pytest.mark.parametrize("seed", range(4))
def test_equal_components_keep_the_order_of_the_whole_mask_labelling(seed: int) -> None:
    # Only the window holding the pixels is labelled; equal areas (ties) still come in the
    # order OpenCV's labelling of the whole mask gives them.
    import cv2

    rng = np.random.default_rng(seed)
    mask = np.zeros((301, 207), np.uint8)
    for _ in range(9):  # nine 2x2 blobs: all the same area
        y, x = rng.integers(3, 298), rng.integers(3, 204)
        mask[y : y + 2, x : x + 2] = 1
    for connectivity in (4, 8):
        _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=connectivity)
        order = np.argsort(-stats[1:, cv2.CC_STAT_AREA], kind="stable") + 1
        expected = [
            (int(y), int(x), int(y + h - 1), int(x + w - 1))
            for x, y, w, h in (stats[i, :4] for i in order)
        ]
        assert bboxes_from_mask(mask, connectivity=connectivity) == expected
