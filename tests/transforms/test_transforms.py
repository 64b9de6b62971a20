"""Transforms: specs round-trip, options fail early, masks and geometry follow, history grows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radprep.errors import InputError, SpecError
from radprep.geometry import Geometry
from radprep.image import Image, ImageMeta
from radprep.sample import Sample
from radprep.transforms import (
    CLAHE,
    CropSquareKeepROI,
    CropToBBox,
    CropToForeground,
    FlipToLaterality,
    GreyToRGB,
    MinMax,
    OccludeROI,
    PadToSquare,
    PercentileClip,
    PseudoColor,
    RemoveBorderResidue,
    RemoveLabels,
    RemovePectoral,
    Resize,
    Rot90,
    Transform,
    WindowStack,
    ZScore,
    known_ops,
)
from radprep.transforms.volume import (
    CTNormalize,
    N4Bias,
    ResampleSpacing,
    SliceVolume,
)

EXAMPLES: list[Transform] = [
    CropSquareKeepROI(masks=["mass", "calc"], side=40, oversize="pad", fill=1.5),
    CropToBBox(masks="mass", margin_px=[3, 4]),
    CropToBBox(bbox=[1, 2, 30, 40], margin_mm=2.5),
    CropToForeground(margin_px=7),
    CropToForeground(threshold=None, margin_px=[2, 3, 3]),
    PadToSquare(fill=2.0, align="end"),
    Resize(size=[299, 299], fit="letterbox", interpolation="area", align="start"),
    Resize(size=256, fit="shortest_side"),
    FlipToLaterality(chest_wall="right", source="labels", label_key="side"),
    Rot90(k=3),
    OccludeROI(masks=["mass"], buffer_px=10, fill="noise", seed=4),
    RemoveBorderResidue(value=65535, tolerance=16.0, fill=0.0),
    RemoveLabels(fill=3.0),
    RemoveLabels(mask="breast"),
    RemovePectoral(fill=1.0),
    CLAHE(clip_limit=3.0, tile_grid=[4, 6]),
    ZScore(mask="breast", outside=0.0),
    MinMax(mask="breast", out_range=[-1, 1]),
    PercentileClip(lower=1.0, upper=99.0),
    PseudoColor(cmap="viridis", ycbcr=True, in_range=[0, 4095]),
    WindowStack(windows=[[40, 80], [80, 200], [600, 2800]]),
    GreyToRGB(),
    # Volume steps (issue 8): their behaviour is tested in tests/spatial/test_volume_ops.py.
    ResampleSpacing(spacing_mm=[2.0, 0.5, 0.5], interpolation="bspline"),
    N4Bias(shrink_factor=2, iterations=[20, 10]),
    CTNormalize(stats=[-100, 300, 40, 60]),
    WindowStack(windows=["brain", [80, 200], "bone"]),
    PseudoColor(cmap="turbo", in_range="image"),
    SliceVolume(axis="coronal", index=3),
]


def test_examples_cover_every_registered_op() -> None:
    assert sorted({t.op for t in EXAMPLES}) == known_ops()


@pytest.mark.parametrize("transform", EXAMPLES, ids=lambda t: t.op)
def test_spec_round_trips_through_json(transform: Transform) -> None:
    spec = transform.to_spec()
    assert spec["op"] == transform.op
    again = Transform.from_spec(json.loads(json.dumps(spec)))
    assert again == transform
    assert type(again) is type(transform)


def test_from_spec_errors_list_the_known_ops() -> None:
    with pytest.raises(SpecError, match=r"unknown op 'sharpen'; known ops: clahe, crop_square"):
        Transform.from_spec({"op": "sharpen"})
    with pytest.raises(SpecError, match=r"has no 'op'; known ops: clahe"):
        Transform.from_spec({"size": 3})
    with pytest.raises(SpecError, match=r"op 'rot90': .*unexpected keyword argument 'turns'"):
        Transform.from_spec({"op": "rot90", "turns": 2})


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Resize(size=0), r"size must be > 0, got 0"),
        (lambda: Resize(size=(2, 2), fit="shortest_side"), r"fit='shortest_side' takes one int"),
        (lambda: Resize(size=3, fit="cover"), r"fit='cover' is not valid; choose one of 'stretch'"),
        (lambda: Resize(size=3, interpolation="bilinear"), r"interpolation='bilinear' is not"),
        (lambda: CropSquareKeepROI(oversize="grow"), r"oversize='grow' is not valid"),
        (lambda: CropSquareKeepROI(masks=[1]), r"masks must name masks \(strings\)"),
        (lambda: CropToBBox(bbox=(1, 2, 3)), r"bbox must have 4 values"),
        (lambda: CropToBBox(bbox=(1, 2, 3, 4), masks="a"), r"give bbox or masks, not both"),
        (lambda: CropToBBox(margin_px=2, margin_mm=1.0), r"give margin_px or margin_mm"),
        (lambda: CropToForeground(margin_px=-1), r"margin_px must be >= 0, got -1"),
        (lambda: PadToSquare(align="middle"), r"align='middle' is not valid"),
        (lambda: FlipToLaterality(source="dicom"), r"source='dicom' is not valid; choose one of"),
        (lambda: FlipToLaterality(chest_wall="up"), r"chest_wall='up' is not valid"),
        (lambda: Rot90(k=1.5), r"k must be a whole number of quarter turns, got 1.5"),
        (lambda: OccludeROI(fill="blur"), r"fill='blur' is not valid; choose a number"),
        (lambda: OccludeROI(buffer_px=-3), r"buffer_px must be >= 0, got -3"),
        (lambda: RemoveBorderResidue(tolerance=-1), r"tolerance must be >= 0"),
        (lambda: CLAHE(tile_grid=(8,)), r"tile_grid must have 2 values"),
        (lambda: MinMax(out_range=(1, 1)), r"out_range=\(1, 1\) is empty"),
        (lambda: PercentileClip(lower=120), r"lower must be in \[0, 100\], got 120"),
        (lambda: PercentileClip(lower=60, upper=40), r"lower=60 is above upper=40"),
        (lambda: PseudoColor(cmap="no-such-map"), r"cmap='no-such-map' is not an OpenCV colormap"),
        (lambda: PseudoColor(in_range="bits"), r"in_range='bits' is not valid"),
        (lambda: WindowStack(windows=[]), r"windows is empty"),
        (lambda: WindowStack(windows=[(40, 0)]), r"windows\[0\] width 0.0 is below 1"),
        (lambda: CropToForeground(margin_px=[1, 2, 3, 4]), r"margin_px needs 1, 2 or 3 values"),
    ],
)
def test_options_fail_at_construction(build, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        build()


# --- applying ----------------------------------------------------------------------------------


def _mammogram(laterality: str | None = "R") -> Sample:
    """A small 16-bit portrait "mammogram": breast at the right, an ROI, and a residue strip."""
    rows, cols = 120, 80
    pixels = np.full((rows, cols), 200, np.uint16)
    yy, xx = np.mgrid[:rows, :cols]
    breast = (yy - 60) ** 2 / 55**2 + (xx - 80) ** 2 / 60**2 < 1
    pixels[breast] = 30000
    pixels[:, :3] = 65535  # white residue along the left edge
    mass = np.zeros((rows, cols), bool)
    mass[90:100, 50:60] = True
    calc = np.zeros((rows, cols), np.uint8)
    calc[20:23, 70:73] = 1
    geometry = Geometry(spacing=(0.1, 0.1), origin=(0.0, 0.0), spacing_source="ImagerPixelSpacing")
    image = Image(pixels, geometry, ImageMeta(modality="MG", laterality=laterality))
    return Sample(image, {"mass": mass, "calc": calc}, {"laterality": "RIGHT"}, "case-1")


def test_crop_square_moves_masks_and_geometry_and_records_the_box() -> None:
    sample = _mammogram()
    out = CropSquareKeepROI(masks="mass")(sample)
    assert out.image.pixels.shape == (80, 80)
    step = out.image.history[-1]
    assert step.name == "crop_square_keep_roi"
    assert step.params["box"] == [40, 0, 119, 79] and step.params["roi_cut_px"] == [0, 0, 0, 0]
    json.dumps(step.to_dict())
    np.testing.assert_array_equal(out.masks["mass"], sample.masks["mass"][40:120])
    assert out.masks["calc"].dtype == np.uint8
    assert out.image.geometry.origin == pytest.approx((4.0, 0.0))
    assert sample.image.history == ()  # the input sample is untouched
    assert out.id == "case-1" and out.labels == sample.labels


def test_notebook_pipeline_on_a_sample() -> None:
    steps = [
        OccludeROI(masks="mass", buffer_px=5),
        CropSquareKeepROI(masks="mass"),
        RemoveBorderResidue(),
        Resize(size=(30, 30)),
    ]
    sample = _mammogram()
    for step in steps:
        sample = step(sample)
    assert sample.image.pixels.shape == (30, 30) and sample.image.pixels.dtype == np.uint16
    assert [s.name for s in sample.image.history] == [t.op for t in steps]
    assert int(sample.image.pixels.max()) < 65535  # residue gone
    mass = sample.masks["mass"]
    assert mass.dtype == bool and mass.any()
    assert sample.image.pixels[mass].max() == 0  # the occluded ROI is black
    assert sample.image.geometry.spacing == pytest.approx((80 * 0.1 / 30, 80 * 0.1 / 30))


@pytest.mark.parametrize(
    ("source", "laterality", "labels", "flipped", "found_in"),
    [
        ("header", "R", {}, True, "header"),
        ("header", "L", {}, False, "header"),
        ("labels", "L", {"laterality": "RIGHT"}, True, "labels"),
        ("auto", None, {"laterality": "LEFT"}, False, "labels"),
        ("auto", None, {}, True, "detect"),
        ("detect", "L", {"laterality": "LEFT"}, True, "detect"),
    ],
)
def test_flip_to_laterality_sources(
    source: str, laterality: str | None, labels: dict, flipped: bool, found_in: str
) -> None:
    base = _mammogram(laterality)
    sample = Sample(base.image, base.masks, labels, base.id)
    out = FlipToLaterality(chest_wall="left", source=source)(sample)  # type: ignore[arg-type]
    step = out.image.history[-1].params
    assert step["flipped"] is flipped and step["laterality_from"] == found_in
    want = sample.masks["mass"][:, ::-1] if flipped else sample.masks["mass"]
    np.testing.assert_array_equal(out.masks["mass"], want)
    if flipped:
        assert out.image.geometry.direction[3] == -1.0
        assert out.image.geometry.origin == pytest.approx((0.0, 7.9))


def test_flip_to_laterality_missing_sources_fail_with_advice() -> None:
    sample = Sample(_mammogram(None).image, {}, {}, "x")
    with pytest.raises(InputError, match=r"sample 'x' has no ImageLaterality \(0020,0062\)"):
        FlipToLaterality(source="header")(sample)
    with pytest.raises(InputError, match=r"sample 'x' has no label 'laterality'"):
        FlipToLaterality(source="labels")(sample)


def test_pad_letterbox_and_rotation_move_masks() -> None:
    sample = _mammogram()
    padded = PadToSquare(fill=5.0)(sample)
    assert padded.image.pixels.shape == (120, 120) and padded.masks["mass"].shape == (120, 120)
    assert padded.masks["mass"].sum() == sample.masks["mass"].sum()
    assert padded.image.pixels[0, 0] == 5 and not padded.masks["mass"][:, :20].any()
    boxed = Resize(size=(60, 60), fit="letterbox")(sample)
    assert boxed.image.pixels.shape == (60, 60) and boxed.masks["calc"].shape == (60, 60)
    assert set(np.unique(boxed.masks["calc"])) <= {0, 1}
    turned = Rot90(k=1)(sample)
    np.testing.assert_array_equal(turned.masks["mass"], np.rot90(sample.masks["mass"]))


def test_crop_to_bbox_in_millimetres_and_without_spacing() -> None:
    sample = _mammogram()
    out = CropToBBox(masks="mass", margin_mm=0.5)(sample)  # 0.5 mm at 0.1 mm/px = 5 px
    assert out.image.history[-1].params["box"] == [85, 45, 104, 64]
    no_spacing = Sample.from_array(sample.image.pixels, masks=sample.masks, id="y")
    with pytest.raises(InputError, match=r"sample 'y' has no pixel spacing .* use margin_px"):
        CropToBBox(masks="mass", margin_mm=0.5)(no_spacing)
    empty = Sample.from_array(np.zeros((5, 5)), masks={"mass": np.zeros((5, 5), bool)}, id="z")
    with pytest.raises(InputError, match=r"sample 'z' has no ROI pixel to crop to"):
        CropToBBox(masks="mass")(empty)
    with pytest.raises(InputError, match=r"sample 'z' has no mask 'lesion'; masks: 'mass'"):
        CropToBBox(masks="lesion")(empty)
    with pytest.raises(InputError, match=r"sample 'z' has no ROI pixel to occlude"):
        OccludeROI()(empty)


def test_occlusion_noise_seed_comes_from_the_generator() -> None:
    sample = _mammogram()
    occlude = OccludeROI(masks="mass", fill="noise", buffer_px=2)
    a = occlude(sample, rng=np.random.default_rng(5))
    b = occlude(sample, rng=np.random.default_rng(5))
    c = occlude(sample)
    np.testing.assert_array_equal(a.image.pixels, b.image.pixels)
    assert a.image.history[-1].params["seed"] == b.image.history[-1].params["seed"]
    assert c.image.history[-1].params["seed"] == 0
    assert a.image.history[-1].params["box"] == [88, 48, 101, 61]
    assert a.masks is not sample.masks and a.masks["mass"] is sample.masks["mass"]


def test_intensity_and_colour_transforms_touch_the_image_only() -> None:
    sample = _mammogram()
    geometry = sample.image.geometry
    for transform in [
        ZScore(mask="mass"),
        MinMax(),
        PercentileClip(),
        CLAHE(),
        RemoveLabels(),
        PseudoColor(cmap="jet", ycbcr=True, in_range="image"),
        GreyToRGB(),
    ]:
        out = transform(sample)
        assert out.image.geometry == geometry
        assert all(out.masks[k] is sample.masks[k] for k in sample.masks)
        assert out.image.history[-1].name == transform.op
    coloured = PseudoColor(ycbcr=True, in_range="image")(sample)
    assert coloured.image.pixels.shape == (120, 80, 3)
    assert coloured.image.meta.photometric_interpretation == "YBR_FULL"
    stacked = WindowStack(windows=[(100, 200), (30000, 1000)])(sample)
    assert stacked.image.pixels.shape == (120, 80, 2) and stacked.image.meta.intensity == "display"
    z = ZScore(mask="mass", outside=0.0)(sample).image.pixels
    assert z.dtype == np.float32 and np.all(z[~sample.masks["mass"]] == 0)


def test_transforms_take_a_bare_image_and_return_an_image() -> None:
    image = _mammogram().image
    out = Resize(size=(12, 8))(image)
    assert isinstance(out, Image) and out.pixels.shape == (12, 8)
    assert out.history[-1].params["shape"] == [12, 8]
    centred = CropSquareKeepROI()(image)
    assert centred.history[-1].params["box"] == [20, 0, 99, 79]


def test_crop_to_foreground_transform_and_sample_grid_check() -> None:
    sample = _mammogram()
    out = CropToForeground(margin_px=1)(RemoveBorderResidue()(sample))
    y0, x0, y1, x1 = out.image.history[-1].params["box"]
    assert y0 <= 6 and y1 >= 114 and x1 == 79 and x0 > 10  # the breast, not the residue
    assert out.masks["mass"].sum() == sample.masks["mass"].sum()
    with pytest.raises(InputError, match=r"mask 'm' has shape \(2, 2\) but the image's grid is"):
        Sample(sample.image, {"m": np.zeros((2, 2), bool)})
