"""Burned-in labels and markers: whatever lies outside the foreground is set to background."""

from __future__ import annotations

import numpy as np

from radprep._validate import check_array
from radprep.clean.foreground import foreground_mask
from radprep.errors import InputError

__all__ = ["remove_labels"]


def remove_labels(
    image: np.ndarray,
    /,
    *,
    mask: np.ndarray | None = None,
    fill: float = 0,
) -> np.ndarray:
    """Set every pixel outside the foreground to `fill`, removing labels and markers there.

    Labels (``R``, ``LCC``, rulers) sit in the air around the body or breast and are separate
    components of the thresholded image; keeping only the largest component (the foreground)
    drops them. Run :func:`radprep.clean.remove_border_residue` first when bright strips along the
    edges could outsize the tissue.

    Parameters
    ----------
    image : ndarray
        A 2D grey image in display orientation.
    mask : ndarray, optional
        The foreground to keep; by default :func:`radprep.clean.foreground_mask` of `image`.
    fill : float
        The background value written outside the foreground.

    Returns
    -------
    ndarray
        A new image; foreground pixels unchanged.

    Raises
    ------
    InputError
        If `mask` does not share the image's grid.
    """
    check_array(image, ndim=(2,))
    keep = foreground_mask(image) if mask is None else mask
    if keep.shape != image.shape:
        raise InputError(
            f"foreground mask has shape {keep.shape} but the image is {image.shape}; "
            "masks must share the image's grid"
        )
    out = image.copy()
    out[keep == 0] = fill
    return out
