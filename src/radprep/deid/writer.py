"""Encode a de-identified data set as Part 10 bytes, fast; `chunk_files` writes them.

Kept elements are written as the bytes they had in the source (pydicom's ``RawDataElement``
values), element headers are built with :mod:`struct`, and a value pydicom deferred when reading
(large native pixel data) is never loaded: it is a :class:`Span` of the source file, copied into
the output by the kernel (``os.copy_file_range``). Only changed elements go through pydicom's
element writer. The file meta is built here from four values.
"""

from __future__ import annotations

import contextlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import correct_ambiguous_vr_element, write_data_element
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from radprep.deid.chunk_files import Chunk, Span, same_content, write_exclusive
from radprep.deid.chunk_files import chunks_size as chunks_size  # re-exported
from radprep.errors import OutputError

__all__ = [
    "Chunk",
    "Encapsulated",
    "Span",
    "encode_elements",
    "encode_part10",
    "load_deferred",
    "same_content",
    "scan_encapsulated",
    "write_exclusive",
]

_LONG_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"}
)
_TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR", "LO", "LT", "PN", "SH", "ST"}
    | {"UC", "UT"}
)
_SINGLE_TEXT_VRS = frozenset({"LT", "ST", "UT", "UR"})
_NUMBER_FORMATS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d"}
_NUMBER_FORMATS |= {"UV": "Q", "SV": "q"}
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQ_END = 0xFFFEE0DD


@dataclass(frozen=True)
class Encapsulated:
    """Where the items of encapsulated pixel data lie in a file (PS3.5 A.4).

    Attributes
    ----------
    items : list of (offset, length)
        The value of each item, the Basic Offset Table first, as file offsets.
    length : int
        The bytes of all the items (the element's value without its sequence delimiter).
    complete : bool
        True when every item lies inside the file and the sequence delimiter follows them.
    """

    items: tuple[tuple[int, int], ...]
    length: int
    complete: bool


def scan_encapsulated(path: Path, offset: int, little: bool) -> Encapsulated:
    """Walk the items of encapsulated pixel data whose value starts at `offset` in `path`.

    Only item headers are read (8 bytes per fragment), so this costs nothing next to reading
    the pixel data.
    """
    end = "<" if little else ">"
    items: list[tuple[int, int]] = []
    pos = offset
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        while True:
            head = os.pread(fh.fileno(), 8, pos)
            if len(head) < 8:
                return Encapsulated(tuple(items), pos - offset, False)
            group, elem, length = struct.unpack(f"{end}HHL", head)
            if (group, elem) == (0xFFFE, 0xE0DD):
                return Encapsulated(tuple(items), pos - offset, length == 0)
            if (group, elem) != (0xFFFE, 0xE000) or pos + 8 + length > size:
                return Encapsulated(tuple(items), pos - offset, False)
            items.append((pos + 8, length))
            pos += 8 + length


class _Encoder:
    """Write elements in one encoding (implicit or explicit VR, little or big endian)."""

    def __init__(self, implicit: bool, little: bool, source: Path | None) -> None:
        self.source = source
        self.implicit = implicit
        self.little = little
        self.end = "<" if little else ">"

    def header(self, tag: int, vr: str | None, length: int) -> bytes:
        e = self.end
        tag_bytes = struct.pack(f"{e}HH", tag >> 16, tag & 0xFFFF)
        if self.implicit:
            return tag_bytes + struct.pack(f"{e}L", length)
        vr = vr or "UN"
        if vr in _LONG_VRS:
            return tag_bytes + vr.encode() + b"\x00\x00" + struct.pack(f"{e}L", length)
        return tag_bytes + vr.encode() + struct.pack(f"{e}H", length)

    def marker(self, tag: int, length: int = 0) -> bytes:
        return struct.pack(f"{self.end}HHL", tag >> 16, tag & 0xFFFF, length)

    def dataset(self, ds: Dataset, out: list[Chunk], encodings: list[str] | None) -> None:
        chars = ds.get("SpecificCharacterSet")
        if chars is not None:
            with contextlib.suppress(Exception):
                charset = ds._character_set
                encodings = [charset] if isinstance(charset, str) else list(charset)
        for tag in sorted(ds._dict):
            elem = ds._dict[tag]
            if isinstance(elem, RawDataElement):
                self.raw(elem, out)
            elif elem.VR == "SQ":
                self.sequence(elem, out, encodings)
            else:
                self.element(ds, elem, out, encodings)

    def raw(self, elem: RawDataElement, out: list[Chunk]) -> None:
        value = elem.value
        if elem.length == _UNDEFINED:  # encapsulated pixel data: its items, then the delimiter
            out.append(self.header(elem.tag, elem.VR, _UNDEFINED))
            if value is not None:
                out.append(value)
            elif self.source is not None:
                found = scan_encapsulated(self.source, elem.value_tell, self.little)
                if not found.complete:
                    raise OutputError(f"{self.source}: its encapsulated pixel data is incomplete")
                out.append(Span(elem.value_tell, found.length))
            out.append(self.marker(_SEQ_END))
            return
        out.append(self.header(elem.tag, elem.VR, elem.length))
        if value is None:
            if elem.length:
                out.append(Span(elem.value_tell, elem.length))
        else:
            out.append(value)

    def sequence(self, elem: DataElement, out: list[Chunk], encodings: list[str] | None) -> None:
        out.append(self.header(elem.tag, "SQ", _UNDEFINED))
        for item in elem.value:
            out.append(self.marker(_ITEM, _UNDEFINED))
            self.dataset(item, out, encodings)
            out.append(self.marker(_ITEM_END))
        out.append(self.marker(_SEQ_END))

    def element(
        self, ds: Dataset, elem: DataElement, out: list[Chunk], encodings: list[str] | None
    ) -> None:
        if " or " in elem.VR:
            # PS3.5 A.1: the VR of US or SS, OB or OW follows from other attributes
            corrected = correct_ambiguous_vr_element(elem, ds, self.end == "<")
            assert isinstance(corrected, DataElement)
            elem = corrected
        value = self.value_bytes(elem)
        if value is not None and (self.implicit or elem.VR in _LONG_VRS or len(value) < 0x10000):
            out.append(self.header(elem.tag, elem.VR, len(value)))
            out.append(value)
            return
        fp = DicomBytesIO()
        fp.is_implicit_VR = self.implicit
        fp.is_little_endian = self.little
        write_data_element(fp, elem, encodings)
        out.append(fp.getvalue())

    def value_bytes(self, elem: DataElement) -> bytes | None:
        """Encode the common values here (ASCII text, binary numbers); None for the rest."""
        vr = elem.VR
        value = elem.value
        if value is None or value == "":
            return b""
        many = isinstance(value, (list, MultiValue))
        values = list(value) if many else [value]
        if vr in _TEXT_VRS:
            if vr in _SINGLE_TEXT_VRS and many:
                return None
            try:
                text = "\\".join("" if v is None else _text(v) for v in values).encode("ascii")
            except (UnicodeEncodeError, TypeError):
                return None  # other character sets: pydicom encodes them
            return text + (b"\x00" if vr == "UI" else b" ") if len(text) % 2 else text
        fmt = _NUMBER_FORMATS.get(vr)
        if fmt is not None:
            try:
                return struct.pack(f"{self.end}{len(values)}{fmt}", *values)
            except (struct.error, TypeError):
                return None
        return None


