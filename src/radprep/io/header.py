"""Parse a DICOM file's header (its data set without the pixels), or fail with a one-line reason.

A deflated data set is measured before pydicom inflates it (a deflate bomb is refused), files
without a preamble are accepted when what follows is plainly DICOM, and whatever the parser
raises is mapped to :mod:`radprep.errors` (see :mod:`radprep.io.error_map`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from radprep._limits import format_bytes, max_decoded_bytes
from radprep.errors import (
    CorruptFileError,
    InputError,
    NotDicomError,
    RadprepError,
    SizeLimitError,
    TruncatedFileError,
)
from radprep.io.error_map import header_error, one_line

__all__ = ["PIXEL_KEYWORDS", "PathLike", "read_header", "read_header_at_pixels", "transfer_syntax"]

PathLike = str | os.PathLike[str]

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def _where(path: PathLike) -> str:
    return os.fspath(path)


def read_header(path: PathLike, *, specific_tags: Sequence[int] | None = None) -> Dataset:
    """Parse a DICOM file's data set without its pixel data.

    Files with no 128-byte preamble are accepted when what follows is plainly a DICOM data set.

    Parameters
    ----------
    path : str or PathLike
        The file.
    specific_tags : sequence of int, optional
        Parse only these elements (much faster for indexing); the pixel data element, when it is
        among them, is noted but its value is not read.

    Raises
    ------
    NotDicomError
        If the file is not DICOM.
    TruncatedFileError
        If the file ends inside its header.
    InputError
        If the file cannot be opened.
    """
    kwargs: dict[str, Any] = (
        {"stop_before_pixels": True}
        if specific_tags is None
        else {"specific_tags": list(specific_tags), "defer_size": 256}
    )
    if specific_tags is None:
        return _read(path, kwargs)
    ds = _read(path, kwargs, check_empty=False)
    if len(ds) == 0:
        # pydicom drops the whole data set when a file ends inside an encapsulated pixel
        # sequence; a header-only parse still reads such a file's header.
        ds = _read(path, {"stop_before_pixels": True})
    return ds


def read_header_at_pixels(path: PathLike) -> tuple[Dataset, int | None]:
    """Parse a file's header as :func:`read_header` does, and say where the parse stopped.

    Returns
    -------
    Dataset, int or None
        The data set without its pixel data; the file position of the top-level pixel data
        element's tag (None when the file has none, or was read without its preamble).
    """
    tell: list[int] = []
    ds = _read(path, {"stop_before_pixels": True}, tell=tell)
    return ds, (tell[0] if tell else None)


_DEFLATED_UID = str(DeflatedExplicitVRLittleEndian).encode()


def _check_deflated_size(path: PathLike, where: str) -> None:
    """Refuse a deflated data set that inflates past the decoded-size limit.

    pydicom inflates a deflated body in one piece before parsing it, and holds it two or three
    times over while parsing, so a 1 MB stream of zeros would cost gigabytes. The stream is
    inflated here first in bounded chunks, counting bytes and keeping none; it may inflate to
    1/16 of the decoded-size limit (256 MiB by default), which keeps the peak memory of reading
    it under 1 GB.
    """
    import zlib

    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
            if _DEFLATED_UID not in head:
                return
            from pydicom.filereader import _read_file_meta_info as read_meta
            from pydicom.filereader import read_preamble

            fh.seek(0)
            read_preamble(fh, False)
            meta = read_meta(fh)
            if str(meta.get("TransferSyntaxUID", "")) != str(DeflatedExplicitVRLittleEndian):
                return
            limit = max_decoded_bytes() // 16
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            total = 0
            while chunk := fh.read(1 << 16):
                while chunk:
                    total += len(inflater.decompress(chunk, 1 << 20))
                    chunk = inflater.unconsumed_tail
                    if total > limit:
                        raise SizeLimitError(
                            f"{where}: the deflated data set inflates past "
                            f"{format_bytes(limit)}, 1/16 of the decoded-size limit (a deflate "
                            "bomb, or a huge image); raise RADPREP_MAX_DECODED_BYTES if the file "
                            "is genuine"
                        )
    except RadprepError:
        raise
    except Exception:
        return  # unreadable or not a well-formed deflated file: the parser says what is wrong


def _read(
    path: PathLike,
    kwargs: dict[str, Any],
    *,
    check_empty: bool = True,
    tell: list[int] | None = None,
) -> Dataset:
    """Parse with pydicom, errors mapped; `tell` (a list) receives where the parse stopped."""
    where = _where(path)
    _check_deflated_size(path, where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if tell is None:
                ds = pydicom.dcmread(path, **kwargs)
            else:
                with open(path, "rb") as fh:
                    ds = pydicom.dcmread(fh, **kwargs)
                    if fh.tell() < os.fstat(fh.fileno()).st_size:
                        tell.append(fh.tell())
        if check_empty and len(ds) == 0:
            if _has_body(path, ds):
                raise CorruptFileError(
                    f"{where}: the data set after the File Meta Information cannot be parsed "
                    "(its transfer syntax or first element is corrupt)"
                )
            raise TruncatedFileError(
                f"{where}: the file ends after its File Meta Information, before any data "
                "element; it was probably cut off in transfer"
            )
        return ds
    except RadprepError:
        raise
    except InvalidDicomError:
        bare = _read_without_preamble(path, kwargs)
        if bare is None:
            raise NotDicomError(
                f"{where}: not a DICOM file (no 'DICM' marker and no readable data set); "
                "skip it or check the export"
            ) from None
        return bare
    except (EOFError, OSError) as e:
        if isinstance(e, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise InputError(f"{where}: cannot open ({e.strerror or e})") from e
        raise TruncatedFileError(
            f"{where}: the file ends inside its header ({one_line(e)}); "
            "it was probably cut off in transfer"
        ) from e
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # pydicom raises many types on corrupt headers
        raise header_error(e, where) from e


def _has_body(path: PathLike, ds: Dataset) -> bool:
    """True when bytes follow the File Meta Information (so the file was not cut after it)."""
    try:
        group_length = int(ds.file_meta.get("FileMetaInformationGroupLength") or 0)
        return os.path.getsize(path) > 128 + 4 + 12 + group_length + 8
    except (AttributeError, TypeError, ValueError, OSError):
        return False


def _read_without_preamble(path: PathLike, kwargs: dict[str, Any]) -> Dataset | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True, **kwargs)
            # Touch the elements: force=True parses lazily and garbage surfaces here.
            plausible = any(
                k in ds for k in ("SOPClassUID", "Modality", "Rows", "StudyInstanceUID")
            )
            rows = ds.get("Rows") if plausible else None
    except Exception:
        return None
    if not plausible or (rows is not None and not isinstance(rows, int)):
        return None
    return ds


def transfer_syntax(ds: Dataset) -> UID:
    """Return a data set's transfer syntax (from its File Meta, else as pydicom parsed it)."""
    fm = getattr(ds, "file_meta", None)
    ts = fm.get("TransferSyntaxUID") if fm is not None else None
    if ts is None:
        # No file meta: pydicom worked out the encoding while parsing.
        implicit, little = ds.original_encoding
        if implicit:
            return UID("1.2.840.10008.1.2")
        return UID("1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2")
    if not isinstance(ts, str):
        raise CorruptFileError(
            f"TransferSyntaxUID (0002,0010) is {ts!r}, not a UID string; the File Meta "
            "Information is corrupt"
        )
    return UID(ts)
