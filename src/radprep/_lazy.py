"""Heavy libraries imported on first use, not when a module that may use them is imported.

``from radprep._lazy import sitk`` stands for ``import SimpleITK as sitk``: the first attribute
read (``sitk.Image``, ``sitk.Resample``) imports SimpleITK (a tenth of a second or more, and its
shared library's memory) and returns the real attribute. A run of 2D mammograms, or the workers
of any recipe that does no volume work, never load it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

__all__ = ["LazyModule", "sitk"]


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


if TYPE_CHECKING:
    import SimpleITK as sitk
else:
    sitk = LazyModule("SimpleITK")
