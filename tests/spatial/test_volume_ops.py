"""Volume steps on real data: resampling (geometry kept honest), N4 on a real MR slice, nnU-Net's
CT normalisation, crop to the body, window channels, pseudo-colour, slices out of a volume, and
the transforms' specs."""

from __future__ import annotations

import time

import numpy as np
import pytest
import SimpleITK as sitk

from radprep.clean.foreground import foreground_mask
from radprep.color.pseudocolor import pseudocolor
from radprep.color.windows import resolve_windows, window_stack
from radprep.errors import InputError, SpecError
from radprep.geometry import Geometry
from radprep.intensity.bias import n4_bias_correction
from radprep.intensity.normalize import CTStats, ct_foreground_stats, ct_normalize
from radprep.intensity.window import window_values
from radprep.io.dicom import read_dicom
from radprep.io.series import read_series
from radprep.pipeline.spec import validate_step
from radprep.sample import Sample
from radprep.spatial.crop import crop_to_foreground
from radprep.spatial.itk import from_sitk, to_sitk
from radprep.spatial.resample import resample_to_grid, resample_to_spacing
from radprep.spatial.volume import take_slice
from radprep.transforms.base import Transform
from radprep.transforms.color import PseudoColor, WindowStack
from radprep.transforms.spatial import CropToForeground
from radprep.transforms.volume import (
    CTNormalize,
    N4Bias,
    ResampleSpacing,
    SliceVolume,
)
from realfiles import MR_SMALL, testdata
from series_data import ct_series, split_emri


