"""Spatial ops on arrays: square crop keeping the ROI, box crops, padding, resizing, orientation."""

from __future__ import annotations

import cv2
import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radprep.errors import InputError, SpecError
from radprep.spatial import (
    chest_wall_side,
    crop_square_keep_roi,
    crop_to_bbox,
    crop_to_foreground,
    fit_shape,
    flip,
    flip_to_laterality,
    margin_px_from_mm,
    normalize_laterality,
    pad_to_shape,
    pad_to_square,
    resize,
    resize_letterbox,
    resize_mask,
    resize_shortest_side,
    rot90,
    square_box_keep_roi,
)
from realfiles import CR_MONO1_15BIT, testdata


@st.composite
def shapes_and_rois(draw: st.DrawFn, max_side: int = 40) -> tuple[tuple[int, int], tuple]:
    """An image shape (portrait, landscape, square; odd or even) and an inclusive ROI inside it."""
    rows = draw(st.integers(1, max_side))
    cols = draw(st.integers(1, max_side))
    y0 = draw(st.integers(0, rows - 1))
    y1 = draw(st.integers(y0, rows - 1))
    x0 = draw(st.integers(0, cols - 1))
    x1 = draw(st.integers(x0, cols - 1))
    return (rows, cols), (y0, x0, y1, x1)


@pytest.fixture(scope="module")
def cr_15bit() -> np.ndarray:
    """The 15-bit CR radiograph's stored pixels (1955x1841 uint16)."""
    return pydicom.dcmread(testdata(CR_MONO1_15BIT)).pixel_array


def _ramp(shape: tuple[int, ...]) -> np.ndarray:
    return np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)


# --- crop_square_keep_roi: properties ---------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(shapes_and_rois(), st.data())
def test_square_crop_stays_inside_and_keeps_roi_that_fits(case, data) -> None:
    (rows, cols), roi = case
    short = min(rows, cols)
    side = data.draw(st.one_of(st.none(), st.integers(1, short)), label="side")
    image = _ramp((rows, cols))
    out, crop = crop_square_keep_roi(image, roi, side=side)
    want = short if side is None else side
    y0, x0, y1, x1 = crop.box
    assert out.shape == (want, want)
    assert y0 >= 0 and x0 >= 0 and y1 < rows and x1 < cols
    np.testing.assert_array_equal(out, image[y0 : y1 + 1, x0 : x1 + 1])
    ry0, rx0, ry1, rx1 = roi
    fits = ry1 - ry0 + 1 <= want and rx1 - rx0 + 1 <= want
    contains = y0 <= ry0 and x0 <= rx0 and ry1 <= y1 and rx1 <= x1
    assert contains == fits
    assert crop.cut == (not fits)
    lost = (max(0, y0 - ry0), max(0, x0 - rx0), max(0, ry1 - y1), max(0, rx1 - x1))
    assert crop.roi_cut_px == lost


@settings(max_examples=60, deadline=None)
@given(shapes_and_rois())
def test_square_crop_pad_policy_keeps_whole_roi(case) -> None:
    (rows, cols), roi = case
    image = _ramp((rows, cols)) + 1
    out, crop = crop_square_keep_roi(image, roi, oversize="pad", fill=0)
    ry0, rx0, ry1, rx1 = roi
    side = max(min(rows, cols), ry1 - ry0 + 1, rx1 - rx0 + 1)
    y0, x0, y1, x1 = crop.box
    assert out.shape == (side, side)
    assert not crop.cut
    assert y0 <= ry0 and x0 <= rx0 and ry1 <= y1 and rx1 <= x1
    # Inside the image the crop shows the image; outside it shows the fill.
    inside = out[max(0, -y0) : rows - y0, max(0, -x0) : cols - x0]
    np.testing.assert_array_equal(inside, image[max(0, y0) : y1 + 1, max(0, x0) : x1 + 1])
    assert int((out == 0).sum()) == side * side - inside.size


def test_square_crop_accepts_a_mask_with_several_components() -> None:
    mask = np.zeros((30, 10), dtype=bool)
    mask[3:5, 2:4] = True
    mask[9:11, 6:8] = True
    out, crop = crop_square_keep_roi(np.ones((30, 10), np.uint16), mask)
    assert crop.box == (1, 0, 10, 9)  # centre row (3 + 10) // 2 = 6, start 6 - 5
    assert out.shape == (10, 10)


