"""Plan a recipe run: the recipe and its output folder, the source's items (pseudonymised under
de-identification), their splits, and every input file met, in the order it is accounted for."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radprep.batch.engine import PlannedInput
from radprep.datasets.sources import Item, get_source, resolve
from radprep.datasets.split import assign_splits
from radprep.errors import SpecError
from radprep.jobs.privacy import Privacy
from radprep.pipeline.spec import Recipe, load_recipe, recipe_hash

__all__ = ["RunPlan", "plan_run", "recipe_and_out"]


def _count(values: Iterator[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


@dataclass
class RunPlan:
    """A planned run: the recipe, where it writes, its items, and every input file met."""

    recipe: Recipe
    base: Path
    out_dir: Path
    run_hash: str
    items: list[Item]
    inputs: list[PlannedInput]
    privacy: Privacy | None
    splits: dict[str, str]
    split_info: dict[str, Any]


def recipe_and_out(
    recipe: Recipe | str | os.PathLike[str] | Mapping[str, Any],
    overrides: Sequence[str],
    out: str | os.PathLike[str] | None,
) -> tuple[Recipe, Path, Path]:
    """The validated recipe, its base folder and the output folder (created; never inside
    the source folder)."""
    base: Path | None = None
    if not isinstance(recipe, Recipe):
        recipe, base = load_recipe(recipe, overrides=overrides)
    elif overrides:
        recipe, _ = load_recipe(recipe.model_dump(mode="json"), overrides=overrides)
    base = base or Path.cwd()
    out_value = out if out is not None else recipe.out
    if out_value is None:
        raise SpecError("no output folder: give --out DIR or set 'out:' in the recipe")
    out_dir = Path(resolve(base, os.fspath(out_value))).resolve()
    root = getattr(recipe.source, "root", None)
    if root is not None and _inside(out_dir, resolve(base, root)):
        raise SpecError(
            f"output folder {out_dir} is inside the input folder {resolve(base, root)}; "
            "inputs are never written to: choose an output folder elsewhere"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    return recipe, base, out_dir


def _enumerate(recipe: Recipe, base: Path) -> tuple[list[Item], list[tuple[str, str, str]]]:
    """The source's items (sorted by id) and the files it met that are not items; refuse a
    source with nothing in it."""
    enumerate_items, _ = get_source(recipe.source.kind)
    found = enumerate_items(recipe.source, base)
    # Files the source met that are not items (not DICOM, no pixels, unreadable headers).
    left_out: list[tuple[str, str, str]] = list(getattr(found, "left_out", []))
    items = sorted(found, key=lambda it: it.id)
    if not items and not any(status == "failed" for _, status, _ in left_out):
        root = getattr(recipe.source, "root", None)
        where = resolve(base, root) if root is not None else recipe.source.kind
        reasons = ", ".join(
            f"{why} {n}" for why, n in sorted(_count(why for _, _, why in left_out).items())
        )
        raise SpecError(
            f"no DICOM image found under {where} ({len(left_out)} file(s) looked at, "
            f"recursively, hidden ones left out{': ' + reasons if reasons else ''}); "
            "check source.root"
        )
    return items, left_out


def plan_run(recipe: Recipe, base: Path, out_dir: Path, limit: int | None) -> RunPlan:
    """Plan a run: items (pseudonymised under de-identification), splits, and every input
    file in the order it is accounted for (items, then the files left out)."""
    items, left_out = _enumerate(recipe, base)
    if limit is not None:
        items = items[:limit]
    privacy = None
    if recipe.deid is not None and recipe.deid.enabled:
        privacy = Privacy.from_spec(recipe.deid, base)
        items = sorted(privacy.items(items), key=lambda it: it.id)
    splits, split_info = assign_splits(recipe.split, items)
    # With de-identification on, folder names may carry patient names: inputs are named by
    # their sample pseudonym, files that made no sample by `source-file-N` (as in failures).
    inputs = [PlannedInput(it.path if privacy is None else it.id, it.id) for it in items]
    for k, (path, status, why) in enumerate(left_out):
        name = path if privacy is None else f"source-file-{k}"
        if status == "failed":
            message = why if privacy is None else privacy.scrub(why.replace(path, name), name)
            inputs.append(PlannedInput(name, None, "failed", message, "InputError"))
        else:
            inputs.append(PlannedInput(name, None, "skipped", why))
    return RunPlan(
        recipe, base, out_dir, recipe_hash(recipe), items, inputs, privacy, splits, split_info
    )
