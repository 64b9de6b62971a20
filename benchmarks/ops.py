"""Square crop + border residue removal + resize to 299x299 on 16-bit mammogram-sized images.

Compares, on the same inputs in one run:

- radprep: ``crop_square_keep_roi`` (a view), ``remove_border_residue`` (edge-band scan),
  ``resize`` (area averaging with an exact integer pre-reduction), all on uint16;
- the CBIS-DDSM notebook's way with PIL: ``Image.crop``, residue ``a[a == max] = 0``, then
  ``Image.resize`` with BICUBIC or LANCZOS;
- scikit-image: the same crop and residue, then ``transform.resize(anti_aliasing=True)``;

and prints the decode time of the same image from an uncompressed DICOM file with
``pydicom.dcmread(...).pixel_array``, for the target "the ops cost less than decoding".

Run: ``.venv/bin/python benchmarks/ops.py [--repeats 30] [--cv2-threads 1]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from radprep.clean import remove_border_residue
from radprep.spatial import crop_square_keep_roi, resize
from realfiles import CR_MONO1_15BIT, testdata

ROWS, COLS = 4084, 3328
OUT = 299
ROI = (2500, 1200, 2800, 1500)  # inclusive (y0, x0, y1, x1), in the lower half
WHITE = 65535


def make_image() -> np.ndarray:
    """RG1's pixels inverted to display, upscaled to 4084x3328 uint16, with white residue."""
    raw = pydicom.dcmread(testdata(CR_MONO1_15BIT)).pixel_array
    display = ((32767 - raw.astype(np.int32)) * 2).astype(np.uint16)  # 16-bit range, max < WHITE
    image = cv2.resize(display, (COLS, ROWS), interpolation=cv2.INTER_CUBIC)
    image[:, COLS - 60 :] = WHITE  # a scanner strip along the right edge
    image[:25, :] = WHITE  # and along the top
    image[3000:3004, 1500:1504] = WHITE  # a saturated calcification: must survive
    return image


def ours(image: np.ndarray) -> np.ndarray:
    square, _ = crop_square_keep_roi(image, ROI)
    return resize(remove_border_residue(square), (OUT, OUT))


def _crop_residue_numpy(image: np.ndarray) -> np.ndarray:
    # The notebook's crop rows and its global "max -> 0" on the crop, in numpy.
    side = image.shape[1]
    start = min(max((ROI[0] + ROI[2]) // 2 - side // 2, 0), image.shape[0] - side)
    square = image[start : start + side].copy()
    square[square == WHITE] = 0
    return square


def pil_way(resample: int) -> Callable[[np.ndarray], np.ndarray]:
    from PIL import Image

    def run(image: np.ndarray) -> np.ndarray:
        side = image.shape[1]
        start = min(max((ROI[0] + ROI[2]) // 2 - side // 2, 0), image.shape[0] - side)
        pil = Image.fromarray(image).crop((0, start, side, start + side))
        a = np.array(pil)
        a[a == WHITE] = 0
        return np.asarray(Image.fromarray(a).resize((OUT, OUT), resample))

    return run


def skimage_way(image: np.ndarray) -> np.ndarray:
    from skimage import transform

    square = _crop_residue_numpy(image)
    out = transform.resize(square, (OUT, OUT), anti_aliasing=True, preserve_range=True)
    return out.astype(np.uint16)


def write_dicom(image: np.ndarray, path: Path) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MG"
    ds.Rows, ds.Columns = image.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = image.tobytes()
    ds.save_as(path, enforce_file_format=True)


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float, list[float]]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    q1, _, q3 = statistics.quantiles(times, n=4) if len(times) > 1 else (times[0],) * 3
    return statistics.median(times), q3 - q1, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--cv2-threads", type=int, default=1, help="1 = one core, as in a pool")
    args = parser.parse_args()
    cv2.setNumThreads(args.cv2_threads)
    image = make_image()

    # Correctness first: same crop, residue gone, the calcification kept, right shape.
    out = ours(image)
    square, crop = crop_square_keep_roi(image, ROI)
    assert out.shape == (OUT, OUT) and out.dtype == np.uint16
    cleaned = remove_border_residue(square)
    assert not (cleaned[:, -60:] == WHITE).any() and (cleaned == WHITE).sum() == 16

    rows: list[tuple[str, float, float]] = []
    slow = max(3, args.repeats // 6)
    cases: list[tuple[str, Callable[[np.ndarray], np.ndarray], int]] = [
        ("radprep (crop view + edge-band residue + INTER_AREA, uint16)", ours, args.repeats),
        ("notebook way, PIL crop + residue + resize BICUBIC", pil_way(3), args.repeats // 2),
        ("notebook way, PIL crop + residue + resize LANCZOS", pil_way(1), args.repeats // 2),
        ("scikit-image transform.resize(anti_aliasing=True)", skimage_way, slow),
    ]
    for name, fn, n in cases:
        median, iqr, _ = timed(lambda fn=fn: fn(image), n)
        rows.append((name, median, iqr))

    parts = {
        "  crop_square_keep_roi": lambda: crop_square_keep_roi(image, ROI),
        "  remove_border_residue (on the crop)": lambda: remove_border_residue(square),
        "  resize to 299x299 (on the crop)": lambda: resize(cleaned, (OUT, OUT)),
    }
    part_rows = [(name, *timed(fn, args.repeats)[:2]) for name, fn in parts.items()]

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mammo.dcm"
        write_dicom(image, path)
        decode_median, decode_iqr, _ = timed(
            lambda: pydicom.dcmread(path).pixel_array, args.repeats // 2
        )

    base = rows[0][1]
    print(f"Image {ROWS}x{COLS} uint16 ({image.nbytes / 1e6:.0f} MB), crop {crop.side}x{crop.side}")
    print(f"-> {OUT}x{OUT}; cv2 threads {args.cv2_threads}; times per image in ms\n")
    print("| method | median ms | IQR ms | x radprep |")
    print("|---|---:|---:|---:|")
    for name, median, iqr in rows:
        print(f"| {name} | {median:.1f} | {iqr:.1f} | {median / base:.1f} |")
    for name, median, iqr in part_rows:
        print(f"| {name.strip()} (part) | {median:.2f} | {iqr:.2f} | |")
    print(
        f"| pydicom dcmread(...).pixel_array, uncompressed, same image | {decode_median:.1f} "
        f"| {decode_iqr:.1f} | {decode_median / base:.1f} |"
    )
    verdict = "met" if base < decode_median else "NOT met"
    print(f"\nTarget (ops cost less than decoding): {verdict}:", end=" ")
    print(f"{base:.1f} ms vs {decode_median:.1f} ms")


if __name__ == "__main__":
    main()
