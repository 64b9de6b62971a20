"""The unit of work: an image, its masks on the same grid, labels, an id and where it came from.

Spatial steps move the image and every mask together and update the geometry through
:class:`~radprep.geometry.Geometry`; masks are resampled by nearest neighbour, so they keep
their values (a binary mask stays binary). Intensity steps replace the image only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from radprep.errors import InputError
from radprep.geometry import Geometry
from radprep.image import AppliedStep, Image, ImageMeta
from radprep.roi.mask import merge_masks
from radprep.spatial import orient
from radprep.spatial._box import take_box
from radprep.spatial.resize import Interpolation, resize, resize_mask
from radprep.types import BBox

__all__ = ["Sample"]

ArrayOp = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)
class Sample:
    """One image with its masks, labels, id and source.

    Parameters
    ----------
    image : Image
        The pixels, geometry, DICOM facts and history.
    masks : mapping of str to ndarray
        Named bool or uint8 masks with the image's ``(rows, cols)``.
    labels : mapping
        JSON-serialisable labels (pathology, laterality, view, ...).
    id : str
        The sample's id (never PHI when de-identification is on).
    source : mapping
        Provenance: UIDs, relative paths.

    Raises
    ------
    InputError
        If a mask does not share the image's grid.
    """

    image: Image
    masks: Mapping[str, np.ndarray] = field(default_factory=dict)
    labels: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""
    source: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        grid = self.image.spatial_shape
        for name, mask in self.masks.items():
            if tuple(mask.shape) != grid:
                raise InputError(
                    f"mask {name!r} has shape {tuple(mask.shape)} but the image's grid is "
                    f"{grid}; masks must share the image's grid"
                )
        object.__setattr__(self, "masks", dict(self.masks))

    @classmethod
    def from_array(
        cls,
        pixels: np.ndarray,
        *,
        geometry: Geometry | None = None,
        meta: ImageMeta | None = None,
        masks: Mapping[str, np.ndarray] | None = None,
        labels: Mapping[str, Any] | None = None,
        id: str = "",
        source: Mapping[str, Any] | None = None,
    ) -> Sample:
        """Return a Sample around bare pixels (pixel geometry unless one is given)."""
        image = Image(
            pixels=pixels,
            geometry=Geometry.pixels(2) if geometry is None else geometry,
            meta=ImageMeta() if meta is None else meta,
        )
        return cls(image, dict(masks or {}), dict(labels or {}), id, dict(source or {}))

    def roi_mask(self, names: str | list[str] | tuple[str, ...] | None = None) -> np.ndarray | None:
        """Return the union of the named masks (all masks when `names` is None), or None."""
        if names is None:
            chosen = list(self.masks.values())
        else:
            wanted = [names] if isinstance(names, str) else list(names)
            missing = [n for n in wanted if n not in self.masks]
            if missing:
                known = ", ".join(repr(n) for n in self.masks) or "none"
                raise InputError(f"sample {self.id!r} has no mask {missing[0]!r}; masks: {known}")
            chosen = [self.masks[n] for n in wanted]
        return merge_masks(chosen) if chosen else None

    def with_pixels(self, pixels: np.ndarray, step: AppliedStep, **meta_changes: Any) -> Sample:
        """Return a copy whose image has new pixels on the same grid and one more step."""
        return replace(self, image=self.image.evolve(pixels, step, **meta_changes))

    def map_spatial(
        self,
        pixels: np.ndarray,
        *,
        mask_op: ArrayOp,
        geometry: Geometry,
        step: AppliedStep,
    ) -> Sample:
        """Return a copy with new image pixels and geometry, every mask passed through `mask_op`.

        The one place where image, masks and geometry move together; the spatial helpers below
        and the spatial transforms all go through it.
        """
        image = self.image.evolve(pixels, step, geometry=geometry)
        masks = {name: mask_op(mask) for name, mask in self.masks.items()}
        return replace(self, image=image, masks=masks)

    def take_box(
        self,
        box: BBox,
        *,
        fill: float = 0,
        step: AppliedStep | None = None,
        pixels: np.ndarray | None = None,
    ) -> Sample:
        """Return the inclusive `box` of image and masks (a crop, or a pad past the edges).

        Masks are filled with 0 outside the image. `pixels`, when a pure function already cut
        the box out of the image, is used as is.
        """
        box = tuple(int(v) for v in box)  # type: ignore[assignment]
        return self.map_spatial(
            take_box(self.image.pixels, box, fill=fill) if pixels is None else pixels,
            mask_op=lambda m: take_box(m, box, fill=0),
            # A negative start is a pad: Geometry.crop moves the origin by start either way.
            geometry=self.image.geometry.crop(box[:2]),
            step=step or AppliedStep("take_box", {"box": list(box), "fill": fill}),
        )

    def flip(self, axis: int, *, step: AppliedStep | None = None) -> Sample:
        """Return image and masks mirrored along array axis 0 (rows) or 1 (columns)."""
        size = self.image.pixels.shape[axis]
        return self.map_spatial(
            orient.flip(self.image.pixels, axis),
            mask_op=lambda m: orient.flip(m, axis),
            geometry=self.image.geometry.flip(axis, size),
            step=step or AppliedStep("flip", {"axis": axis}),
        )

    def rot90(self, k: int = 1, *, step: AppliedStep | None = None) -> Sample:
        """Return image and masks turned by `k` quarter turns counter-clockwise."""
        return self.map_spatial(
            orient.rot90(self.image.pixels, k),
            mask_op=lambda m: orient.rot90(m, k),
            geometry=self.image.geometry.rot90(k, self.image.spatial_shape),
            step=step or AppliedStep("rot90", {"k": k}),
        )

    def resize(
        self,
        size: tuple[int, int],
        *,
        interpolation: Interpolation = "auto",
        step: AppliedStep | None = None,
    ) -> Sample:
        """Return image and masks resampled to ``(rows, cols)`` `size` (masks by nearest)."""
        old = self.image.spatial_shape
        new = (int(size[0]), int(size[1]))
        return self.map_spatial(
            resize(self.image.pixels, new, interpolation=interpolation),
            mask_op=lambda m: resize_mask(m, new),
            geometry=self.image.geometry.resize(old, new),
            step=step or AppliedStep("resize", {"size": list(new), "interpolation": interpolation}),
        )
