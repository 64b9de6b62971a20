"""Where pixels are: spacing, origin and direction, updated by every spatial step.

A pixel at array index ``i`` (a vector in axis order) sits at the physical point
``origin + direction @ (i * spacing)``, the ITK convention. Crops, pads, flips, rotations and
resizes return a new :class:`Geometry` under which every surviving pixel keeps its physical
position, so a point measured on the output maps back to the input exactly.

For a projection radiograph there is no patient frame: the world frame is the image's own frame
as read (identity direction, origin at the first pixel), in millimetres when the file gives a pixel
spacing and in pixels (``unit == "px"``) when it does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

__all__ = ["Geometry"]


def _identity(ndim: int) -> tuple[float, ...]:
    return tuple(float(v) for v in np.eye(ndim).ravel())


@dataclass(frozen=True)
class Geometry:
    """Spacing, origin and direction of an array's spatial axes.

    Parameters
    ----------
    spacing : tuple of float
        Size of a pixel along each spatial array axis, in `unit`.
    origin : tuple of float
        Physical position of the centre of the pixel at index 0.
    direction : tuple of float
        The ``ndim x ndim`` direction matrix, row-major; column ``k`` is the unit vector along
        which array axis ``k`` advances.
    unit : {"mm", "px"}
        ``"px"`` when the source gave no pixel spacing.
    spacing_source : str
        The attribute the spacing came from (``PixelSpacing``, ``ImagerPixelSpacing``, ...),
        or ``"none"``.
    """

    spacing: tuple[float, ...]
    origin: tuple[float, ...] = ()
    direction: tuple[float, ...] = ()
    unit: Literal["mm", "px"] = "mm"
    spacing_source: str = "none"

    def __post_init__(self) -> None:
        n = len(self.spacing)
        object.__setattr__(self, "spacing", tuple(float(s) for s in self.spacing))
        if not self.origin:
            object.__setattr__(self, "origin", (0.0,) * n)
        if not self.direction:
            object.__setattr__(self, "direction", _identity(n))
        object.__setattr__(self, "origin", tuple(float(v) for v in self.origin))
        object.__setattr__(self, "direction", tuple(float(v) for v in self.direction))
        if len(self.origin) != n or len(self.direction) != n * n:
            raise ValueError(
                f"geometry of {n} axes needs {n} origin values and {n * n} direction values, "
                f"got {len(self.origin)} and {len(self.direction)}"
            )

    @classmethod
    def pixels(cls, ndim: int = 2) -> Geometry:
        """Return the geometry of an image with no known spacing (1 px per pixel)."""
        return cls(spacing=(1.0,) * ndim, unit="px", spacing_source="none")

    @property
    def ndim(self) -> int:
        """Number of spatial axes."""
        return len(self.spacing)

    @property
    def matrix(self) -> np.ndarray:
        """The direction as an ``ndim x ndim`` array."""
        return np.asarray(self.direction, dtype=np.float64).reshape(self.ndim, self.ndim)

    def index_to_world(self, index: Sequence[float]) -> np.ndarray:
        """Return the physical position of a (possibly fractional) array index."""
        idx = np.asarray(index, dtype=np.float64)
        return np.asarray(self.origin) + self.matrix @ (idx * np.asarray(self.spacing))

    def world_to_index(self, point: Sequence[float]) -> np.ndarray:
        """Return the fractional array index of a physical position."""
        rel = np.linalg.solve(self.matrix, np.asarray(point, dtype=np.float64) - self.origin)
        return rel / np.asarray(self.spacing)

    def _shift(self, offset_px: Sequence[float]) -> tuple[float, ...]:
        return tuple(float(v) for v in self.index_to_world(offset_px))

    def crop(self, start: Sequence[int]) -> Geometry:
        """Return the geometry of a crop whose first pixel was at index `start`."""
        return replace(self, origin=self._shift(start))

    def pad(self, before: Sequence[int]) -> Geometry:
        """Return the geometry after adding `before` pixels ahead of each axis."""
        return replace(self, origin=self._shift([-b for b in before]))

    def resize(self, old_shape: Sequence[int], new_shape: Sequence[int]) -> Geometry:
        """Return the geometry after resampling `old_shape` onto `new_shape` pixels.

        Pixel-centre convention (as OpenCV and SimpleITK use): the output grid covers exactly
        the extent of the input grid, so new pixel 0 is centred at old index ``(scale - 1) / 2``.
        """
        scale = np.asarray(old_shape[: self.ndim], float) / np.asarray(
            new_shape[: self.ndim], float
        )
        origin = self._shift((scale - 1.0) / 2.0)
        spacing = tuple(float(s) for s in np.asarray(self.spacing) * scale)
        return replace(self, origin=origin, spacing=spacing)

    def flip(self, axis: int, size: int) -> Geometry:
        """Return the geometry after reversing array axis `axis` of length `size`."""
        offset = [0.0] * self.ndim
        offset[axis] = size - 1
        origin = self._shift(offset)
        m = self.matrix.copy()
        m[:, axis] *= -1.0
        return replace(self, origin=origin, direction=tuple(m.ravel()))

    def transpose(self, axes: Sequence[int]) -> Geometry:
        """Return the geometry after permuting array axes as ``np.transpose(a, axes)``."""
        axes = list(axes)
        m = self.matrix[:, axes]
        spacing = tuple(self.spacing[a] for a in axes)
        return replace(self, spacing=spacing, direction=tuple(m.ravel()))

    def rot90(self, k: int, shape: Sequence[int]) -> Geometry:
        """Return the geometry after ``np.rot90(a, k)`` on the first two axes of `shape`."""
        geo, shp = self, list(shape[: self.ndim])
        order = list(range(self.ndim))
        order[0], order[1] = order[1], order[0]
        for _ in range(k % 4):
            # np.rot90 with k=1 is a flip of axis 1 followed by swapping axes 0 and 1.
            geo = geo.flip(1, shp[1]).transpose(order)
            shp[0], shp[1] = shp[1], shp[0]
        return geo

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-serialisable description."""
        return {
            "spacing": list(self.spacing),
            "origin": list(self.origin),
            "direction": list(self.direction),
            "unit": self.unit,
            "spacing_source": self.spacing_source,
        }
