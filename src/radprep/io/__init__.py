"""Reading DICOM into :class:`~radprep.image.Image`."""

from radprep.io.dicom import read_dicom, read_header

__all__ = ["read_dicom", "read_header"]
