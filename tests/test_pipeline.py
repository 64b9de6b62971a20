"""The pipeline a recipe builds: canonical hashing, registries, random streams, reduced reads."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from radprep.errors import SpecError
from radprep.geometry import Geometry
from radprep.image import Image
from radprep.pipeline import Pipeline, load_recipe, recipe_hash
from radprep.sample import Sample


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