def test_square_crop_without_roi_is_centred() -> None:
    assert square_box_keep_roi((31, 10), None).box == (10, 0, 19, 9)
    assert square_box_keep_roi((10, 31), None).box == (0, 10, 9, 19)


def test_square_crop_returns_a_view_and_keeps_channels() -> None:
    image = np.zeros((50, 20, 3), np.uint8)
    out, _ = crop_square_keep_roi(image, (30, 5, 35, 9))
    assert out.shape == (20, 20, 3)
    assert np.shares_memory(out, image)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"side": 11}, r"side=11 exceeds the image's short side \(20x10\)"),
        ({"side": 0}, r"side must be > 0, got 0"),
        ({"oversize": "grow"}, r"oversize='grow' is not valid; choose one of 'centre', 'pad'"),
    ],
)
def test_square_crop_rejects_bad_options(kwargs: dict, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        crop_square_keep_roi(np.zeros((20, 10)), (1, 1, 2, 2), **kwargs)


def test_square_crop_rejects_masks_off_the_grid_and_empty_masks() -> None:
    with pytest.raises(
        InputError, match=r"roi mask has shape \(5, 5\) but the image is \(20, 10\)"
    ):
        crop_square_keep_roi(np.zeros((20, 10)), np.ones((5, 5), bool))
    with pytest.raises(InputError, match=r"mask of shape \(20, 10\) is empty"):
        crop_square_keep_roi(np.zeros((20, 10)), np.zeros((20, 10), bool))


# --- crop_square_keep_roi against the CBIS-DDSM notebook ---------------------------------------


def notebook_crop_box(mask: np.ndarray) -> tuple[int, int]:
    """Return the notebook's crop rows ``[start, stop)`` for a portrait image and its ROI mask.

    A faithful reimplementation of the CBIS-DDSM notebook's square crop, bugs included.
    """
    height, width = mask.shape
    # The notebook scans the rows for the first and last ROI rows, with 0 as "not found".
    top = 0
    for row in range(height):
        if mask[row].any():
            top = row
            break
    bottom = 0
    for row in range(height - 1, -1, -1):
        if mask[row].any():
            bottom = row
            break
    # BUG 1: row index 0 doubles as "no ROI found", so an ROI touching row 0 is taken for
    # no ROI and the crop falls back to the middle of the image.
    centre = height // 2 if top == 0 else (top + bottom) // 2
    start = centre - width // 2
    start = max(start, 0)  # clamped at the top ...
    # BUG 2: ... but not at the bottom: start + width can pass the last row, and slicing then
    # silently returns fewer than `width` rows (a non-square crop).
    return start, start + width


HEIGHT, WIDTH = 200, 80


def _portrait_mask(y0: int, y1: int) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    mask[y0 : y1 + 1, 30:50] = True
    return mask


@pytest.mark.parametrize(
    ("y0", "y1"),
    [
        pytest.param(5, 20, id="roi-at-top"),
        pytest.param(1, 120, id="long-roi-from-row-1"),
        pytest.param(90, 110, id="roi-in-middle"),
        pytest.param(60, 138, id="odd-length-roi-as-long-as-side"),
        pytest.param(150, 155, id="roi-near-bottom-window-fits"),
        pytest.param(130, 190, id="roi-near-bottom-window-ends-at-last-row"),
    ],
)
def test_square_crop_matches_notebook_where_notebook_is_right(y0: int, y1: int) -> None:
    mask = _portrait_mask(y0, y1)
    start, stop = notebook_crop_box(mask)
    assert stop <= HEIGHT  # the notebook's box is inside the image in these cases
    _, crop = crop_square_keep_roi(np.zeros(mask.shape, np.uint8), mask)
    assert (crop.box[0], crop.box[2] + 1) == (start, stop)
    assert (crop.box[1], crop.box[3]) == (0, WIDTH - 1)


def test_notebook_wrong_roi_touching_row_0_is_taken_for_no_roi() -> None:
    mask = _portrait_mask(0, 10)
    start, stop = notebook_crop_box(mask)
    assert (start, stop) == (60, 140)  # centred on the image: the ROI (rows 0..10) is lost
    _, crop = crop_square_keep_roi(np.zeros(mask.shape), mask)
    assert crop.box[0] == 0 and not crop.cut


def test_notebook_wrong_window_leaves_the_image_near_the_bottom() -> None:
    mask = _portrait_mask(170, 180)
    start, stop = notebook_crop_box(mask)
    assert stop > HEIGHT  # rows 135..214 of a 200-row image: a 65-row, non-square crop
    assert np.zeros(mask.shape)[start:stop].shape == (HEIGHT - start, WIDTH)
    out, crop = crop_square_keep_roi(np.zeros(mask.shape), mask)
    assert crop.box == (HEIGHT - WIDTH, 0, HEIGHT - 1, WIDTH - 1)
    assert out.shape == (WIDTH, WIDTH) and not crop.cut


def test_notebook_wrong_even_roi_as_long_as_side_loses_its_last_row() -> None:
    mask = _portrait_mask(50, 129)  # 80 rows: fits the 80x80 square exactly
    start, stop = notebook_crop_box(mask)
    assert (start, stop) == (49, 129)  # (50 + 129) // 2 - 40 = 49: row 129 is cut
    _, crop = crop_square_keep_roi(np.zeros(mask.shape), mask)
    assert crop.box[0] == 50 and crop.box[2] == 129 and not crop.cut


@pytest.mark.parametrize(
    ("roi", "want_cols"),
    [
        pytest.param((2, 3, 8, 9), (0, 29), id="landscape-roi-left"),
        pytest.param((2, 90, 8, 95), (77, 106), id="landscape-roi-middle"),
        pytest.param((2, 190, 8, 199), (170, 199), id="landscape-roi-right"),
    ],
)
def test_square_crop_handles_landscape(roi: tuple, want_cols: tuple[int, int]) -> None:
    _, crop = crop_square_keep_roi(np.zeros((30, 200)), roi)
    assert (crop.box[1], crop.box[3]) == want_cols
    assert (crop.box[0], crop.box[2]) == (0, 29)


def test_square_crop_centre_policy_reports_the_cut() -> None:
    _, crop = crop_square_keep_roi(np.zeros((100, 20)), (10, 0, 49, 19))
    assert crop.box == (19, 0, 38, 19)  # centre row (10 + 49) // 2 = 29, start 29 - 10
    assert crop.roi_cut_px == (9, 0, 11, 0)


# --- other crops and pads ----------------------------------------------------------------------


def test_crop_to_bbox_margin_in_pixels_is_clipped() -> None:
    image = _ramp((20, 30))
    out, box = crop_to_bbox(image, (2, 3, 5, 6), margin_px=4)
    assert box == (0, 0, 9, 10)
    np.testing.assert_array_equal(out, image[0:10, 0:11])
    _, box = crop_to_bbox(image, (10, 10, 12, 12), margin_px=(1, 2))
    assert box == (9, 8, 13, 14)


def test_crop_to_bbox_margin_in_millimetres() -> None:
    assert margin_px_from_mm(2.0, (0.1, 0.25)) == (20, 8)
    assert margin_px_from_mm((1.05, 0.3), (0.1, 0.1)) == (11, 3)
    _, box = crop_to_bbox(
        np.zeros((100, 100)), (40, 40, 50, 50), margin_mm=1.0, spacing_mm=(0.2, 0.5)
    )
    assert box == (35, 38, 55, 52)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"margin_px": 1, "margin_mm": 1.0}, r"give margin_px or margin_mm, not both"),
        ({"margin_mm": 1.0}, r"margin_mm needs spacing_mm \(row, col\)"),
        ({"margin_px": -1}, r"margin must be >= 0, got -1"),
        ({"margin_mm": 1.0, "spacing_mm": (0.0, 1.0)}, r"spacing_mm\[0\] must be > 0"),
    ],
)
def test_crop_to_bbox_rejects_bad_margins(kwargs: dict, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        crop_to_bbox(np.zeros((10, 10)), (1, 1, 2, 2), **kwargs)


def test_crop_to_bbox_rejects_boxes_outside() -> None:
    with pytest.raises(SpecError, match=r"bbox=\(20, 0, 25, 3\) lies outside the 10x10 image"):
        crop_to_bbox(np.zeros((10, 10)), (20, 0, 25, 3))
    with pytest.raises(SpecError, match=r"is empty: need y0 <= y1"):
        crop_to_bbox(np.zeros((10, 10)), (5, 0, 2, 3))


def test_crop_to_foreground_boxes_the_bright_blob() -> None:
    image = np.full((60, 80), 10, np.uint16)
    image[20:40, 5:30] = 3000
    image[2, 70] = 3000  # a speck: not the largest component
    out, box = crop_to_foreground(image, margin_px=2)
    assert box == (18, 3, 41, 31)
    assert out.shape == (24, 29)
    _, box = crop_to_foreground(image, mask=image > 100)
    assert box == (2, 5, 39, 70)


@pytest.mark.parametrize(
    ("shape", "align", "box"),
    [
        ((10, 4), "centre", (0, -3, 9, 6)),
        ((10, 5), "centre", (0, -2, 9, 7)),
        ((10, 4), "start", (0, 0, 9, 9)),
        ((10, 4), "end", (0, -6, 9, 3)),
        ((3, 8), "centre", (-2, 0, 5, 7)),
        ((6, 6), "centre", (0, 0, 5, 5)),
    ],
)
def test_pad_to_square(shape: tuple[int, int], align: str, box: tuple) -> None:
    image = _ramp(shape) + 1
    out, got = pad_to_square(image, fill=0, align=align)  # type: ignore[arg-type]
    side = max(shape)
    assert out.shape == (side, side)
    assert got == box
    y0, x0 = -box[0], -box[1]
    np.testing.assert_array_equal(out[y0 : y0 + shape[0], x0 : x0 + shape[1]], image)
    assert int((out == 0).sum()) == side * side - image.size


def test_pad_to_shape_rejects_smaller_targets_and_bad_align() -> None:
    with pytest.raises(SpecError, match=r"cannot pad a 10x4 image to 8x8"):
        pad_to_shape(np.zeros((10, 4)), (8, 8))
    with pytest.raises(SpecError, match=r"align='middle' is not valid"):
        pad_to_square(np.zeros((10, 4)), align="middle")  # type: ignore[arg-type]


# --- resize ------------------------------------------------------------------------------------


def test_resize_area_matches_single_pass_opencv_area(cr_15bit: np.ndarray) -> None:
    image = cr_15bit[:1840, :1840]
    ours = resize(image, (299, 299)).astype(np.float64)  # 1840 = 3 x 613.3: two passes
    ref = cv2.resize(image, (299, 299), interpolation=cv2.INTER_AREA).astype(np.float64)
    assert np.abs(ours - ref).mean() < 0.005 * float(image.std())
    exact = resize(image, (230, 115))  # integer factors 8 and 16: one exact pass
    np.testing.assert_array_equal(
        exact, cv2.resize(image, (115, 230), interpolation=cv2.INTER_AREA)
    )


def test_resize_area_does_not_alias_where_linear_does() -> None:
    # A one-pixel checkerboard has mean 0.5; area averaging keeps it, INTER_LINEAR does not.
    board = (np.indices((600, 600)).sum(axis=0) % 2).astype(np.float32)
    ours = resize(board, (70, 70))
    assert np.allclose(ours, 0.5, atol=0.02)
    linear = cv2.resize(board, (70, 70), interpolation=cv2.INTER_LINEAR)
    assert np.abs(linear - 0.5).max() > 0.3


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [(), (1,), (3,)])
def test_resize_keeps_dtype_and_channels(dtype: type, channels: tuple[int, ...]) -> None:
    image = np.ones((40, 30, *channels), dtype=dtype)
    for size in [(10, 15), (80, 61)]:
        out = resize(image, size)
        assert out.shape == (*size, *channels)
        assert out.dtype == dtype
        assert np.all(out == 1)


