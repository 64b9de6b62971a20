"""Recipe steps: ``{op: name, option: value}`` validated by the op's own options model, with
the error located (``outputs.occluded.steps[1].buffer_px: must be >= 0, got -3``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from pydantic import ValidationError

from radprep.errors import SpecError
from radprep.plugins import load_entry_points
from radprep.transforms.base import Transform, known_ops, lookup_op

__all__ = ["canonical_step", "validate_step"]


_TYPE_TAGS = {"int", "float", "str", "bool", "none", "tuple", "list", "dict"}


def _is_type_tag(part: Any) -> bool:
    """pydantic names the member of a union it tried (``int``, ``tuple[int, int]``) in the
    location; a reader wants the option's name only."""
    if not isinstance(part, str):
        return False
    return part.lower() in _TYPE_TAGS or "[" in part or part.startswith(("function-", "literal"))


def validate_step(spec: Any, where: str) -> Transform:
    """Build one step from its spec, or raise SpecError naming where it is.

    Parameters
    ----------
    spec : mapping
        ``{"op": name, option: value, ...}``.
    where : str
        Its location in the recipe, e.g. ``outputs.occluded.steps[1]``.
    """
    if not isinstance(spec, Mapping):
        raise SpecError(f"{where}: a step is a mapping with an 'op', got {spec!r}")
    load_entry_points()
    if "op" not in spec:
        raise SpecError(f"{where}: missing 'op'; known ops: {', '.join(known_ops())}")
    op = spec["op"]
    options_given = {k: v for k, v in spec.items() if k != "op"}
    try:
        try:
            cls, options = lookup_op(op, options_given)
        except SpecError:
            load_entry_points(refresh=True)  # a plugin installed since the first look
            cls, options = lookup_op(op, options_given)
    except SpecError as e:
        raise SpecError(f"{where}.op: {e}") from None
    allowed = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    extra = sorted(set(options) - allowed)
    if extra:
        raise SpecError(
            f"{where}.{extra[0]}: {op} has no option {extra[0]!r}; its options: "
            f"{', '.join(sorted(allowed)) or '(none)'}"
        )
    try:
        built: Transform = cls.options_model().validate_python(options)
        return built
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"] if not _is_type_tag(p))
        msg = err["msg"].removeprefix("Value error, ")
    except SpecError as e:
        loc, msg = "", str(e)
    if not loc:
        # "buffer_px must be >= 0" names the option first: put it in the location.
        name, _, rest = msg.partition(" ")
        if name in allowed and rest:
            loc, msg = name, rest
    raise SpecError(f"{where}{'.' + loc if loc else ''}: {msg}") from None


def canonical_step(spec: Any, where: str) -> dict[str, Any]:
    """Return a step's canonical spec: validated, typed, every option written out.

    ``{op: occlude_roi}``, ``{op: occlude_roi, buffer_px: 50}`` and ``buffer_px: "50"`` give
    the same mapping, so that they give the same recipe hash.
    """
    return validate_step(spec, where).to_spec()
