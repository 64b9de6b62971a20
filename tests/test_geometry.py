"""Spacing and origin follow every crop, pad, flip, rotation and resize of a Sample."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radprep.geometry import Geometry
from radprep.roi import bbox_from_mask
from radprep.sample import Sample
from radprep.transforms import (
    CropSquareKeepROI,
    CropToBBox,
    FlipToLaterality,
    PadToSquare,
    Resize,
    Rot90,
    Transform,
)


@st.composite
def geometries(draw: st.DrawFn) -> Geometry:
    spacing = draw(st.tuples(st.floats(0.05, 2.0), st.floats(0.05, 2.0)))
    origin = draw(st.tuples(st.floats(-500, 500), st.floats(-500, 500)))
    flipped = draw(st.booleans())
    direction = (1.0, 0.0, 0.0, -1.0) if flipped else ()
    return Geometry(spacing=spacing, origin=origin, direction=direction)


@st.composite
def samples(draw: st.DrawFn) -> Sample:
    """A sample whose "index" mask holds 1 + the flat index of each pixel, and a box ROI."""
    rows = draw(st.integers(1, 24))
    cols = draw(st.integers(1, 24))
    index = np.arange(1, rows * cols + 1, dtype=np.int32).reshape(rows, cols)
    y0 = draw(st.integers(0, rows - 1))
    x0 = draw(st.integers(0, cols - 1))
    roi = np.zeros((rows, cols), dtype=bool)
    roi[y0 : draw(st.integers(y0, rows - 1)) + 1, x0 : draw(st.integers(x0, cols - 1)) + 1] = True
    return Sample.from_array(
        index.astype(np.float32),
        geometry=draw(geometries()),
        masks={"index": index, "roi": roi},
        labels={"laterality": draw(st.sampled_from(["L", "R"]))},
    )


index_transforms = st.one_of(
    st.builds(CropSquareKeepROI, masks=st.just("roi"), oversize=st.sampled_from(["centre", "pad"])),
    st.builds(CropToBBox, masks=st.just("roi"), margin_px=st.integers(0, 5)),
    st.builds(PadToSquare, align=st.sampled_from(["centre", "start", "end"])),
    st.builds(
        FlipToLaterality, chest_wall=st.sampled_from(["left", "right"]), source=st.just("labels")
    ),
    st.builds(Rot90, k=st.integers(-3, 5)),
)


def _world(geometry: Geometry, indices: np.ndarray) -> np.ndarray:
    return np.array([geometry.index_to_world(i) for i in indices])


@settings(max_examples=100, deadline=None)
@given(samples(), index_transforms)
def test_every_surviving_pixel_keeps_its_physical_position(
    sample: Sample, transform: Transform
) -> None:
    out = transform(sample)
    old_index = out.masks["index"]
    assert old_index.shape == out.image.pixels.shape
    np.testing.assert_array_equal(out.image.pixels[old_index == 0], 0)  # padding
    new_idx = np.argwhere(old_index > 0)
    old_idx = np.column_stack(
        np.unravel_index(old_index[old_index > 0] - 1, sample.masks["index"].shape)
    )
    np.testing.assert_allclose(
        _world(out.image.geometry, new_idx), _world(sample.image.geometry, old_idx), atol=1e-6
    )
    np.testing.assert_array_equal(out.image.pixels[old_index > 0], old_index[old_index > 0])
    assert sorted(np.abs(out.image.geometry.spacing)) == sorted(
        np.abs(sample.image.geometry.spacing)
    )


@settings(max_examples=80, deadline=None)
@given(samples(), st.integers(1, 30), st.integers(1, 30))
def test_resize_geometry_maps_pixel_centres_into_their_source_pixels(
    sample: Sample, rows: int, cols: int
) -> None:
    out = Resize(size=(rows, cols))(sample)
    old_rows, old_cols = sample.image.spatial_shape
    scale = np.array([old_rows / rows, old_cols / cols])
    np.testing.assert_allclose(
        out.image.geometry.spacing, np.array(sample.image.geometry.spacing) * scale
    )
    # The output grid covers the input's extent: pixel i's centre is at old index (i+0.5)s - 0.5.
    new_idx = np.argwhere(np.ones((rows, cols), bool))
    where = np.array(
        [sample.image.geometry.world_to_index(p) for p in _world(out.image.geometry, new_idx)]
    )
    np.testing.assert_allclose(where, (new_idx + 0.5) * scale - 0.5, atol=1e-6)
    # Nearest neighbour: the mask value comes from the input pixel containing that centre.
    source = np.column_stack(
        np.unravel_index(out.masks["index"][tuple(new_idx.T)] - 1, (old_rows, old_cols))
    )
    assert np.all(np.abs(where - source) <= 0.5 + 1e-9)


@settings(max_examples=80, deadline=None)
@given(samples(), st.integers(1, 30), st.integers(1, 30))
def test_resized_mask_stays_binary_and_its_box_maps_to_the_images(
    sample: Sample, rows: int, cols: int
) -> None:
    out = Resize(size=(rows, cols))(sample)
    roi = out.masks["roi"]
    assert roi.dtype == bool
    y0, x0, y1, x1 = bbox_from_mask(sample.masks["roi"])
    old_rows, old_cols = sample.image.spatial_shape
    sy, sx = old_rows / rows, old_cols / cols
    if y1 - y0 + 1 < sy or x1 - x0 + 1 < sx:
        return  # an ROI smaller than one output pixel may fall between the sampled centres
    ny0, nx0, ny1, nx1 = bbox_from_mask(roi)
    g_old, g_new = sample.image.geometry, out.image.geometry
    # The box's outer edges (index -0.5 / +0.5 around the pixels) agree within one new pixel.
    old_lo = g_old.index_to_world((y0 - 0.5, x0 - 0.5))
    old_hi = g_old.index_to_world((y1 + 0.5, x1 + 0.5))
    new_lo = g_new.index_to_world((ny0 - 0.5, nx0 - 0.5))
    new_hi = g_new.index_to_world((ny1 + 0.5, nx1 + 0.5))
    tol = np.abs(np.array(g_new.spacing)) + 1e-6
    assert np.all(
        np.abs(g_old.world_to_index(new_lo) - g_old.world_to_index(old_lo))
        <= tol / np.abs(g_old.spacing)
    )
    assert np.all(
        np.abs(g_old.world_to_index(new_hi) - g_old.world_to_index(old_hi))
        <= tol / np.abs(g_old.spacing)
    )


@pytest.mark.parametrize("fit", ["letterbox", "shortest_side"])
def test_letterbox_and_shortest_side_geometry(fit: str) -> None:
    geometry = Geometry(spacing=(0.1, 0.2), origin=(10.0, -5.0))
    index = np.arange(1, 40 * 30 + 1, dtype=np.int32).reshape(40, 30)
    sample = Sample.from_array(index.astype(np.float32), geometry=geometry, masks={"index": index})
    size = 20 if fit == "shortest_side" else (20, 20)
    out = Resize(size=size, fit=fit)(sample)  # type: ignore[arg-type]
    new_idx = np.argwhere(out.masks["index"] > 0)
    source = np.column_stack(np.unravel_index(out.masks["index"][tuple(new_idx.T)] - 1, (40, 30)))
    where = np.array([geometry.world_to_index(p) for p in _world(out.image.geometry, new_idx)])
    assert np.all(np.abs(where - source) <= 0.5 + 1e-9)
    if fit == "letterbox":
        assert out.image.pixels.shape == (20, 20) and (out.masks["index"] == 0).sum() == 20 * 5
