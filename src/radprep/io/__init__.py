"""Reading DICOM into :class:`~radprep.image.Image`.

The names below load on first use, so importing one reader (``radprep.io.header`` for a
header, ``radprep.io.describe`` for ``radprep info``) does not load the others.
"""

from __future__ import annotations

from radprep._lazy import lazy_exports

__all__ = ["atomic_write_bytes", "read_dicom", "read_header"]

_WHERE = {
    "atomic_write_bytes": "radprep.io.write",
    "read_dicom": "radprep.io.dicom",
    "read_header": "radprep.io.header",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
