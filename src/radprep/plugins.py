"""Registries of named plugins (sources, writers) with their typed options, and plugin loading.

A registry maps a name to what runs (an object) and the pydantic model of its options. The
recipe schema asks the registries, so a name registered here is usable in a recipe
(``source.kind``, ``outputs.NAME.format``). Built-in entries register when their module is
imported; the registry imports those modules by name the first time it is asked, so that a
lower layer (the recipe) never imports a higher one (the datasets, the writers).

Third-party plugins load two ways:

- an entry point in the ``radprep.plugins`` group (``pyproject.toml``:
  ``[project.entry-points."radprep.plugins"] mylab = "mylab.radprep_plugin"``): the module is
  imported (and, if the entry point names a callable, it is called) the first time a registry
  or the op list is asked;
- a recipe's ``plugins: [mylab.ops]`` list of importable modules, imported before the recipe
  is validated (also in every worker, which validates the recipe again).

Importing a plugin module is what registers its ops (a :class:`~radprep.transforms.Transform`
subclass with an ``op`` name), sources (:func:`radprep.datasets.sources.register_source`) and
writers (:func:`radprep.export.writers.register_writer`).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from radprep.errors import RadprepWarning, SpecError

__all__ = [
    "ENTRY_POINT_GROUP",
    "SOURCES",
    "WRITERS",
    "NoOptions",
    "Registry",
    "load_entry_points",
    "load_plugins",
]

ENTRY_POINT_GROUP = "radprep.plugins"

T = TypeVar("T")


class NoOptions(BaseModel):
    """The options model of a plugin that takes none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered plugin: its name, what runs, and its options model."""

    name: str
    value: T
    options: type[BaseModel]


_entry_points_loaded = False
_entry_points_seen: set[tuple[str, str]] = set()


def load_entry_points(*, refresh: bool = False) -> None:
    """Import the plugins installed under the ``radprep.plugins`` entry-point group, once.

    With `refresh`, look again and import the plugins installed since (the registries do
    when a name is unknown: a worker forked from a long-lived forkserver, or a notebook, may
    have looked before a plugin was installed).

    A plugin that fails to import is reported as a RadprepWarning naming it, never an error:
    one broken package does not stop recipes that do not use it.
    """
    global _entry_points_loaded
    if _entry_points_loaded and not refresh:
        return
    _entry_points_loaded = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if (ep.name, ep.value) in _entry_points_seen:
            continue
        _entry_points_seen.add((ep.name, ep.value))
        try:
            loaded = ep.load()
            if callable(loaded) and not isinstance(loaded, type):
                loaded()
        except Exception as e:  # a third party's import can raise anything
            warnings.warn(
                f"radprep plugin {ep.name!r} ({ep.value}) failed to load: {type(e).__name__}: {e}",
                RadprepWarning,
                stacklevel=2,
            )


def load_plugins(modules: Iterable[str]) -> None:
    """Import plugin modules by dotted name (a recipe's ``plugins`` list).

    Raises
    ------
    SpecError
        Naming the module and why it did not import.
    """
    for i, name in enumerate(modules):
        try:
            importlib.import_module(name)
        except Exception as e:  # a plugin's import can raise anything
            raise SpecError(
                f"plugins[{i}]: cannot import {name!r} ({type(e).__name__}: {e}); "
                "a plugin is an importable module name, e.g. mylab.radprep_ops"
            ) from None


class Registry(Generic[T]):
    """Named plugins of one kind, each with a pydantic options model.

    Parameters
    ----------
    what : str
        What the names name, for messages (``"source kind"``, ``"output format"``).
    builtin_modules : tuple of str
        Modules whose import registers the built-in entries (imported on first use).
    builtins : mapping of str to str, optional
        Built-in names and the module whose import registers each: asking for one of these
        names imports its module (and the installed plugins) only, not every built-in module;
        listing the names imports them all.
    """

    def __init__(
        self,
        what: str,
        builtin_modules: tuple[str, ...] = (),
        builtins: Mapping[str, str] | None = None,
    ) -> None:
        self.what = what
        self._builtins = dict(builtins or {})
        self._builtin_modules = tuple(dict.fromkeys([*builtin_modules, *self._builtins.values()]))
        self._entries: dict[str, Entry[T]] = {}
        self._ready = False

    def register(self, name: str, value: T, options: type[BaseModel] | None = None) -> None:
        """Register `value` under `name` with its options model (none: :class:`NoOptions`)."""
        if not name or not isinstance(name, str):
            raise TypeError(f"a {self.what} needs a non-empty name, got {name!r}")
        self._entries[name] = Entry(name, value, options or NoOptions)

    def _ensure(self) -> None:
        if self._ready:
            return
        self._ready = True
        for module in self._builtin_modules:
            importlib.import_module(module)
        load_entry_points()

    def known(self) -> list[str]:
        """The registered names, sorted."""
        self._ensure()
        return sorted(self._entries)

    def entry(self, name: str) -> Entry[T]:
        """Return the entry registered as `name`.

        Raises
        ------
        SpecError
            For an unknown name; the message lists the known ones.
        """
        if name in self._builtins and not self._ready:
            importlib.import_module(self._builtins[name])
            load_entry_points()  # an installed plugin may register the same name over it
        else:
            self._ensure()
        if name not in self._entries:
            load_entry_points(refresh=True)
        if name not in self._entries:
            raise SpecError(f"unknown {self.what} {name!r}; known: {', '.join(self.known())}")
        return self._entries[name]

    def get(self, name: str) -> T:
        """Return what is registered as `name` (SpecError listing the known names if none)."""
        return self.entry(name).value

    def options(self, name: str) -> type[BaseModel]:
        """Return the options model of `name`."""
        return self.entry(name).options

    def validate_options(self, name: str, options: Any) -> BaseModel:
        """Validate `options` (a mapping or a model instance) with the model of `name`."""
        model = self.options(name)
        if isinstance(options, model):
            return options
        return model.model_validate(options)


# The registries the recipe schema asks. Built-in entries register when these modules import.
SOURCES: Registry[Any] = Registry(
    "source kind",
    builtins={
        "dicom-folder": "radprep.datasets.sources",
        "cbis-ddsm": "radprep.datasets.cbis_ddsm",
        "series-folder": "radprep.datasets.series_source",
        "file-list": "radprep.datasets.file_list",
        "dicomweb": "radprep.datasets.dicomweb",
    },
)
WRITERS: Registry[Any] = Registry("output format", ("radprep.export.writers",))
