"""Reading DICOM into :class:`~radprep.image.Image`.

The names below load on first use, so importing one reader (``radprep.io.header`` for a
header, ``radprep.io.describe`` for ``radprep info``) does not load the others.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["atomic_write_bytes", "read_dicom", "read_header"]

_WHERE = {
    "atomic_write_bytes": "radprep.io.write",
    "read_dicom": "radprep.io.dicom",
    "read_header": "radprep.io.header",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
