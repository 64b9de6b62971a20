"""The shape of the stage packages: one function per operation for 2D and 3D (window channels,
pseudo-colour, crop to the foreground), checked on real 2D and 3D data against straightforward
reference implementations written here; one OR of masks; no import cycle between packages."""

from __future__ import annotations

import ast
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from scipy import ndimage

from radprep.color.pseudocolor import pseudocolor
from radprep.color.windows import window_stack
from radprep.errors import InputError
from radprep.geometry import Geometry
from radprep.io.series import read_series
from radprep.roi.mask import frames_to_slices, merge_masks
from radprep.sample import Sample
from radprep.spatial.crop import crop_to_foreground
from radprep.transforms.base import Transform
from realfiles import CT_HU, MR_SMALL, testdata
from series_data import ct_series, split_emri

SRC = Path(__file__).resolve().parents[1] / "src" / "radprep"
STAGES = ("intensity", "spatial", "roi", "clean", "color")


# --- real data: a 2D CT slice in HU, a 2D MR slice, a CT volume with air around it, an MR volume


@pytest.fixture(scope="module")
def ct2d() -> np.ndarray:
    ds = pydicom.dcmread(testdata(CT_HU))
    return (ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)).astype(np.float32)


@pytest.fixture(scope="module")
def mr2d() -> np.ndarray:
    return pydicom.dcmread(testdata(MR_SMALL)).pixel_array


