"""The pipeline a recipe describes: shared steps, then one branch of steps per output."""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from radprep.errors import RadprepError
from radprep.image import Image
from radprep.pipeline.spec import OutputSpec, Recipe, load_recipe
from radprep.sample import Sample
from radprep.transforms.base import Transform

__all__ = ["Pipeline", "read_scale", "sample_rng"]


def sample_rng(seed: int, sample_id: str, branch: str | None = None) -> np.random.Generator:
    """The random generator of one sample (and one output branch): the same for the same seed,
    id and branch on any machine, whatever executor or worker runs it.

    Each branch has its own stream, so that enabling or adding a branch leaves the draws of the
    others as they were; the shared steps use the sample's stream (``branch=None``).
    """
    key = [seed, zlib.crc32(sample_id.encode())]
    if branch is not None:
        key.append(zlib.crc32(b"branch:" + branch.encode()))
    return np.random.default_rng(key)


class Pipeline:
    """Shared steps, then named output branches.

    Parameters
    ----------
    steps : sequence of Transform
        Applied to every sample first.
    outputs : mapping of str to (sequence of Transform, OutputSpec)
        Each branch's own steps (applied after the shared ones) and what it writes.
    seed : int
        Seeds each sample's generator (with the sample id) for random steps.

    Examples
    --------
    >>> pipe = Pipeline.from_recipe("radiograph-299")        # doctest: +SKIP
    >>> branches = pipe.process(sample)                      # doctest: +SKIP
    >>> branches["full"].image.pixels.shape                  # doctest: +SKIP
    (299, 299)
    """

    def __init__(
        self,
        steps: Sequence[Transform],
        outputs: Mapping[str, tuple[Sequence[Transform], OutputSpec]],
        *,
        seed: int = 0,
    ) -> None:
        self.steps = list(steps)
        self.outputs = {name: (list(ts), spec) for name, (ts, spec) in outputs.items()}
        self.seed = seed
        self._scaled: dict[tuple[str, float], tuple[list[Transform], float]] = {}

    @classmethod
    def from_recipe(
        cls,
        recipe: Recipe | str | os.PathLike[str] | Mapping[str, Any],
        *,
        overrides: Sequence[str] = (),
    ) -> Pipeline:
        """Build the pipeline of a recipe (a Recipe, a YAML path, a built-in name or a mapping)."""
        if not isinstance(recipe, Recipe):
            recipe, _ = load_recipe(recipe, overrides=overrides)
        shared, per_output = recipe.transforms()
        return cls(
            shared,
            {name: (per_output[name], spec) for name, spec in recipe.active_outputs().items()},
            seed=recipe.seed,
        )

    def process(self, sample: Sample) -> dict[str, Sample]:
        """Run the shared steps, then each branch; return one Sample per output name.

        When the file was read reduced, the steps before the first resize get their pixel
        options converted from the file's pixels (:meth:`Transform.at_scale`), so that a
        reduced read changes no op's meaning. Branches that begin with the same deterministic
        steps (``full`` and ``roi_mask`` of a recipe: the same crop and resize) run them once
        and share the result, which is the same Sample either would have made.
        """
        scale = read_scale(sample.image)
        steps, after = self._at_scale("", self.steps, scale)
        rng = _rng_if_drawn(steps, self.seed, sample.id)
        for i, t in enumerate(steps):
            sample = _apply(t, sample, rng, f"steps[{i}]")
        out = {}
        # What the branches ran so far, as long as no step drew random parameters: a branch
        # whose steps begin with the same steps starts from that result (the same bytes).
        done: list[tuple[list[Transform], Sample]] = []
        for name, (branch_steps, _) in self.outputs.items():
            todo = self._at_scale(name, branch_steps, after)[0]
            branch, start = _shared_prefix(done, todo, sample)
            branch_rng = _rng_if_drawn(todo[start:], self.seed, sample.id, name)
            for i in range(start, len(todo)):
                branch = _apply(todo[i], branch, branch_rng, f"outputs.{name}.steps[{i}]")
                if all(_deterministic(t) for t in todo[: i + 1]):
                    done.append((todo[: i + 1], branch))
            out[name] = branch
        return out

    def _at_scale(
        self, branch: str, steps: Sequence[Transform], scale: float
    ) -> tuple[list[Transform], float]:
        """The steps for an image read at 1/`scale` (converted once per scale and kept), and
        the scale after them (1 once a step resamples). `branch` is "" for the shared steps."""
        key = (branch, scale)
        if key not in self._scaled:
            out, current = [], scale
            for t in steps:
                out.append(t.at_scale(current))
                if t.resamples:
                    current = 1.0
            self._scaled[key] = (out, current)
        return self._scaled[key]


def read_scale(image: Image) -> float:
    """File pixels per pixel of `image` as read: ``2**reduce`` after a reduced DICOM read."""
    if image.history and image.history[0].name == "read_dicom":
        return float(2 ** int(image.history[0].params.get("reduce") or 0))
    return 1.0


def _deterministic(t: Transform) -> bool:
    """True for a step that draws no random parameters (:meth:`Transform.make_params`)."""
    return type(t).make_params is Transform.make_params


def _rng_if_drawn(
    steps: Sequence[Transform], seed: int, sample_id: str, branch: str | None = None
) -> np.random.Generator | None:
    """:func:`sample_rng` when one of `steps` draws random parameters, else None: a step that
    draws none gets the same (no) parameters either way, and making a generator costs about
    0.1 ms."""
    if all(_deterministic(t) for t in steps):
        return None
    return sample_rng(seed, sample_id, branch)


def _same(a: Transform, b: Transform) -> bool:
    """True for the same op with the same options (a step whose options cannot be compared,
    an array for instance, is never taken for another)."""
    try:
        return a is b or bool(a == b)
    except (TypeError, ValueError):
        return False


def _shared_prefix(
    done: Sequence[tuple[Sequence[Transform], Sample]], todo: Sequence[Transform], sample: Sample
) -> tuple[Sample, int]:
    """The result of the longest run of deterministic steps that `todo` begins with and another
    branch already ran, and its length; `sample` and 0 when there is none."""
    best, start = sample, 0
    for prefix, result in done:
        n = len(prefix)
        if start < n <= len(todo) and all(
            _same(a, b) for a, b in zip(prefix, todo[:n], strict=True)
        ):
            best, start = result, n
    return best, start


def _apply(t: Transform, sample: Sample, rng: np.random.Generator | None, where: str) -> Sample:
    """Apply one step; an error says which step of the recipe it came from."""
    try:
        return t(sample, rng=rng)
    except RadprepError as e:
        raise type(e)(f"{where} ({t.op}): {e}") from e
