"""The pipeline a recipe builds: canonical hashing, registries, random streams, reduced reads."""

from __future__ import annotations

from typing import Any

import numpy as np

from radprep.geometry import Geometry
from radprep.image import Image
from radprep.pipeline import Pipeline
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