@settings(max_examples=60, deadline=None)
@given(shapes_and_rois(), st.integers(1, 40), st.integers(1, 40))
def test_resized_mask_stays_binary(case, rows: int, cols: int) -> None:
    shape, (y0, x0, y1, x1) = case
    mask = np.zeros(shape, dtype=bool)
    mask[y0 : y1 + 1, x0 : x1 + 1] = True
    out = resize_mask(mask, (rows, cols))
    assert out.dtype == bool and out.shape == (rows, cols)
    as255 = resize_mask(mask.astype(np.uint8) * 255, (rows, cols))
    assert set(np.unique(as255)) <= {0, 255}
    np.testing.assert_array_equal(as255 == 255, out)


def test_resize_rejects_bad_sizes_modes_and_dtypes() -> None:
    with pytest.raises(SpecError, match=r"size must be > 0, got 0"):
        resize(np.zeros((4, 4)), (0, 3))
    with pytest.raises(SpecError, match=r"size must hold whole pixels, got \(2.5, 3\)"):
        resize(np.zeros((4, 4)), (2.5, 3))  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"size must be an int or \(rows, cols\), got \(1, 2, 3\)"):
        resize(np.zeros((4, 4)), (1, 2, 3))  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"interpolation='bilinear' is not valid; choose one of"):
        resize(np.zeros((4, 4)), 2, interpolation="bilinear")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"needs uint8, uint16, int16, float32 or float64 pixels"):
        resize(np.zeros((4, 4), bool), 2, interpolation="area")


