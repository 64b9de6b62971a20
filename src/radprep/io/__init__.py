"""Reading DICOM into :class:`~radprep.image.Image`."""

from radprep.io.dicom import read_dicom, read_header
from radprep.io.write import atomic_write_bytes

__all__ = ["atomic_write_bytes", "read_dicom", "read_header"]