def encode_elements(elem: DataElement, implicit: bool, little: bool) -> bytes:
    """Return the encoded value of one element (a sequence: its items), without its header."""
    enc = _Encoder(implicit, little, None)
    out: list[Chunk] = []
    if elem.VR == "SQ":
        for item in elem.value:
            out.append(enc.marker(_ITEM, _UNDEFINED))
            enc.dataset(item, out, None)
            out.append(enc.marker(_ITEM_END))
    else:
        value = enc.value_bytes(elem)
        if value is None:
            raise ValueError(f"{elem.keyword}: not a value encoded here")
        out.append(value)
    return b"".join(c for c in out if isinstance(c, bytes))


def _text(value: object) -> str:
    if isinstance(value, str):  # str, PersonName's own str, DSfloat/IS keep their text
        return value
    if isinstance(value, (int, float, PersonName)):
        return str(value)
    raise TypeError(type(value).__name__)


def _meta_element(tag: int, vr: str, value: bytes) -> bytes:
    pad = b"\x00" if vr in ("UI", "OB") else b" "
    if len(value) % 2:
        value += pad
    head = struct.pack("<HH", 2, tag & 0xFFFF)
    if vr == "OB":
        return head + b"OB\x00\x00" + struct.pack("<L", len(value)) + value
    return head + vr.encode() + struct.pack("<H", len(value)) + value


def encode_meta(meta: Dataset) -> bytes:
    """Return preamble, ``DICM`` and the file meta group (Explicit VR Little Endian, PS3.10 7.1)."""
    body = _meta_element(0x00020001, "OB", b"\x00\x01")
    for tag, keyword, vr in (
        (0x00020002, "MediaStorageSOPClassUID", "UI"),
        (0x00020003, "MediaStorageSOPInstanceUID", "UI"),
        (0x00020010, "TransferSyntaxUID", "UI"),
        (0x00020012, "ImplementationClassUID", "UI"),
        (0x00020013, "ImplementationVersionName", "SH"),
    ):
        value = meta.get(keyword)
        if value:
            body += _meta_element(tag, vr, str(value).encode("ascii"))
    length = struct.pack("<HH", 2, 0) + b"UL" + struct.pack("<HL", 4, len(body))
    return b"\x00" * 128 + b"DICM" + length + body


def encode_part10(
    new: Dataset, implicit: bool, little: bool, source: Path | None = None
) -> list[Chunk]:
    """Return the chunks of a Part 10 file: the meta of ``new.file_meta``, then the data set.

    Parameters
    ----------
    new : Dataset
        The de-identified data set; its raw elements must be in the encoding given.
    implicit, little : bool
        The data set's encoding (that of its transfer syntax).
    source : path, optional
        The file `new` was read from, where values pydicom deferred are copied from.
    """
    out: list[Chunk] = [encode_meta(new.file_meta)]
    _Encoder(implicit, little, source).dataset(new, out, None)
    return out


def load_deferred(new: Dataset, source: Dataset) -> None:
    """Read into `new` the values the reader left in the source file (large pixel data).

    :func:`deidentify_file` reads values over 256 KiB lazily, and the de-identified data set
    shares them with its source as they are; before changing such a value (pixel cleaning) it
    must be read, from the source data set that knows the file.
    """
    for tag, elem in list(new._dict.items()):
        if isinstance(elem, RawDataElement) and elem.value is None and elem.length:
            new._dict[tag] = source[tag]