@pytest.fixture(scope="module")
def ct3d(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    folder = tmp_path_factory.mktemp("ct")
    ct_series(folder, n=6, size=64)
    pixels = np.full((10, 96, 96), -1000.0, np.float32)
    pixels[2:8, 16:80, 20:84] = read_series(folder).pixels
    return pixels


@pytest.fixture(scope="module")
def mr3d(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    folder = tmp_path_factory.mktemp("mr")
    split_emri(folder)
    return read_series(folder).pixels


# --- reference implementations, written from the standards and the libraries' own calls


def ref_linear_window(x: np.ndarray, c: float, w: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 LINEAR onto [0, 1], as pydicom's apply_windowing computes it."""
    x = x.astype(np.float64)
    y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 1.0
    y[x <= c - 0.5 - (w - 1) / 2] = 0.0
    y[x > c - 0.5 + (w - 1) / 2] = 1.0
    return y


def ref_window_channels(x: np.ndarray, windows: list[tuple[float, float]]) -> np.ndarray:
    return np.stack([ref_linear_window(x, c, w) for c, w in windows], axis=-1).astype(np.float32)


def ref_pseudocolor_2d(
    grey: np.ndarray, lo: float, hi: float, cmap: int, ycbcr: bool
) -> np.ndarray:
    """Scale [lo, hi] onto 0..255 (rounded, clipped), OpenCV's colormap, RGB or Y, Cb, Cr."""
    work = np.float64 if grey.dtype.itemsize > 2 else np.float32
    u8 = np.rint(np.clip((grey.astype(work) - work(lo)) * (255.0 / (hi - lo)), 0, 255))
    rgb = cv2.applyColorMap(u8.astype(np.uint8), cmap)[:, :, ::-1]
    if not ycbcr:
        return rgb
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YCrCb)[:, :, [0, 2, 1]]


def ref_pseudocolor_volume(volume: np.ndarray, cmap: int, ycbcr: bool) -> np.ndarray:
    """Every slice with the volume's own min and max."""
    lo, hi = float(volume.min()), float(volume.max())
    return np.stack([ref_pseudocolor_2d(s, lo, hi, cmap, ycbcr) for s in volume])


def ref_foreground_box_2d(image: np.ndarray, margin: int) -> tuple[int, ...]:
    """Otsu on the uint16 image (OpenCV), largest 8-connected component, its box + margin."""
    level, _ = cv2.threshold(image, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    labels, n = ndimage.label(image > level, structure=np.ones((3, 3)))
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, range(1, n + 1))
    ys, xs = np.nonzero(labels == 1 + int(np.argmax(sizes)))
    r, c = image.shape
    return (
        max(0, ys.min() - margin),
        max(0, xs.min() - margin),
        min(r - 1, ys.max() + margin),
        min(c - 1, xs.max() + margin),
    )


def ref_body_box_3d(volume: np.ndarray, threshold: float, margin: int) -> tuple[int, ...]:
    """Voxels above the threshold, largest face-connected 3D component, its box + margin."""
    labels, n = ndimage.label(volume > threshold)
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, range(1, n + 1))
    idx = np.nonzero(labels == 1 + int(np.argmax(sizes)))
    lo = [max(0, int(i.min()) - margin) for i in idx]
    hi = [min(s - 1, int(i.max()) + margin) for i, s in zip(idx, volume.shape, strict=True)]
    return (*lo, *hi)


# --- one function for 2D and 3D, equal to each former twin's reference


WINDOWS = [(40.0, 80.0), (80.0, 200.0), (600.0, 2800.0)]


def test_window_stack_2d_and_3d_equal_the_linear_window(ct2d: np.ndarray, ct3d: np.ndarray) -> None:
    for image in (ct2d, ct3d):
        out = window_stack(image, WINDOWS)
        assert out.dtype == np.float32 and out.shape == (*image.shape, 3)
        np.testing.assert_array_equal(out, ref_window_channels(image, WINDOWS))
    # presets by name give the same channels as their numbers
    np.testing.assert_array_equal(
        window_stack(ct3d, ["brain", "subdural", "bone"]), window_stack(ct3d, WINDOWS)
    )


@pytest.mark.parametrize("ycbcr", [False, True])
def test_pseudocolor_2d_and_3d_equal_opencv_colormaps(
    mr2d: np.ndarray, mr3d: np.ndarray, ycbcr: bool
) -> None:
    lo, hi = float(mr2d.min()), float(mr2d.max())
    np.testing.assert_array_equal(
        pseudocolor(mr2d, cmap="jet", ycbcr=ycbcr, in_range="image"),
        ref_pseudocolor_2d(mr2d, lo, hi, cv2.COLORMAP_JET, ycbcr),
    )
    np.testing.assert_array_equal(
        pseudocolor(mr2d, cmap="turbo", ycbcr=ycbcr, in_range=(100.0, 900.0)),
        ref_pseudocolor_2d(mr2d, 100.0, 900.0, cv2.COLORMAP_TURBO, ycbcr),
    )
    vol = pseudocolor(mr3d, cmap="jet", ycbcr=ycbcr, in_range="image")
    assert vol.shape == (*mr3d.shape, 3) and vol.dtype == np.uint8
    np.testing.assert_array_equal(vol, ref_pseudocolor_volume(mr3d, cv2.COLORMAP_JET, ycbcr))


def test_crop_to_foreground_2d_and_3d_equal_the_reference_boxes(
    mr2d: np.ndarray, ct3d: np.ndarray, mr3d: np.ndarray
) -> None:
    mr16 = mr2d.astype(np.uint16)  # MR_small holds 0..max in int16
    out, box = crop_to_foreground(mr16, margin_px=3)
    assert box == ref_foreground_box_2d(mr16, 3)
    y0, x0, y1, x1 = box
    np.testing.assert_array_equal(out, mr16[y0 : y1 + 1, x0 : x1 + 1])
    out, box = crop_to_foreground(ct3d, threshold=-500.0, margin_px=1)
    assert box == ref_body_box_3d(ct3d, -500.0, 1) == (1, 15, 19, 8, 80, 84)
    z0, y0, x0, z1, y1, x1 = box
    np.testing.assert_array_equal(out, ct3d[z0 : z1 + 1, y0 : y1 + 1, x0 : x1 + 1])
    level = float(np.percentile(mr3d, 60))
    _, box = crop_to_foreground(mr3d, threshold=level)
    assert box == ref_body_box_3d(mr3d, level, 0)
    with pytest.raises(InputError, match=r"nothing above the foreground threshold 5000"):
        crop_to_foreground(ct3d, threshold=5000.0)


# --- one OR of masks


def test_merge_masks_is_the_or_in_2d_and_3d() -> None:
    rng = np.random.default_rng(1)
    for shape in ((7, 9), (4, 7, 9)):
        a, b, c = (rng.random(shape) > 0.8 for _ in range(3))
        merged = merge_masks({"a": a, "b": b.astype(np.uint8) * 255, "c": c})
        assert merged.dtype == bool
        np.testing.assert_array_equal(merged, a | b | c)
        assert merged is not a
    with pytest.raises(InputError, match=r"masks\[1\] has shape"):
        merge_masks([np.zeros((2, 2)), np.zeros((3, 2))])


def test_frames_to_slices_places_each_label_on_its_slices() -> None:
    frames = np.zeros((3, 2, 2), np.uint8)
    frames[0, 0, 0] = frames[1, 1, 1] = frames[2, 0, 1] = 1
    out = frames_to_slices(frames, [0, 2, 2], [1, 1, 2], [1, 2, 3], n_slices=3)
    assert sorted(out) == [1, 2, 3] and out[1].shape == (3, 2, 2)
    assert out[1][0, 0, 0] and out[1][2, 1, 1] and out[1].sum() == 2
    assert out[2][2, 0, 1] and out[2].sum() == 1 and not out[3].any()


def test_sample_roi_mask_joins_volume_masks() -> None:
    a = np.zeros((3, 4, 4), np.uint8)
    b = np.zeros((3, 4, 4), bool)
    a[0, 0, 0], b[2, 3, 3] = 1, True
    sample = Sample.from_array(
        np.zeros((3, 4, 4), np.float32), geometry=Geometry.pixels(3), masks={"a": a, "b": b}
    )
    assert sample.roi_mask().sum() == 2 and sample.roi_mask("a").sum() == 1


# --- the former twins' op names still build the one transform


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"op": "window_channels", "windows": [[40, 80]]}, "window_stack"),
        ({"op": "pseudocolor_volume"}, "pseudocolor"),
        ({"op": "crop_to_body", "threshold": None}, "crop_to_foreground"),
    ],
)
def test_former_op_names_build_the_merged_op(old: dict, new: str) -> None:
    built = Transform.from_spec(old)
    assert built.op == new


# --- packages: no import cycles


def _package_imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.name == "__init__.py" and rel.parent == Path("."):
            continue  # the package root re-exports the public API
        top = rel.parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "radprep" and len(parts) > 1 and parts[1] != top:
                    graph.setdefault(top, set()).add(parts[1])
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one import cycle (a path back to its start), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                found = visit(nxt, [*path, nxt])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_no_import_cycle_between_packages() -> None:
    graph = _package_imports()
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])
    stages = {k: v & set(STAGES) for k, v in graph.items() if k in STAGES}
    assert _cycle(stages) is None
    assert "spatial" not in graph["roi"]  # roi is pure array functions; SEG reading is in io/
