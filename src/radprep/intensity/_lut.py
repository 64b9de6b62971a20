"""Evaluate a pointwise function once per possible integer value, then index.

A pointwise map of a 16-bit image costs one pass when it is tabulated over the dtype's range
(65,536 entries) and applied with ``np.take``; pydicom's own functions evaluated on the table keep
their exact semantics.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["apply_pointwise", "tabulable"]


def tabulable(arr: np.ndarray) -> bool:
    """True for integer arrays of at most 16 bits, whose whole range fits a small table."""
    return arr.dtype.kind in "ui" and arr.dtype.itemsize <= 2


def apply_pointwise(
    arr: np.ndarray,
    fn: Callable[[np.ndarray], np.ndarray],
    *,
    out_dtype: np.dtype | type | None = None,
) -> np.ndarray:
    """Return ``fn(arr)`` for a pointwise `fn`, through a lookup table when `arr` allows.

    Parameters
    ----------
    arr : ndarray
        The input, of any shape.
    fn : callable
        A pointwise function: ``fn(x)[i] == fn(x[i:i+1])[0]`` for every element.
    out_dtype : dtype, optional
        The result's dtype; by default the dtype `fn` returns.

    Returns
    -------
    ndarray
        Same shape as `arr`.
    """
    n = 1 << (8 * arr.dtype.itemsize) if tabulable(arr) else 0
    if not n or arr.size <= n:
        # Not tabulable, or so small that the table would cost more than the image.
        out = fn(arr)
        return out if out_dtype is None else out.astype(out_dtype, copy=False)
    unsigned = np.dtype(f"u{arr.dtype.itemsize}")
    # Index with the unsigned view so that signed values need no offset pass:
    # table[u] holds fn(the signed value whose bits are u).
    domain = np.arange(n, dtype=unsigned).view(arr.dtype)
    table = fn(domain)
    if out_dtype is not None:
        table = table.astype(out_dtype, copy=False)
    return np.take(table, arr.view(unsigned))
