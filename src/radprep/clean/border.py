"""Border residue: the white strips scanned films and cropped exports leave along the edges.

The CBIS-DDSM notebook sets every 255 to 0, which also blackens saturated tissue such as
calcifications. Here only maximal-value strips that reach an image edge are removed: a pixel is
residue when it and every pixel between it and an edge, along its row or its column, are at least
the threshold. Bright tissue inside the breast never has such a path (tissue lies between it and
every edge), so it is left alone.

The scan starts from the four edges and reads a band of growing width only for the rows and
columns still inside a strip, so an image without residue costs four edge reads.
"""

from __future__ import annotations

import numpy as np

from radprep._validate import check_array, check_positive

__all__ = ["border_residue_runs", "remove_border_residue"]

_FIRST_BAND_PX = 16


def _runs_from_start(lines: np.ndarray, threshold: float) -> np.ndarray:
    """Return, per row of the 2D `lines`, how many leading pixels are >= `threshold`."""
    n, length = lines.shape
    runs = np.zeros(n, dtype=np.intp)
    active = np.flatnonzero(lines[:, 0] >= threshold)
    start, width = 0, _FIRST_BAND_PX
    while active.size and start < length:
        stop = min(length, start + width)
        dark = lines[active, start:stop] < threshold
        ended = dark.any(axis=1)
        runs[active] += np.where(ended, dark.argmax(axis=1), stop - start)
        active = active[~ended]
        start, width = stop, width * 2
    return runs


def border_residue_runs(
    image: np.ndarray, /, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the residue run lengths from each edge: per row from the left and the right, per
    column from the top and the bottom.

    Parameters
    ----------
    image : ndarray
        A 2D grey image.
    threshold : float
        Pixels ``>= threshold`` count as residue when they reach an edge.
    """
    check_array(image, ndim=(2,))
    return (
        _runs_from_start(image, threshold),
        _runs_from_start(image[:, ::-1], threshold),
        _runs_from_start(image.T, threshold),
        _runs_from_start(image[::-1].T, threshold),
    )


def _blank_runs(view: np.ndarray, runs: np.ndarray, fill: float) -> None:
    """Set the first ``runs[i]`` pixels of line ``i`` of `view` (a view of the output) to fill.

    Lines are grouped by run length in powers of two, so the work stays within twice the number
    of residue pixels even when a few lines run the whole image and the rest are short.
    """
    lines = np.flatnonzero(runs)
    if lines.size == 0:
        return
    groups = np.ceil(np.log2(runs[lines])).astype(np.intp)
    for group in np.unique(groups):
        chosen = lines[groups == group]
        lengths = runs[chosen]
        width = int(lengths.max())
        contiguous = int(chosen[-1] - chosen[0]) + 1 == chosen.size
        # A run of neighbouring lines is a view, written in place; others a copy, written back.
        band = view[chosen[0] : chosen[-1] + 1, :width] if contiguous else view[chosen, :width]
        if np.all(lengths == width):
            band[...] = fill
        else:
            band[np.arange(width)[None, :] < lengths[:, None]] = fill
        if not contiguous:
            view[chosen, :width] = band


def remove_border_residue(
    image: np.ndarray,
    /,
    *,
    value: float | None = None,
    tolerance: float = 0,
    fill: float = 0,
) -> np.ndarray:
    """Set maximal-value strips that touch the image border to `fill`.

    Parameters
    ----------
    image : ndarray
        A 2D grey image in display orientation (white = high), 8- or 16-bit or float.
    value : float, optional
        The residue value; by default the image's maximum (255 for the notebook's 8-bit PNGs,
        65535 or the bit depth's top for 16-bit data).
    tolerance : float
        Pixels ``>= value - tolerance`` count as residue (for residue blurred by compression).
    fill : float
        The replacement value (the notebook's 0, black).

    Returns
    -------
    ndarray
        A new image with the strips set to `fill`; the input itself when no edge pixel reaches
        the threshold (nothing to change).

    Raises
    ------
    SpecError
        If the image is not 2D or `tolerance` is negative.
    """
    check_array(image, ndim=(2,))
    check_positive(tolerance, name="tolerance", allow_zero=True)
    top_value = float(image.max()) if value is None else float(value)
    threshold = top_value - float(tolerance)
    edges = (image[0], image[-1], image[:, 0], image[:, -1])
    if not any(bool((edge >= threshold).any()) for edge in edges):
        return image
    left, right, top, bottom = border_residue_runs(image, threshold)
    out = image.copy()
    _blank_runs(out, left, fill)
    _blank_runs(out[:, ::-1], right, fill)
    _blank_runs(out.T, top, fill)
    _blank_runs(out[::-1].T, bottom, fill)
    return out