def test_resize_shortest_side_and_fit_shape() -> None:
    assert resize_shortest_side(np.zeros((400, 300)), 150).shape == (200, 150)
    assert resize_shortest_side(np.zeros((300, 400)), 150).shape == (150, 200)
    assert fit_shape((400, 300), (299, 299), "letterbox") == (299, 224)
    assert fit_shape((400, 300), (299, 299), "stretch") == (299, 299)
    with pytest.raises(SpecError, match=r"fit='shortest_side' takes one int size"):
        fit_shape((4, 3), (2, 2), "shortest_side")
    with pytest.raises(SpecError, match=r"fit='cover' is not valid"):
        fit_shape((4, 3), 2, "cover")  # type: ignore[arg-type]


def test_resize_letterbox_pads_the_short_side() -> None:
    image = np.full((400, 300), 7, np.uint16)
    out, info = resize_letterbox(image, 299)
    assert out.shape == (299, 299)
    assert info.scaled_shape == (299, 224)
    assert info.box == (0, -37, 298, 261)
    assert np.all(out[:, 37:261] == 7) and np.all(out[:, :37] == 0) and np.all(out[:, 261:] == 0)


# --- orientation -------------------------------------------------------------------------------


def _breast(side: str) -> np.ndarray:
    image = np.zeros((40, 30), np.uint16)
    if side == "left":
        image[5:35, :12] = 1000
    else:
        image[5:35, -12:] = 1000
    return image


