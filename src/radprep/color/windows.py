"""CT windows stacked as channels, for images or whole volumes, by preset name or number.

Three windows as the three channels of an RGB network (e.g. brain 40/80, subdural 80/200, bone
600/2800 for head CT) let an ImageNet-pretrained model see soft tissue, blood and bone at once.
Each channel is a DICOM LINEAR window (PS3.3 C.11.2.1.2.1) onto [0, 1], channels last.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from radprep._validate import check_array
from radprep.errors import SpecError
from radprep.intensity.window import CT_PRESETS, window_values

__all__ = ["DEFAULT_WINDOWS", "resolve_windows", "window_stack"]

DEFAULT_WINDOWS: tuple[str, ...] = ("brain", "subdural", "bone")

WindowArg = str | Sequence[float]


def resolve_windows(windows: Sequence[WindowArg], /) -> tuple[tuple[float, float], ...]:
    """Return ``(center, width)`` pairs for preset names (:data:`CT_PRESETS`) or pairs.

    Raises
    ------
    SpecError
        For an unknown preset (the known ones are listed), a malformed pair, or a width < 1.
    """
    if len(windows) == 0:
        raise SpecError("windows is empty; give preset names or (center, width) pairs")
    out = []
    for i, w in enumerate(windows):
        if isinstance(w, str):
            if w.lower() not in CT_PRESETS:
                raise SpecError(
                    f"windows[{i}]={w!r} is not a CT preset; choose one of "
                    f"{', '.join(CT_PRESETS)}, or give [center, width]"
                )
            c, width = CT_PRESETS[w.lower()]
        else:
            try:
                c, width = (float(v) for v in w)
            except (TypeError, ValueError):
                raise SpecError(
                    f"windows[{i}]={w!r} is neither a preset name nor a [center, width] pair"
                ) from None
        if not width >= 1:
            raise SpecError(f"windows[{i}] width {width} is below 1; LINEAR windows need >= 1")
        out.append((float(c), float(width)))
    return tuple(out)


def window_stack(
    image: np.ndarray, /, windows: Sequence[WindowArg] = DEFAULT_WINDOWS
) -> np.ndarray:
    """Stack one LINEAR window per preset or ``(center, width)`` as the last axis.

    The usual CT trio is brain (40, 80), subdural (80, 200) and bone (600, 2800).

    Parameters
    ----------
    image : ndarray
        A 2D image or a 3D volume of modality values (Hounsfield units).
    windows : sequence of str or (center, width)
        Default brain, subdural, bone.

    Returns
    -------
    ndarray of float32
        ``image.shape + (len(windows),)``, values in [0, 1].

    Raises
    ------
    SpecError
        If there is no window, an unknown preset, a malformed pair, or a width below 1.
    """
    check_array(image, ndim=(2, 3))
    pairs = resolve_windows(windows)
    out = np.empty((*image.shape, len(pairs)), dtype=np.float32)
    for i, (c, w) in enumerate(pairs):
        out[..., i] = window_values(image, c, w, function="LINEAR")
    return out
