"""Mutation fuzzing of read_dicom: whatever the bytes, only radprep's documented errors.

About 500 mutants of real files (pydicom's and pydicom-data's, of every family: native little and
big endian, deflated, RLE, JPEG, JPEG-LS, JPEG 2000, palette colour, Modality and VOI LUT
sequences, enhanced multi-frame, no file meta) are read by :func:`radprep.read_dicom` in a child
process whose address space is capped, one file at a time under a time bound. Mutations are
byte-level (bit flips, overwritten spans, interesting 16/32-bit words, cuts, deleted and
duplicated spans, biased towards the header) and element-level (a header element's value set
to an extreme, replaced with garbage, its VR corrupted, or deleted). The mutants are seeded, so
a failure is reproduced by the same seed.

Run ``python tests/io/test_fuzz.py N SEED`` for a longer campaign; it prints the tally as JSON.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

SEEDS = (
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_RLE.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "JPEG-LL.dcm",
    "JPEG2000.dcm",
    "SC_rgb_rle.dcm",
    "SC_rgb_rle_32bit.dcm",
    "SC_rgb.dcm",
    "SC_ybr_full_uncompressed.dcm",
    "SC_jpeg_no_color_transform.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_expb_16bit.dcm",
    "JPEGLSNearLossless_16.dcm",
    "OT-PAL-8-face.dcm",
    "OBXXXX1A_rle.dcm",
    "OBXXXX1A_expb.dcm",
    "vlut_04.dcm",
    "mlut_18.dcm",
    "image_dfl.dcm",
    "emri_small.dcm",
    "no_meta.dcm",
    "ExplVR_BigEnd.dcm",
    "rtplan.dcm",
    "nested_priv_SQ.dcm",
)
INTERESTING16 = (0, 1, 0x7FFF, 0x8000, 0xFFFF, 0xFFFE, 64, 65)
INTERESTING32 = (0, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0x10000, 0xFFFFFFFE)
EXTREMES: tuple[Any, ...] = (0, 1, 65535, 32768, -1, 9999999999, "", "x", "1e309", "nan", "-0")
BAD_VRS = (b"ZZ", b"\x00\x00", b"OB", b"SQ", b"UN", b"US", b"FD")
TIME_BOUND_S = 5.0
ADDRESS_SPACE_BYTES = 3 << 30
DECODED_CAP_BYTES = 256 << 20


def _header_mutation(data: bytes, rng: random.Random) -> bytes:
    """Change one header element: extreme value, garbage bytes, deletion or a corrupted VR."""
    import pydicom
    from pydicom.filebase import DicomBytesIO

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(DicomBytesIO(data), force=True)
            tags = [t for t in ds if t != 0x7FE00010]
            if not tags:
                return data
            elem = ds[rng.choice(tags)]
            kind = rng.randrange(4)
            if kind == 0:
                del ds[elem.tag]
            elif kind == 1:
                value = rng.choice(EXTREMES)
                if elem.VR in ("US", "SS", "UL", "SL", "IS", "DS", "FL", "FD", "UV", "SV"):
                    elem.value = value if isinstance(value, int) else value or None
                else:
                    elem.value = str(value)
            elif kind == 2:
                elem.value = bytes(rng.randrange(256) for _ in range(rng.choice((1, 2, 7, 64))))
            else:
                elem.VR = rng.choice(("OB", "OW", "UN", "SQ", "US", "DS", "UI", "LO"))
            out = DicomBytesIO()
            ds.save_as(out, enforce_file_format=False)
            return out.getvalue()
    except Exception:
        return data


def mutate(data: bytes, rng: random.Random) -> bytes:
    """Apply one to three seeded mutations to the bytes of a DICOM file."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        n = len(buf)
        if n < 8:
            break
        # Three in four mutations hit the first 2 KiB: the header is where parsing decides.
        pos = rng.randrange(min(n, 2048)) if rng.random() < 0.75 else rng.randrange(n)
        kind = rng.randrange(8)
        if kind == 0:
            for _ in range(rng.randint(1, 8)):
                p = rng.randrange(n) if rng.random() < 0.3 else pos
                buf[p] ^= 1 << rng.randrange(8)
        elif kind == 1:
            span = rng.randint(1, 64)
            buf[pos : pos + span] = bytes(rng.randrange(256) for _ in range(span))
        elif kind == 2:
            buf[pos : pos + 2] = rng.choice(INTERESTING16).to_bytes(
                2, rng.choice(("little", "big"))
            )
        elif kind == 3:
            buf[pos : pos + 4] = rng.choice(INTERESTING32).to_bytes(
                4, rng.choice(("little", "big"))
            )
        elif kind == 4:
            del buf[rng.randrange(n) :]
        elif kind == 5:
            del buf[pos : pos + rng.randint(1, 256)]
        elif kind == 6:
            buf[pos:pos] = buf[pos : pos + rng.randint(1, 256)]
        else:
            p = buf.find(rng.choice((b"US", b"UI", b"DS", b"IS", b"OW", b"SQ", b"CS")), pos)
            if p >= 0:
                buf[p : p + 2] = rng.choice(BAD_VRS)
        if rng.random() < 0.25:
            buf = bytearray(_header_mutation(bytes(buf), rng))
    return bytes(buf)


