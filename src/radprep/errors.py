"""The radprep exception tree.

Every error radprep raises on purpose derives from :class:`RadprepError` and from the builtin
that matches its meaning, so ``except ValueError`` keeps working for callers who know nothing of
radprep::

    RadprepError(Exception)
    ├── InputError(RadprepError, ValueError)            bad input data
    │   ├── NotDicomError                               not a DICOM file at all
    │   ├── TruncatedFileError                          a DICOM file cut short
    │   ├── CorruptFileError                            bytes that break the DICOM encoding
    │   ├── NoPixelDataError                            DICOM without (7FE0,0010) Pixel Data
    │   ├── DecoderMissingError                         no installed decoder for the transfer syntax
    │   ├── PixelDecodeError                            a decoder failed on the pixel data
    │   ├── InvalidAttributeError                       an attribute value the chain cannot use
    │   ├── SizeLimitError                              decoding would pass the memory limit
    │   ├── FrameNotFoundError                          a frame number the file does not have
    │   ├── EmptyImageError                             an image with no pixels to write
    │   └── UnwritableImageError                        pixels the output format cannot hold
    ├── SpecError(RadprepError, ValueError)             a bad option, recipe or argument
    └── OutputError(RadprepError, OSError)              an output cannot be written

Messages name the file, the DICOM keyword and tag, and what to do next. The CLI maps the tree to
exit codes (see :mod:`radprep.cli.app`): an :class:`InputError` is a problem of one file (a batch
counts it failed and goes on, exit 1); a :class:`SpecError` is a problem of the command or recipe
(nothing is done, exit 2).
"""

from __future__ import annotations

__all__ = [
    "CorruptFileError",
    "DecoderMissingError",
    "EmptyImageError",
    "FrameNotFoundError",
    "InputError",
    "InvalidAttributeError",
    "NoPixelDataError",
    "NotDicomError",
    "OutputError",
    "PixelDecodeError",
    "RadprepError",
    "RadprepWarning",
    "SizeLimitError",
    "SpecError",
    "TruncatedFileError",
    "UnwritableImageError",
]


class RadprepError(Exception):
    """Base class of every error radprep raises on purpose."""


class InputError(RadprepError, ValueError):
    """An input file or array cannot be used as it is."""


class NotDicomError(InputError):
    """The file is not DICOM (no preamble and no recognisable data set)."""


class TruncatedFileError(InputError):
    """The file ends before its data set or its pixel data does."""


class CorruptFileError(InputError):
    """The bytes contradict the DICOM encoding without the file being cut short: an unknown VR,
    a value whose length does not fit its VR, sequences nested beyond reason."""


class NoPixelDataError(InputError):
    """The data set has no (7FE0,0010) Pixel Data, Float or Double Float Pixel Data."""


class DecoderMissingError(InputError):
    """No installed plugin decodes the file's transfer syntax."""


class PixelDecodeError(InputError):
    """A decoder was found but failed on the pixel data."""


class InvalidAttributeError(InputError):
    """An attribute holds a value the intensity chain or geometry cannot use."""


class SizeLimitError(InputError):
    """The header (or a deflated stream) asks for more memory than the decoded-size limit.

    The limit (default 4 GiB) is checked before anything is allocated; raise it with
    ``RADPREP_MAX_DECODED_BYTES`` or :func:`radprep.io.dicom.set_max_decoded_bytes`.
    """


class FrameNotFoundError(InputError):
    """A frame number asked for is not among the file's NumberOfFrames (0028,0008)."""


class EmptyImageError(InputError):
    """An image has no pixels (a zero-size array): there is nothing to write."""


class UnwritableImageError(InputError):
    """An image's pixel type or shape cannot be held by the output format asked for (int16
    modality values as PNG, a stack of frames as one PNG)."""


class SpecError(RadprepError, ValueError):
    """An option, argument or recipe value is invalid."""


class OutputError(RadprepError, OSError):
    """An output cannot be written where it was asked for."""


class RadprepWarning(UserWarning):
    """A recoverable data quirk: the message says what was done about it.

    ``--strict`` on the CLI (``warnings.simplefilter("error", RadprepWarning)``) makes it an error.
    """