@pytest.fixture(scope="module")
def mr(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    folder = tmp_path_factory.mktemp("mr")
    split_emri(folder)
    image = read_series(folder)
    mask = np.zeros(image.pixels.shape, np.uint8)
    mask[3:7, 20:40, 10:30] = 1
    return Sample(image=image, masks={"roi": mask}, id="mr")


@pytest.fixture(scope="module")
def ct(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    folder = tmp_path_factory.mktemp("ct")
    ct_series(folder, n=6, size=64)
    image = read_series(folder)
    # Air around the real CT crop, as around a body.
    pixels = np.full((10, 96, 96), -1000.0, np.float32)
    pixels[2:8, 16:80, 20:84] = image.pixels
    geo = image.geometry.pad((2, 16, 20))
    return Sample(image=image.evolve(pixels, image.history[0], geometry=geo), id="ct")


def test_itk_helper_round_trips_axis_order_and_geometry(mr: Sample) -> None:
    img = to_sitk(mr.image.pixels, mr.image.geometry)
    assert img.GetSize() == (64, 64, 10)  # ITK: (cols, rows, slices)
    # ITK's index (x, y, z) = our (col, row, slice): the same physical point.
    np.testing.assert_allclose(
        img.TransformIndexToPhysicalPoint((5, 7, 3)),
        mr.image.geometry.index_to_world((3, 7, 5)),
        atol=1e-9,
    )
    arr, geo = from_sitk(img)
    np.testing.assert_array_equal(arr, mr.image.pixels)
    np.testing.assert_allclose(geo.direction, mr.image.geometry.direction)
    with pytest.raises(InputError, match=r"does not fit a geometry of 3 axes"):
        to_sitk(np.zeros((2, 3)), mr.image.geometry)


def test_resample_to_spacing_keeps_extent_direction_and_physical_points(mr: Sample) -> None:
    geo = mr.image.geometry
    out, new = resample_to_spacing(mr.image.pixels, geo, (2.4, 1.4, 1.8))
    assert out.shape == (5, 32, 32) and out.dtype == np.float32
    assert new.direction == geo.direction
    # The extent's first corner is kept.
    np.testing.assert_allclose(new.index_to_world((-0.5,) * 3), geo.index_to_world((-0.5,) * 3))
    # A value at a resampled voxel equals the input interpolated at that physical point.
    point = new.index_to_world((2, 10, 11))
    ref = to_sitk(mr.image.pixels, geo)
    interp = sitk.Resample(ref, [1, 1, 1], sitk.Transform(), sitk.sitkLinear, point)
    assert out[2, 10, 11] == pytest.approx(sitk.GetArrayFromImage(interp)[0, 0, 0], abs=1e-3)
    smooth, _ = resample_to_spacing(mr.image.pixels, geo, 1.0, interpolation="bspline")
    assert smooth.shape == (12, 45, 58)


def test_resample_masks_by_nearest_keeps_labels(mr: Sample) -> None:
    labels = mr.masks["roi"] * 3
    out, _ = resample_to_spacing(labels, mr.image.geometry, 0.5, interpolation="nearest")
    assert out.dtype == np.uint8 and set(np.unique(out)) == {0, 3}
    back = resample_to_grid(out, _, labels.shape, mr.image.geometry)
    assert np.mean(back == labels) > 0.98


def test_resample_transform_moves_masks_and_geometry(mr: Sample) -> None:
    t = ResampleSpacing(spacing_mm=[2.4, 1.4, 1.8])
    out = t(mr)
    assert out.image.pixels.shape == out.masks["roi"].shape == (5, 32, 32)
    assert out.image.geometry.spacing == (2.4, 1.4, 1.8)
    assert out.image.history[-1].params["shape"] == [5, 32, 32]
    assert Transform.from_spec(t.to_spec()) == t
    with pytest.raises(SpecError, match=r"spacing_mm must be > 0"):
        ResampleSpacing(spacing_mm=0)
    with pytest.raises(SpecError, match=r"interpolation='cubic' is not valid"):
        ResampleSpacing(spacing_mm=1, interpolation="cubic")  # type: ignore[arg-type]


def test_n4_lowers_the_coefficient_of_variation_of_a_biased_real_mr_slice() -> None:
    image = read_dicom(testdata(MR_SMALL)).pixels.astype(np.float32)  # a real 64x64 MR slice
    obj = foreground_mask(image)
    rows, cols = np.mgrid[0:64, 0:64] / 64.0
    field = np.exp((cols - 0.5) + 0.6 * (rows - 0.5)).astype(np.float32)  # x0.58 .. x1.72
    biased = image * field

    def cv(a: np.ndarray) -> float:
        return float(np.std(a[obj]) / np.mean(a[obj]))

    t0 = time.perf_counter()
    corrected = n4_bias_correction(biased, shrink_factor=2)
    seconds = time.perf_counter() - t0
    reduction = 1 - cv(corrected) / cv(biased)
    print(
        f"N4: CV {cv(biased):.3f} -> {cv(corrected):.3f} ({reduction:.0%} lower), {seconds:.2f} s"
    )
    assert reduction >= 0.30
    assert corrected.shape == image.shape and corrected.dtype == np.float32


def test_n4_options_are_checked() -> None:
    img = np.ones((8, 8), np.float32)
    with pytest.raises(SpecError, match=r"shrink_factor must be >= 1"):
        n4_bias_correction(img, shrink_factor=0)
    with pytest.raises(InputError, match=r"no positive pixel"):
        n4_bias_correction(-img)
    with pytest.raises(InputError, match=r"mask is empty"):
        n4_bias_correction(img, mask=np.zeros((8, 8), bool))
    with pytest.raises(SpecError, match=r"control_points must be >= 4"):
        N4Bias(control_points=3)


def test_n4_transform_on_a_volume(mr: Sample) -> None:
    out = N4Bias(shrink_factor=2, iterations=[10, 10])(mr)
    assert out.image.pixels.shape == mr.image.pixels.shape
    assert out.image.history[-1].name == "n4_bias"
    assert out.masks["roi"] is mr.masks["roi"]  # intensity step: masks untouched


def test_ct_normalize_is_nnunets_formula(ct: Sample) -> None:
    hu = ct.image.pixels
    fg = hu > -500
    values = hu[fg].astype(np.float64)
    lo, hi = np.percentile(values, [0.5, 99.5])
    expected = (np.clip(hu, lo, hi) - values.mean()) / values.std()
    got = ct_normalize(hu, mask=fg)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    # Dataset-level statistics (nnU-Net's fingerprint) over two "cases".
    stats = ct_foreground_stats([(hu, fg), (hu[::-1], fg[::-1])])
    assert stats.lower == pytest.approx(lo) and stats.std == pytest.approx(values.std())
    np.testing.assert_allclose(ct_normalize(hu, stats=stats), expected, atol=1e-4)
    t = CTNormalize(stats=stats.to_list())
    np.testing.assert_allclose(t(ct).image.pixels, expected, atol=1e-4)
    assert Transform.from_spec(t.to_spec()) == t
    with pytest.raises(SpecError, match=r"stats=\[1, 0, 0, 1\] must be \[lower, upper"):
        CTNormalize(stats=[1, 0, 0, 1])
    with pytest.raises(InputError, match=r"mask is empty: no foreground voxel"):
        ct_normalize(hu, mask=np.zeros(hu.shape, bool))
    with pytest.raises(SpecError, match=r"stats lower=2 is above upper=1"):
        ct_normalize(hu, stats=CTStats(2, 1, 0, 1))


def test_crop_to_body_finds_the_box_and_moves_the_origin(ct: Sample) -> None:
    _, box = crop_to_foreground(ct.image.pixels, threshold=-500.0)
    assert box == (2, 16, 20, 7, 79, 83)
    body = Transform.from_spec({"op": "crop_to_body", "margin_px": 1})
    assert body == CropToForeground(threshold=-500.0, margin_px=1)
    masked = Sample(ct.image, {"m": ct.image.pixels > 0})
    out = body(masked)
    assert out.image.pixels.shape == (8, 66, 66)
    np.testing.assert_array_equal(out.masks["m"], out.image.pixels > 0)
    np.testing.assert_allclose(
        out.image.geometry.origin, ct.image.geometry.index_to_world((1, 15, 19))
    )
    with pytest.raises(InputError, match=r"nothing above the foreground threshold 5000"):
        crop_to_foreground(ct.image.pixels, threshold=5000)
    with pytest.raises(InputError, match=r"margin_px has 2 values but sample 'ct' has 3 axes"):
        CropToForeground(margin_px=[1, 1])(ct)


def test_window_stack_gives_brain_subdural_bone_channels(ct: Sample) -> None:
    hu = ct.image.pixels
    stack = window_stack(hu)
    assert stack.shape == (*hu.shape, 3) and stack.dtype == np.float32
    for i, (c, w) in enumerate([(40, 80), (80, 200), (600, 2800)]):
        np.testing.assert_array_equal(stack[..., i], window_values(hu, c, w))
    assert resolve_windows(["lung", [50, 350]]) == ((-600.0, 1500.0), (50.0, 350.0))
    with pytest.raises(
        SpecError, match=r"windows\[0\]='skull' is not a CT preset; choose one of brain"
    ):
        window_stack(hu, ["skull"])
    t = WindowStack()
    out = t(ct)
    assert out.image.pixels.shape == (*hu.shape, 3) and out.image.meta.intensity == "display"
    assert out.image.history[-1].params["resolved"][2] == [600.0, 2800.0]
    assert Transform.from_spec(t.to_spec()) == t
    with pytest.raises(InputError, match=r"window_stack needs grey values"):
        t(out)


def test_pseudocolor_of_a_volume(mr: Sample) -> None:
    rgb = pseudocolor(mr.image.pixels, cmap="jet", in_range="image")
    assert rgb.shape == (10, 64, 64, 3) and rgb.dtype == np.uint8
    out = Transform.from_spec({"op": "pseudocolor_volume", "cmap": "turbo"})(mr)
    assert out.image.meta.photometric_interpretation == "RGB"
    assert out.image.history[-1].params["in_range"] == "image"
    np.testing.assert_array_equal(
        out.image.pixels, PseudoColor(cmap="turbo", in_range="image")(mr).image.pixels
    )


def test_slices_out_of_a_volume(mr: Sample) -> None:
    out = SliceVolume()(mr)
    np.testing.assert_array_equal(out.image.pixels, mr.image.pixels[5])
    assert out.image.geometry.spacing == mr.image.geometry.spacing[1:]
    step = out.image.history[-1].params
    assert step["slice"] == 5
    np.testing.assert_allclose(step["origin"], mr.image.geometry.index_to_world((5, 0, 0)))
    largest = SliceVolume(index="largest_mask")(mr)
    assert largest.image.history[-1].params["slice"] == 3
    assert largest.masks["roi"].shape == (64, 64) and largest.masks["roi"].sum() == 400
    sag = SliceVolume(axis="sagittal", index=-1)(mr)
    np.testing.assert_array_equal(sag.image.pixels, mr.image.pixels[:, :, 63])
    np.testing.assert_array_equal(
        take_slice(mr.image.pixels, 2, axis="coronal"), mr.image.pixels[:, 2]
    )
    with pytest.raises(SpecError, match=r"slice 10 does not exist; the axis has 10 slices"):
        SliceVolume(index=10)(mr)
    with pytest.raises(SpecError, match=r"index='first' is not valid"):
        SliceVolume(index="first")  # type: ignore[arg-type]


FORMER = {"crop_to_body": "crop_to_foreground", "pseudocolor_volume": "pseudocolor"}


def test_volume_steps_validate_in_recipes() -> None:
    for spec in (
        {"op": "resample_spacing", "spacing_mm": [1, 1, 1], "interpolation": "bspline"},
        {"op": "crop_to_body", "threshold": None},
        {"op": "n4_bias", "shrink_factor": 2},
        {"op": "ct_normalize", "stats": [-100, 200, 50, 40]},
        {"op": "window_stack", "windows": ["brain", "subdural", [600, 2800]]},
        {"op": "slice_volume", "index": "largest_mask"},
        {"op": "pseudocolor_volume"},
    ):
        built = validate_step(spec, "steps[0]").to_spec()["op"]
        assert built == FORMER.get(spec["op"], spec["op"])
    with pytest.raises(SpecError, match=r"steps\[0\]: windows\[0\]='nope' is not a CT preset"):
        validate_step({"op": "window_stack", "windows": ["nope"]}, "steps[0]")


def test_geometry_convention_is_the_same_as_the_2d_one() -> None:
    # The 3D helpers follow Geometry's own convention: a pad then crop is the identity.
    g = Geometry(spacing=(2.0, 1.0, 0.5), origin=(1.0, 2.0, 3.0))
    assert g.pad((1, 2, 3)).crop((1, 2, 3)).origin == pytest.approx(g.origin)