class _Hang(KeyboardInterrupt):
    """Raised by the alarm in a read that takes far too long; a KeyboardInterrupt, which
    read_dicom lets through as it must, so the hang is counted and its mutant named."""


def campaign(n: int, seed: int, workdir: Path) -> dict[str, Any]:
    """Read `n` mutants with read_dicom; tally outcomes by class, time and memory."""
    import numpy as np

    from radprep.errors import RadprepError
    from radprep.io.dicom import read_dicom, set_max_decoded_bytes
    from realfiles import testdata

    set_max_decoded_bytes(DECODED_CAP_BYTES)

    def hang(signum: int, frame: object) -> None:
        raise _Hang(f"no answer within {4 * TIME_BOUND_S:.0f} s")

    signal.signal(signal.SIGALRM, hang)
    originals = [(name, testdata(name).read_bytes()) for name in SEEDS]
    rng = random.Random(seed)
    tally: dict[str, int] = {}
    undocumented: list[str] = []
    slowest = (0.0, "")
    reads = [
        {},
        {"voi": "header", "out_dtype": "uint8"},
        {"frames": 0, "voi": "auto"},
        {"reduce": 1},
    ]
    for i in range(n):
        name, data = originals[rng.randrange(len(originals))]
        mutant = mutate(data, rng)
        path = workdir / f"m{i:05d}_{name}"
        path.write_bytes(mutant)
        kwargs = reads[rng.randrange(len(reads))]
        t0 = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, 4 * TIME_BOUND_S)  # a hang names its mutant
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image = read_dicom(path, **kwargs)
            assert isinstance(image.pixels, np.ndarray)
            key = "ok"
        except _Hang as e:
            key = "undocumented"
            undocumented.append(f"{path.name} {kwargs}: {e}")
        except (KeyboardInterrupt, SystemExit):
            raise
        except RadprepError as e:
            key = type(e).__name__
            if str(path) not in str(e):
                undocumented.append(f"{path.name}: {key} without the file name: {e}")
        except BaseException as e:
            key = "undocumented"
            undocumented.append(
                f"{path.name} {kwargs}: {type(e).__module__}.{type(e).__name__}: "
                f"{' '.join(str(e).split())[:200]}"
            )
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        dt = time.perf_counter() - t0
        if dt > slowest[0]:
            slowest = (dt, f"{path.name} {kwargs}")
        tally[key] = tally.get(key, 0) + 1
        if key != "undocumented":
            path.unlink()
    return {
        "mutants": n,
        "seed": seed,
        "outcomes": dict(sorted(tally.items())),
        "undocumented": undocumented,
        "slowest_s": round(slowest[0], 3),
        "slowest_file": slowest[1],
        "peak_rss_mb": _peak_rss_mb(),
    }


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: Linux keeps ru_maxrss across execve, so a
    child of a big test process would report its parent's peak)."""
    try:
        with open("/proc/self/status") as fh:
            line = next(ln for ln in fh if ln.startswith("VmHWM:"))
        return round(int(line.split()[1]) / 1024, 1)
    except (OSError, StopIteration):
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))


def test_mutants_raise_only_documented_errors(tmp_path: Path) -> None:
    # RUST_BACKTRACE=0: pylibjpeg-rle's panics would print a Rust backtrace per mutant.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RUST_BACKTRACE": "0"}
    proc = subprocess.run(
        [sys.executable, __file__, "500", "20261130", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        preexec_fn=_limit_memory,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(report, indent=1))
    assert report["undocumented"] == []
    assert report["mutants"] == 500
    assert report["outcomes"].get("ok", 0) > 50  # the mutations leave many files readable
    assert report["slowest_s"] < TIME_BOUND_S, report["slowest_file"]
    assert report["peak_rss_mb"] < 1024


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parents[1]))
    _n, _seed = int(sys.argv[1]), int(sys.argv[2])
    _work = Path(sys.argv[3]) if len(sys.argv) > 3 else Path.cwd() / "fuzz-mutants"
    _work.mkdir(parents=True, exist_ok=True)
    print(json.dumps(campaign(_n, _seed, _work)))