@pytest.mark.parametrize(
    ("laterality", "chest_wall", "flipped"),
    [
        ("L", "left", False),
        ("R", "left", True),
        ("LEFT", "right", True),
        ("right", "right", False),
        (" r ", "left", True),
    ],
)
def test_flip_to_laterality_from_header_or_labels(
    laterality: str, chest_wall: str, flipped: bool
) -> None:
    image = _ramp((4, 5))
    out, did = flip_to_laterality(image, laterality, chest_wall=chest_wall)  # type: ignore[arg-type]
    assert did == flipped
    np.testing.assert_array_equal(out, image[:, ::-1] if flipped else image)


@pytest.mark.parametrize("stored", ["left", "right"])
@pytest.mark.parametrize("target", ["left", "right"])
def test_flip_to_laterality_detects_the_tissue_side(stored: str, target: str) -> None:
    image = _breast(stored)
    assert chest_wall_side(image) == stored
    out, did = flip_to_laterality(image, None, chest_wall=target)  # type: ignore[arg-type]
    assert did == (stored != target)
    assert chest_wall_side(out) == target


def test_laterality_errors_name_the_valid_values() -> None:
    with pytest.raises(InputError, match=r"laterality 'B' names no single side; expected L, R"):
        normalize_laterality("B")
    with pytest.raises(SpecError, match=r"chest_wall='top' is not valid; choose one of 'left'"):
        flip_to_laterality(np.zeros((3, 3)), "L", chest_wall="top")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"axis=2 is not valid; choose one of 0, 1"):
        flip(np.zeros((3, 3)), 2)


@pytest.mark.parametrize("k", [-1, 0, 1, 2, 3, 5])
def test_rot90_matches_numpy(k: int) -> None:
    image = _ramp((3, 5))
    np.testing.assert_array_equal(rot90(image, k), np.rot90(image, k))
    assert rot90(image, k).base is not None  # a view
