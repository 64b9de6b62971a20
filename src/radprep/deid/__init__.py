"""De-identification by DICOM PS3.15 Annex E (Basic Application Level Confidentiality Profile).

::

    from radprep.deid import DeidConfig, deidentify_file, load_key
    key = load_key("deid.key")
    result = deidentify_file("in/a.dcm", "out/", DeidConfig(), key)
    result.record.to_json()   # new ids and counts of actions, never an original value

`pseudonymize_id(value, key, fmt)` gives the same keyed pseudonym as PatientID gets, for sample
ids elsewhere in a run.
"""

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
