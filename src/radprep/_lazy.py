"""Heavy libraries imported on first use, not when a module that may use them is imported.

``from radprep._lazy import sitk`` stands for ``import SimpleITK as sitk``: the first attribute
read (``sitk.Image``, ``sitk.Resample``) imports SimpleITK (a tenth of a second or more, and its
shared library's memory) and returns the real attribute. A run of 2D mammograms, or the workers
of any recipe that does no volume work, never load it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

__all__ = ["LazyModule", "lazy_exports", "sitk"]


class LazyModule:
    """A module imported on first attribute access.

    Parameters
    ----------
    name : str
        The module's import name.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)  # copy, pickle and introspection see a plain object
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_exports(
    package: str, where: Mapping[str, str | tuple[str, str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's PEP 562 ``__getattr__`` and ``__dir__`` for public names loaded on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    where : mapping
        Public name -> the module holding it (``"process"`` for ``package.process``, or a full
        dotted name), or ``(module, attribute)`` when the attribute has another name there.

    Returns
    -------
    (__getattr__, __dir__)
        To assign at module level: ``__getattr__, __dir__ = lazy_exports(__name__, WHERE)``.
        The first read of a name imports its module and keeps the value in the package.
    """
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        target = where.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attr = target if isinstance(target, tuple) else (target, name)
        full = module if module.startswith("radprep.") else f"{package}.{module}"
        value = getattr(importlib.import_module(full), attr)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(where))

    return __getattr__, __dir__


if TYPE_CHECKING:
    import SimpleITK as sitk
else:
    sitk = LazyModule("SimpleITK")
