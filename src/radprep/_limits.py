"""One memory limit for everything radprep allocates from what a file or a recipe says.

A header can claim 60000 x 60000 x 1000 pixels and a 1 MB deflated stream can inflate to
gigabytes; both are refused before anything that size is allocated, with an error that names
the limit and how to raise it. The limit is the decoded size of one image (default 4 GiB),
set by :func:`set_max_decoded_bytes` or the ``RADPREP_MAX_DECODED_BYTES`` environment variable
(which worker processes inherit).
"""

from __future__ import annotations

import os

__all__ = [
    "DEFAULT_MAX_DECODED_BYTES",
    "format_bytes",
    "max_decoded_bytes",
    "set_max_decoded_bytes",
]

DEFAULT_MAX_DECODED_BYTES = 4 << 30
_ENV = "RADPREP_MAX_DECODED_BYTES"


def max_decoded_bytes() -> int:
    """Return the largest decoded image, in bytes, radprep agrees to allocate."""
    text = os.environ.get(_ENV, "").strip()
    if text:
        try:
            value = int(float(text))
        except ValueError:
            value = 0
        if value > 0:
            return value
    return DEFAULT_MAX_DECODED_BYTES


def set_max_decoded_bytes(n_bytes: int | None) -> None:
    """Set the limit for this process and the workers it starts (None: back to the default)."""
    if n_bytes is None:
        os.environ.pop(_ENV, None)
        return
    if int(n_bytes) <= 0:
        raise ValueError(f"the decoded-size limit must be positive, got {n_bytes}")
    os.environ[_ENV] = str(int(n_bytes))


def format_bytes(n: float) -> str:
    """Say a size the way people read it (``4.0 GiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover
