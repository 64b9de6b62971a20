"""Burned-in text: which images need pixel review, and blanking known text regions.

PS3.15 E.3.1 (Clean Pixel Data Option): header de-identification does nothing for text burned
into the pixels. An image is held for review when BurnedInAnnotation (0028,0301) is YES, or when
it is of a kind that often carries burned-in text (ultrasound, secondary capture, other, screen
saves) and does not say NO. Such an image passes only when a pixel-cleaning region of the recipe
(by manufacturer, model and image size) blanks the text, and only then is it marked
BurnedInAnnotation NO.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from radprep.deid.config import PixelRegion
from radprep.errors import PixelDecodeError, RadprepError

__all__ = [
    "SUSPECT_MODALITIES",
    "SUSPECT_SOP_CLASSES",
    "burned_in_reason",
    "clean_pixels",
    "find_region",
]

SUSPECT_MODALITIES = frozenset({"US", "SC", "OT"})
"""Modalities whose images often carry burned-in text (ultrasound, secondary capture, other)."""

SUSPECT_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image Storage
        "1.2.840.10008.5.1.4.1.1.7.1",  # Multi-frame Single Bit SC
        "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte SC
        "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word SC
        "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color SC
    }
)

_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)


def burned_in_reason(ds: Dataset) -> str | None:
    """Return why an image needs pixel review, or None when it does not.

    The reason names attributes and their public, non-identifying values only (it goes into the
    audit).
    """
    if not any(t in ds for t in _PIXEL_TAGS):
        return None
    flag = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if flag == "YES":
        return "BurnedInAnnotation (0028,0301) is YES"
    if flag == "NO":
        return None
    modality = str(ds.get("Modality", "") or "").strip().upper()
    if modality in SUSPECT_MODALITIES:
        return f"Modality (0008,0060) {modality} without BurnedInAnnotation (0028,0301) NO"
    sop_class = str(ds.get("SOPClassUID", "") or "").strip()
    if sop_class in SUSPECT_SOP_CLASSES:
        return "a Secondary Capture without BurnedInAnnotation (0028,0301) NO"
    raw_type = ds.get("ImageType") or []
    image_type = [str(v).upper() for v in ([raw_type] if isinstance(raw_type, str) else raw_type)]
    if "SCREEN SAVE" in image_type or str(ds.get("ConversionType", "")).upper() == "WSD":
        return "a screen save without BurnedInAnnotation (0028,0301) NO"
    return None


def find_region(ds: Dataset, regions: tuple[PixelRegion, ...]) -> PixelRegion | None:
    """Return the first region that applies to this image's device and size, if any."""
    if not regions:
        return None
    manufacturer = str(ds.get("Manufacturer", "") or "")
    model = str(ds.get("ManufacturerModelName", "") or "")
    rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    for region in regions:
        if region.matches(manufacturer, model, rows, columns):
            return region
    return None


def clean_pixels(ds: Dataset, region: PixelRegion, *, where: str = "") -> None:
    """Blank the region's rectangles in every frame of `ds` (changed in place).

    The pixels are decoded, blanked (to the darkest value: 0, or the largest stored value for
    MONOCHROME1), and stored uncompressed in Explicit VR Little Endian; YBR colour becomes RGB.
    BurnedInAnnotation is set to NO.

    Raises
    ------
    PixelDecodeError
        If the pixel data cannot be decoded.
    """
    try:
        arr = np.array(ds.pixel_array, copy=True)
    except RadprepError:
        raise
    except Exception as e:
        raise PixelDecodeError(
            f"{where}: PixelData (7FE0,0010) cannot be decoded for pixel cleaning ({e}); "
            "check the transfer syntax decoders"
        ) from e
    photometric = str(ds.PhotometricInterpretation).strip()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples == 3 and photometric.startswith("YBR"):
        photometric = "RGB"  # pydicom's pixel_array converts YBR to RGB
    fill = (1 << int(ds.BitsStored)) - 1 if photometric == "MONOCHROME1" else 0
    if ds.get("PixelRepresentation", 0) == 1 and fill:
        fill = (1 << (int(ds.BitsStored) - 1)) - 1
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    for y0, x0, y1, x1 in region.rectangles:
        if frames > 1:
            arr[:, y0 : y1 + 1, x0 : x1 + 1, ...] = fill
        else:
            arr[y0 : y1 + 1, x0 : x1 + 1, ...] = fill
    # Re-encoded uncompressed: the transfer syntax changes with it (set_pixel_data keeps a
    # native one, and big endian is retired).
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.set_pixel_data(arr, photometric, int(ds.BitsStored), generate_instance_uid=False)
    ds.BurnedInAnnotation = "NO"
