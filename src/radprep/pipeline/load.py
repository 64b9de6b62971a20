"""Loading a recipe: a YAML file, a built-in name or a mapping, ``--set`` overrides applied,
validated into a :class:`~radprep.pipeline.spec.Recipe` with every problem located."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from radprep.errors import SpecError
from radprep.pipeline.spec import Recipe
from radprep.pipeline.steps import _is_type_tag

__all__ = ["builtin_recipes", "load_recipe", "parse_overrides"]


def _format_validation(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ""
        for p in err["loc"]:
            if _is_type_tag(p):
                continue
            loc += f"[{p}]" if isinstance(p, int) else (f".{p}" if loc else str(p))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "missing required field"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def builtin_recipes() -> dict[str, str]:
    """Return the built-in recipes: name -> YAML text."""
    out = {}
    for entry in sorted(resources.files("radprep.recipes").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            out[entry.name.removesuffix(".yaml")] = entry.read_text()
    return out


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    # ``steps[1].size`` and ``steps.1.size`` name the same place.
    parts = re.sub(r"\[(\d+)\]", r".\1", key).split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = node[int(part)]
            continue
        if part not in node or node[part] is None:
            node[part] = {}
        node = node[part]
        if not isinstance(node, (dict, list)):
            raise SpecError(f"--set {key}: {'.'.join(parts[: i + 1])} is not a section")
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def parse_overrides(pairs: Sequence[str]) -> list[tuple[str, Any]]:
    """Parse ``KEY=VALUE`` overrides; VALUE is read as YAML (``3``, ``true``, ``[1, 2]``)."""
    out = []
    for pair in pairs:
        if "=" not in pair:
            raise SpecError(f"--set {pair!r}: use KEY=VALUE, e.g. source.root=/data/CBIS-DDSM")
        key, raw = pair.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        out.append((key.strip(), value))
    return out


def _recipe_data(
    source: str | os.PathLike[str] | Mapping[str, Any],
) -> tuple[dict[str, Any], str, Path | None]:
    """The recipe's raw data, how messages name it, and its folder (None: the working one)."""
    base: Path | None = None
    if isinstance(source, Mapping):
        data = json.loads(json.dumps(source))
        label = "recipe"
    else:
        text_source = os.fspath(source)
        path = Path(text_source)
        builtins = builtin_recipes()
        if path.is_file():
            text = path.read_text()
            base = path.resolve().parent
            label = str(path)
        elif text_source in builtins:
            text = builtins[text_source]
            label = f"built-in recipe {text_source!r}"
        else:
            raise SpecError(
                f"recipe {text_source!r} is neither a file nor a built-in recipe; "
                f"built-in: {', '.join(builtins) or '(none)'}"
            )
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise SpecError(f"{label}: not valid YAML ({' '.join(str(e).split())})") from None
        if not isinstance(data, dict):
            raise SpecError(f"{label}: a recipe is a mapping (version, source, outputs ...)")
    return data, label, base


def load_recipe(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    overrides: Sequence[str] = (),
) -> tuple[Recipe, Path | None]:
    """Load and validate a recipe: a YAML path, a built-in name, or a mapping.

    Parameters
    ----------
    source : path, str or mapping
        A YAML file, the name of a built-in recipe (``radprep recipes`` lists them), or the data.
    overrides : sequence of str
        ``KEY=VALUE`` with dotted keys (``source.root=/data``), applied before validation.

    Returns
    -------
    recipe : Recipe
    base : Path or None
        The folder relative paths in the recipe are taken from (the YAML file's folder; the
        working folder for built-in recipes and mappings).

    Raises
    ------
    SpecError
        With the location of each problem (``outputs.full.format: ...``) and, for steps, what
        the op accepts.
    """
    data, label, base = _recipe_data(source)
    for key, value in parse_overrides(overrides):
        try:
            _set_dotted(data, key, value)
        except (IndexError, ValueError, TypeError):
            raise SpecError(f"--set {key}: no such place in the recipe") from None
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        raise SpecError(f"{label}: {_format_validation(e)}") from None
    try:
        recipe.transforms()
    except SpecError as e:
        raise SpecError(f"{label}: {e}") from None
    return recipe, base
