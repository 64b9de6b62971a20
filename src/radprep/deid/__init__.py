"""De-identification by DICOM PS3.15 Annex E (Basic Application Level Confidentiality Profile).

::

    from radprep.deid import DeidConfig, deidentify_file, load_key
    key = load_key("deid.key")
    result = deidentify_file("in/a.dcm", "out/", DeidConfig(), key)
    result.record.to_json()   # new ids and counts of actions, never an original value

`pseudonymize_id(value, key, fmt)` gives the same keyed pseudonym as PatientID gets, for sample
ids elsewhere in a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from radprep._lazy import lazy_exports

if TYPE_CHECKING:
    from radprep.deid.audit import AuditRecord, audit_jsonl
    from radprep.deid.config import DeidConfig, PixelRegion
    from radprep.deid.core import DeidResult, deidentify_dataset, deidentify_file, output_relpath
    from radprep.deid.crosswalk import write_crosswalk
    from radprep.deid.dates import date_shift_days
    from radprep.deid.profile import load_profile
    from radprep.deid.uids import ephemeral_key, load_key, map_uid, pseudonymize_id

__all__ = [
    "AuditRecord",
    "DeidConfig",
    "DeidResult",
    "PixelRegion",
    "audit_jsonl",
    "date_shift_days",
    "deidentify_dataset",
    "deidentify_file",
    "ephemeral_key",
    "load_key",
    "load_profile",
    "map_uid",
    "output_relpath",
    "pseudonymize_id",
    "write_crosswalk",
]

# Each name loads its own module on first use: a run's pseudonyms need ``uids`` only, not the
# de-identifier with its pixel reader and OCR.
_WHERE = {
    "AuditRecord": "audit",
    "audit_jsonl": "audit",
    "DeidConfig": "config",
    "PixelRegion": "config",
    "DeidResult": "core",
    "deidentify_dataset": "core",
    "deidentify_file": "core",
    "output_relpath": "core",
    "write_crosswalk": "crosswalk",
    "date_shift_days": "dates",
    "load_profile": "profile",
    "ephemeral_key": "uids",
    "load_key": "uids",
    "map_uid": "uids",
    "pseudonymize_id": "uids",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
