"""The audit: one JSON line per input file, holding new identifiers and counts only.

An audit line never holds an original value: no original UID, name, ID, date, path or file
name. It says what became of the file (``written``, ``unchanged``, ``quarantined``, ``skipped``,
``failed``), the new identifiers, and how many elements each action touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Literal

__all__ = ["AUDIT_VERSION", "AuditRecord", "AuditStatus", "audit_jsonl"]

AUDIT_VERSION = 1

AuditStatus = Literal["written", "unchanged", "duplicate", "quarantined", "skipped", "failed"]


@dataclass(frozen=True)
class AuditRecord:
    """What de-identification did to one file.

    Attributes
    ----------
    status : str
        ``written`` (a new output), ``unchanged`` (the same output was already there),
        ``duplicate`` (another input of the same run gave the very same output),
        ``quarantined`` (needs pixel review; see `reason`), ``skipped`` (not DICOM),
        ``failed`` (see `error`).
    output : str
        The output's path relative to the output (or quarantine) folder, made of new UIDs only.
    study_uid, series_uid, sop_uid : str
        The new StudyInstanceUID, SeriesInstanceUID and SOPInstanceUID.
    patient_id : str
        The patient's pseudonym.
    actions : dict
        Count of elements by action code (D, Z, X, K, C, U), at every depth.
    removed : dict
        Removed elements by reason: ``table`` (Table E.1-1 says X), ``not_allowed`` (not on
        the allowlist), ``private``.
    methods : list of str
        The CID 7050 codes written into DeidentificationMethodCodeSequence.
    pixels_cleaned : bool
        True when burned-in text regions were blanked.
    ocr : bool
        True when the image was read for burned-in text.
    text_boxes : int
        How many text boxes were filled.
    phi_in_pixels : list of str
        Keywords of the attributes whose values were read in the pixels (never the values).
    pixel_action : str
        ``unchanged`` (read, nothing to clean), ``cleaned``, ``held`` (see `reason`); empty
        when the pixels were not looked at.
    pixel_transfer_syntax : str
        The transfer syntax of cleaned pixels when it is not the source's (no encoder for it).
    reason : str
        Why the file was quarantined (attribute names and public values only).
    error : str
        The error class of a failed file (its message, which names the input, is not kept).
    note : str
        What else happened, in words that hold no original value (e.g. a second input with
        the same SOPInstanceUID written under a suffix).
    """

    status: AuditStatus
    output: str = ""
    study_uid: str = ""
    series_uid: str = ""
    sop_uid: str = ""
    patient_id: str = ""
    actions: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    methods: tuple[str, ...] = ()
    pixels_cleaned: bool = False
    ocr: bool = False
    text_boxes: int = 0
    phi_in_pixels: tuple[str, ...] = ()
    pixel_action: str = ""
    pixel_transfer_syntax: str = ""
    reason: str = ""
    error: str = ""
    note: str = ""

    def to_json(self) -> str:
        """Return the record as one line of JSON (keys sorted, empty fields left out)."""
        doc = {k: v for k, v in asdict(self).items() if v not in ("", {}, (), [], False)}
        doc["status"] = self.status
        doc["v"] = AUDIT_VERSION
        for key in ("methods", "phi_in_pixels"):
            if isinstance(doc.get(key), tuple):
                doc[key] = list(doc[key])
        return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def audit_jsonl(records: Iterable[AuditRecord]) -> bytes:
    """Return the audit file's bytes: one JSON line per record."""
    return "".join(r.to_json() + "\n" for r in records).encode()
