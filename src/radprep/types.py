"""Type aliases and option names shared by every stage.

Axis order, stated once: a 2D image is ``(rows, cols)``, a volume ``(slices, rows, cols)``;
colour channels are last (``(rows, cols, 3)``) and appear only for colour sources or after the
``color`` stage. Only :mod:`radprep.export` reorders axes (CHW, NCHW, NHWC).
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

BBox: TypeAlias = tuple[int, int, int, int]
"""An inclusive pixel box ``(y0, x0, y1, x1)``: rows y0..y1 and columns x0..x1 both included."""

Spacing: TypeAlias = tuple[float, ...]
"""Millimetres per pixel along each array axis, in axis order."""

Array: TypeAlias = npt.NDArray[np.generic]

IntensityState = Literal["modality", "display"]
"""What the pixel values of an :class:`~radprep.image.Image` mean.

``modality``: the output of the Modality LUT (PS3.3 C.11.1): Hounsfield units for CT, raw
detector values for most projection radiographs; the stored integer type is kept when the Modality
LUT is the identity, float32 otherwise. ``display``: float32 in [0, 1] after VOI and after inversion
for MONOCHROME1 / Presentation LUT Shape INVERSE, so that higher is always brighter.
"""

VOIFunction = Literal["LINEAR", "LINEAR_EXACT", "SIGMOID"]
"""PS3.3 C.11.2.1.3 VOI LUT Function values."""

OutputFormat = Literal["png8", "png16", "npy"]
