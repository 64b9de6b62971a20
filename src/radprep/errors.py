"""The radprep exception tree.

Every error radprep raises on purpose derives from :class:`RadprepError` and from the builtin
that matches its meaning, so ``except ValueError`` keeps working for callers who know nothing of
radprep::

    RadprepError(Exception)
    ├── InputError(RadprepError, ValueError)            bad input data
    │   ├── NotDicomError                               not a DICOM file at all
    │   ├── TruncatedFileError                          a DICOM file cut short
    │   ├── NoPixelDataError                            DICOM without (7FE0,0010) Pixel Data
    │   ├── DecoderMissingError                         no installed decoder for the transfer syntax
    │   ├── PixelDecodeError                            a decoder failed on the pixel data
    │   └── InvalidAttributeError                       an attribute value the chain cannot use
    ├── SpecError(RadprepError, ValueError)             a bad option, recipe or argument
    └── OutputError(RadprepError, OSError)              an output cannot be written

Messages name the file, the DICOM keyword and tag, and what to do next. The CLI maps the tree to
exit codes (see :mod:`radprep.cli.app`).
"""

from __future__ import annotations

__all__ = [
    "DecoderMissingError",
    "InputError",
    "InvalidAttributeError",
    "NoPixelDataError",
    "NotDicomError",
    "OutputError",
    "PixelDecodeError",
    "RadprepError",
    "RadprepWarning",
    "SpecError",
    "TruncatedFileError",
]


class RadprepError(Exception):
    """Base class of every error radprep raises on purpose."""


class InputError(RadprepError, ValueError):
    """An input file or array cannot be used as it is."""


class NotDicomError(InputError):
    """The file is not DICOM (no preamble and no recognisable data set)."""


class TruncatedFileError(InputError):
    """The file ends before its data set or its pixel data does."""


class NoPixelDataError(InputError):
    """The data set has no (7FE0,0010) Pixel Data, Float or Double Float Pixel Data."""


class DecoderMissingError(InputError):
    """No installed plugin decodes the file's transfer syntax."""


class PixelDecodeError(InputError):
    """A decoder was found but failed on the pixel data."""


class InvalidAttributeError(InputError):
    """An attribute holds a value the intensity chain or geometry cannot use."""


class SpecError(RadprepError, ValueError):
    """An option, argument or recipe value is invalid."""


class OutputError(RadprepError, OSError):
    """An output cannot be written where it was asked for."""


class RadprepWarning(UserWarning):
    """A recoverable data quirk: the message says what was done about it.

    ``--strict`` on the CLI (``warnings.simplefilter("error", RadprepWarning)``) makes it an error.
    """
