"""The reference job as a MONAI user would write it (run inside the benchmark's MONAI venv).

LoadImage (pydicom reader) -> ScaleIntensity -> SpatialCrop (the square that keeps the ROI, as
radprep computes it) -> Resize(299, 299) -> SaveImage(png). Prints per-image seconds as JSON.
Usage: python monai_job.py OUT FULL.dcm:y0,x0,side ...
"""

import json
import sys
import time

import numpy as np
from monai.transforms import Compose, LoadImage, Resize, SaveImage, ScaleIntensity, SpatialCrop


def main() -> None:
    out = sys.argv[1]
    times = []
    load = LoadImage(reader="PydicomReader", image_only=True, ensure_channel_first=True)
    scale = ScaleIntensity()
    resize = Resize((299, 299))
    save = SaveImage(
        output_dir=out, output_ext=".png", output_dtype=np.uint8, scale=255, separate_folder=False
    )
    for arg in sys.argv[2:]:
        path, box = arg.rsplit(":", 1)
        y0, x0, side = (int(v) for v in box.split(","))
        t0 = time.perf_counter()
        img = load(path)
        img = scale(img)
        # PydicomReader gives (channel, cols, rows): x first, as ITK does.
        crop = SpatialCrop(roi_start=(x0, y0), roi_end=(x0 + side, y0 + side))
        img = Compose([crop, resize])(img)
        save(img)
        times.append(time.perf_counter() - t0)
    print(json.dumps(times))


if __name__ == "__main__":
    main()
