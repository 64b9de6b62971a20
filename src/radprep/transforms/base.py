"""The Transform base: validated keyword-only options, a JSON spec, one pure function per call.

A transform is a frozen, keyword-only dataclass. ``__post_init__`` validates and normalises the
options (tuples, not lists) so that ``Transform.from_spec(t.to_spec()) == t``. ``__call__`` takes
a :class:`~radprep.sample.Sample` (or a bare :class:`~radprep.image.Image`, returned as an Image),
calls one pure function, and appends an :class:`~radprep.image.AppliedStep` named after the op
with the options and whatever the call decided (a crop box, a flip) to the image's history.
Randomness lives only in :meth:`Transform.make_params`, which draws from a given generator; the
call itself is deterministic.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from typing import Any, ClassVar, TypeVar, overload

import numpy as np
from pydantic import TypeAdapter

from radprep.errors import InputError, SpecError
from radprep.image import AppliedStep, Image
from radprep.sample import Sample

__all__ = [
    "Transform",
    "checked_tuple",
    "known_ops",
    "lookup_op",
    "mask_names",
    "need_grey",
    "register_alias",
    "scale_px",
]

_REGISTRY: dict[str, type[Transform]] = {}
_ALIASES: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {}
_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")

T = TypeVar("T", bound="Transform")


def known_ops() -> list[str]:
    """Return the registered op names, sorted."""
    return sorted(_REGISTRY)


def register_alias(
    old: str, new: str, options: Callable[[dict[str, Any]], dict[str, Any]] | None = None
) -> None:
    """Let recipes keep a former op name: `old` builds the op `new`.

    Parameters
    ----------
    old, new : str
        The former name and the op it now is.
    options : callable, optional
        Rewrites the former op's options into the new op's (e.g. a default that differed).
    """
    _ALIASES[old] = (new, options or dict)


def lookup_op(op: Any, options: Mapping[str, Any]) -> tuple[type[Transform], dict[str, Any]]:
    """Return the transform class an op name means and its options (former names rewritten).

    Raises
    ------
    SpecError
        If the op is unknown; the message lists the known ones.
    """
    opts = dict(options)
    if isinstance(op, str) and op in _ALIASES:
        op, rewrite = _ALIASES[op]
        opts = rewrite(opts)
    if not isinstance(op, str) or op not in _REGISTRY:
        raise SpecError(f"unknown op {op!r}; known ops: {', '.join(known_ops())}")
    return _REGISTRY[op], opts


def need_grey(sample: Sample, op: str) -> None:
    """Raise InputError when the sample's pixels have a channel axis (the op needs grey)."""
    if sample.image.pixels.ndim != sample.image.geometry.ndim:
        raise InputError(
            f"{op} needs grey values, but sample {sample.id!r} has a channel axis "
            f"(shape {sample.image.pixels.shape}); put {op} before window_stack or pseudocolor"
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class Transform(ABC):
    """Base of every transform; subclasses are ``@dataclass(frozen=True, kw_only=True)``.

    Attributes
    ----------
    op : str
        The snake_case op name used in specs and histories (the pure function's name).
    """

    op: ClassVar[str] = ""
    pixel_options: ClassVar[tuple[str, ...]] = ()
    """The options measured in pixels of the file (a buffer, a margin, a side). When a file is
    read reduced, the pipeline converts them once with :meth:`at_scale`: ops never see it."""
    resamples: ClassVar[bool] = False
    """True for a step after which pixel options refer to its output's pixels (a resize)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        op = cls.__dict__.get("op", "")
        if not op:
            return
        if not _SNAKE.match(op):
            raise TypeError(f"{cls.__name__}.op={op!r} must be snake_case")
        if op in _REGISTRY and _REGISTRY[op].__qualname__ != cls.__qualname__:
            raise TypeError(f"op {op!r} is taken by {_REGISTRY[op].__name__}")
        _REGISTRY[op] = cls

    @classmethod
    def options_model(cls) -> TypeAdapter[Any]:
        """Return the pydantic model of the op's options (built once per class).

        The options are the dataclass fields; pydantic checks their types (in lax mode: ``"50"``
        is 50 for an int) and ``__post_init__`` the rules between them.
        """
        adapter: TypeAdapter[Any] | None = cls.__dict__.get("_options_model")
        if adapter is None:
            adapter = TypeAdapter(cls)
            cls._options_model = adapter  # type: ignore[attr-defined]
        return adapter

    def params(self) -> dict[str, Any]:
        """Return the options as JSON-serialisable values."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]

    def to_spec(self) -> dict[str, Any]:
        """Return ``{"op": name, **options}``, the form recipes use."""
        return {"op": self.op, **self.params()}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Transform:
        """Build the transform a spec names.

        Raises
        ------
        SpecError
            If the op is missing or unknown (the message lists the known ones), or the options
            do not fit it.
        """
        if "op" not in spec:
            raise SpecError(f"spec {dict(spec)!r} has no 'op'; known ops: {', '.join(known_ops())}")
        op = spec["op"]
        cls, options = lookup_op(op, {k: v for k, v in spec.items() if k != "op"})
        try:
            return cls(**options)
        except TypeError as err:
            raise SpecError(f"op {op!r}: {err}") from None

    def at_scale(self: T, scale: float) -> T:
        """Return this transform for an image read at ``1/scale`` of the file's size.

        Each of `pixel_options` is divided by `scale` and rounded (a positive value stays at
        least 1); the history still records the options as the recipe gave them.
        """
        if scale == 1 or not self.pixel_options:
            return self
        changes = {name: scale_px(getattr(self, name), scale) for name in self.pixel_options}
        scaled = replace(self, **changes)  # type: ignore[type-var]
        object.__setattr__(scaled, "_recipe_params", self.params())
        return scaled

    def make_params(self, rng: np.random.Generator) -> dict[str, Any]:
        """Draw the random parameters of one call; deterministic transforms draw none."""
        return {}

    def step(self, **decided: Any) -> AppliedStep:
        """Return the history entry: the options plus what this call decided."""
        params = dict(self.__dict__.get("_recipe_params") or self.params())
        params.update({k: _jsonable(v) for k, v in decided.items()})
        return AppliedStep(self.op, params)

    @abstractmethod
    def apply(self, sample: Sample, **params: Any) -> Sample:
        """Return the transformed sample for the given (already drawn) parameters."""

    @overload
    def __call__(self, data: Sample, *, rng: np.random.Generator | None = None) -> Sample: ...

    @overload
    def __call__(self, data: Image, *, rng: np.random.Generator | None = None) -> Image: ...

    def __call__(
        self, data: Sample | Image, *, rng: np.random.Generator | None = None
    ) -> Sample | Image:
        """Apply the transform to a Sample (masks follow) or to a bare Image."""
        sample = data if isinstance(data, Sample) else Sample(image=data)
        params = self.make_params(rng) if rng is not None else {}
        out = self.apply(sample, **params)
        return out if isinstance(data, Sample) else out.image


def scale_px(value: Any, scale: float) -> Any:
    """Convert a pixel option (a number, a tuple of numbers or None) to pixels 1/`scale` as
    large: rounded, and a positive value stays at least 1."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (tuple, list)):
        return type(value)(scale_px(v, scale) for v in value)
    if isinstance(value, (int, np.integer)):
        return max(1, round(value / scale)) if value > 0 else int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) / scale
    return value


def checked_tuple(value: Any, *, name: str, length: int | None = None) -> tuple[Any, ...]:
    """Return a list or tuple option as a tuple (specs give lists), checking its length."""
    if not isinstance(value, (list, tuple)):
        raise SpecError(f"{name} must be a list, got {value!r}")
    if length is not None and len(value) != length:
        raise SpecError(f"{name} must have {length} values, got {value!r}")
    return tuple(value)


def mask_names(value: Any) -> tuple[str, ...] | None:
    """Normalise a ``masks`` option: None (all masks), one name, or a list of names."""
    if value is None:
        return None
    names = (value,) if isinstance(value, str) else checked_tuple(value, name="masks")
    for name in names:
        if not isinstance(name, str):
            raise SpecError(f"masks must name masks (strings), got {value!r}")
    return names
