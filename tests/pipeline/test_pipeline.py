"""The pipeline a recipe builds: canonical hashing, registries, random streams, reduced reads."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from radprep.datasets.sources import Item, load_dicom
from radprep.errors import SpecError
from radprep.geometry import Geometry
from radprep.image import Image
from radprep.pipeline import Pipeline, load_recipe, recipe_hash
from radprep.sample import Sample
from realfiles import CR_MONO1_15BIT, testdata


def _sample(sample_id: str = "s1") -> Sample:
    pixels = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    roi = np.zeros((64, 64), np.uint8)
    roi[20:30, 24:40] = 1
    return Sample(image=Image(pixels, Geometry.pixels(2)), masks={"roi": roi}, id=sample_id)


def _noise_recipe(*, first_enabled: bool) -> dict[str, Any]:
    noisy = {"steps": [{"op": "occlude_roi", "buffer_px": 2, "fill": "noise"}], "format": "npy"}
    return {
        "version": 1,
        "source": {"kind": "dicom-folder", "root": "."},
        "outputs": {"a": {**noisy, "enabled": first_enabled}, "b": noisy},
    }


def _drawn_seed(branch: Sample) -> int:
    return int(branch.image.history[-1].params["seed"])


def test_each_branch_draws_from_its_own_stream() -> None:
    both = Pipeline.from_recipe(_noise_recipe(first_enabled=True)).process(_sample())
    only_b = Pipeline.from_recipe(_noise_recipe(first_enabled=False)).process(_sample())
    assert set(only_b) == {"b"}
    # Turning branch a on or off leaves branch b's draws (and pixels) as they were.
    assert _drawn_seed(both["b"]) == _drawn_seed(only_b["b"])
    np.testing.assert_array_equal(both["b"].image.pixels, only_b["b"].image.pixels)
    # Two branches with the same steps still draw differently: the stream is per branch.
    assert _drawn_seed(both["a"]) != _drawn_seed(both["b"])
    # The same sample id gives the same draws; another id, others.
    again = Pipeline.from_recipe(_noise_recipe(first_enabled=True)).process(_sample())
    assert _drawn_seed(again["a"]) == _drawn_seed(both["a"])
    other = Pipeline.from_recipe(_noise_recipe(first_enabled=True)).process(_sample("s2"))
    assert _drawn_seed(other["b"]) != _drawn_seed(both["b"])


def test_a_generator_is_made_only_for_steps_that_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    from radprep.pipeline import build
    from radprep.transforms.roi import OccludeROI

    made: list[tuple[Any, ...]] = []
    real = build.sample_rng

    def counting(*args: Any) -> np.random.Generator:
        made.append(args)
        return real(*args)

    monkeypatch.setattr(build, "sample_rng", counting)
    recipe = _noise_recipe(first_enabled=True)
    recipe["steps"] = [{"op": "resize", "size": 48}]  # shared and deterministic
    recipe["outputs"]["plain"] = {"steps": [{"op": "crop_square_keep_roi"}], "format": "npy"}
    out = Pipeline.from_recipe(recipe).process(_sample())
    assert made == [(0, "s1", "a"), (0, "s1", "b")]
    # The draws are those of the branch's own stream, as when every branch had its generator.
    want = OccludeROI(buffer_px=2, fill="noise").make_params(real(0, "s1", "b"))["seed"]
    assert _drawn_seed(out["b"]) == want


def _hash(recipe: Any, *overrides: str) -> str:
    loaded, _ = load_recipe(recipe, overrides=overrides)
    return recipe_hash(loaded)


def _occlusion_recipe(step: dict[str, Any], root: str = "data") -> dict[str, Any]:
    return {
        "version": 1,
        "source": {"kind": "dicom-folder", "root": root},
        "outputs": {"occluded": {"steps": [step, {"op": "resize", "size": 32}]}},
    }


def test_recipe_hash_is_over_the_canonical_defaults_filled_recipe() -> None:
    plain = _hash(_occlusion_recipe({"op": "occlude_roi"}))
    # A default written out, or a number written as a string, is the same recipe.
    assert _hash(_occlusion_recipe({"op": "occlude_roi", "buffer_px": 50})) == plain
    assert _hash(_occlusion_recipe({"op": "occlude_roi", "buffer_px": "50"})) == plain
    assert _hash(_occlusion_recipe({"buffer_px": 50, "op": "occlude_roi", "fill": 0})) == plain
    # Where the data lives is not part of it: moving the data redoes nothing.
    assert _hash(_occlusion_recipe({"op": "occlude_roi"}, root="/elsewhere/data")) == plain
    # What changes the outputs changes the hash.
    assert _hash(_occlusion_recipe({"op": "occlude_roi", "buffer_px": 51})) != plain
    assert _hash(_occlusion_recipe({"op": "occlude_roi", "boxes": "component"})) != plain


def test_builtin_recipe_hash_ignores_written_out_defaults_and_the_data_folder() -> None:
    builtin = _hash("cbis-ddsm-299")
    assert _hash("cbis-ddsm-299", "outputs.full.steps.1.fit=stretch") == builtin
    assert _hash("cbis-ddsm-299", "outputs.full.steps.1.interpolation=auto") == builtin
    assert _hash("cbis-ddsm-299", "source.root=/data/CBIS-DDSM", "source.csv=[a.csv]") == builtin
    # A disabled output is not part of what the run writes.
    assert _hash("cbis-ddsm-299", "outputs.patches.patches.per_roi=3") == builtin
    assert _hash("cbis-ddsm-299", "outputs.full.steps.1.fit=letterbox") != builtin
    assert _hash("cbis-ddsm-299", "outputs.patches.enabled=true") != builtin


def test_steps_are_stored_canonically_with_their_defaults() -> None:
    recipe, _ = load_recipe(_occlusion_recipe({"op": "occlude_roi", "buffer_px": "12"}))
    step = recipe.outputs["occluded"].steps[0]
    assert step["buffer_px"] == 12 and isinstance(step["buffer_px"], int)
    assert step == {
        "op": "occlude_roi",
        "masks": None,
        "buffer_px": 12,
        "fill": 0.0,
        "boxes": "union",
        "seed": 0,
    }
    # The canonical form validates to the same recipe.
    again, _ = load_recipe(recipe.model_dump(mode="json"))
    assert recipe_hash(again) == recipe_hash(recipe)


def test_step_errors_keep_their_location() -> None:
    bad = _occlusion_recipe({"op": "occlude_roi", "buffer_px": -3})
    with pytest.raises(SpecError, match=r"outputs\.occluded\.steps\[0\]\.buffer_px: .*>= 0"):
        load_recipe(bad)
    with pytest.raises(SpecError, match=r"outputs\.occluded\.steps\[0\]\.buffer: occlude_roi has"):
        load_recipe(_occlusion_recipe({"op": "occlude_roi", "buffer": 3}))


def _reduced_and_full(outputs: dict[str, Any]) -> tuple[dict[str, Sample], dict[str, Sample]]:
    """Run the same recipe on RG1_UNCR (1955x1841) read reduced (auto) and at full size."""
    path = testdata(CR_MONO1_15BIT)
    item = Item(id="rg1", path=str(path), fingerprint="")
    runs = []
    for reduce in ("auto", 0):
        recipe, _ = load_recipe(
            {
                "version": 1,
                "source": {"kind": "dicom-folder", "root": "."},
                "read": {"window": "minmax", "dtype": "float32", "reduce": reduce},
                "outputs": outputs,
            }
        )
        runs.append(Pipeline.from_recipe(recipe).process(load_dicom(item, recipe.read)))
    return runs[0], runs[1]


def _step(sample: Sample, op: str) -> dict[str, Any]:
    return next(s.params for s in sample.image.history if s.name == op)


def test_pixel_options_are_in_the_file_pixels_when_read_reduced() -> None:
    resize = {"op": "resize", "size": 250}
    reduced, full = _reduced_and_full(
        {
            "square": {"steps": [{"op": "crop_square_keep_roi", "side": 1000}, resize]},
            "box": {
                "steps": [
                    {"op": "crop_to_bbox", "bbox": [200, 300, 1199, 1099], "margin_px": 40},
                    resize,
                ]
            },
        }
    )
    read = reduced["square"].image.history[0].params
    assert read["reduce"] == 2  # 1/4: the short side 1841 -> 461 still covers 250
    scale = 4
    for name, op in (("square", "crop_square_keep_roi"), ("box", "crop_to_bbox")):
        small, big = _step(reduced[name], op), _step(full[name], op)
        # The history keeps the recipe's options (file pixels) ...
        assert {k: v for k, v in small.items() if k != "box"} == {
            k: v for k, v in big.items() if k != "box"
        }
        # ... and the region cut is the same, within one pixel of the reduced grid.
        region_small = np.array(small["box"]) * scale
        assert np.abs(region_small - np.array(big["box"])).max() <= scale, (small, big)
        # The outputs agree: the same part of the radiograph at the same size.
        a, b = reduced[name].image.pixels, full[name].image.pixels
        assert a.shape == b.shape == (250, 250)
        assert np.abs(a - b).mean() < 0.01
    assert _step(full["square"], "crop_square_keep_roi")["side"] == 1000
    assert _step(full["box"], "crop_to_bbox")["box"] == [160, 260, 1239, 1139]


def test_transforms_declare_their_pixel_options() -> None:
    from radprep.transforms import CropSquareKeepROI, CropToBBox, OccludeROI

    assert OccludeROI.pixel_options == ("buffer_px",)
    occlude = OccludeROI(buffer_px=50)
    at_quarter = occlude.at_scale(4)
    assert at_quarter.buffer_px == 12 and occlude.buffer_px == 50
    assert at_quarter.step().params["buffer_px"] == 50  # the history keeps the recipe's value
    assert CropSquareKeepROI(side=1000).at_scale(8).side == 125
    assert CropSquareKeepROI().at_scale(8).side is None
    assert CropToBBox(margin_px=(40, 9)).at_scale(4).margin_px == (10, 2)
    # An inclusive box maps to the reduced pixels that cover it.
    assert CropToBBox(bbox=(200, 300, 1199, 1099)).at_scale(4).bbox == (50, 75, 299, 274)
    assert occlude.at_scale(1) is occlude
