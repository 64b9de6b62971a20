"""A run with de-identification on: keyed pseudonyms for every id, and no original value in any
file name, ledger, manifest, log or report.

The same key gives the same pseudonyms in every run and on every machine, and the same patient
pseudonym as ``radprep deid`` writes into PatientID, so de-identified DICOM and the images of a
run join on it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from radprep.datasets.sources import Item
from radprep.deid import ephemeral_key, load_key, map_uid, pseudonymize_id
from radprep.deid.redact import Redactor
from radprep.errors import RadprepWarning, SpecError

__all__ = ["Privacy"]

_UID_KEYS = ("study_instance_uid", "series_instance_uid", "sop_instance_uid")
_NO_VALUES = Redactor()  # an item the run does not know: its messages lose paths, UIDs, dates


@dataclass
class Privacy:
    """Pseudonymises items and scrubs messages for one run."""

    key: bytes
    sample_id_format: str
    patient_id_format: str
    key_source: str
    originals: dict[str, Redactor]

    @classmethod
    def from_spec(cls, spec: Any, base: Path) -> Privacy:
        """Load the key the recipe's ``deid`` section names (file, environment, or ephemeral)."""
        if spec.key_file:
            key = load_key(
                spec.key_file if Path(spec.key_file).is_absolute() else base / spec.key_file
            )
            source = "key file"
        elif os.environ.get("RADPREP_DEID_KEY"):
            key, source = load_key(None), "RADPREP_DEID_KEY"
        elif spec.ephemeral_key:
            warnings.warn(
                "de-identifying with an ephemeral key: pseudonyms will not match any later run",
                RadprepWarning,
                stacklevel=2,
            )
            key, source = ephemeral_key(), "ephemeral"
        else:
            raise SpecError(
                "deid: no key; give deid.key_file, set RADPREP_DEID_KEY, or set "
                "deid.ephemeral_key: true (pseudonyms will then not match later runs)"
            )
        return cls(key, spec.sample_id_format, spec.patient_id_format, source, {})

    def item(self, item: Item) -> Item:
        """The item with keyed ids, mapped UIDs and no source path."""
        new_id = pseudonymize_id(item.id, self.key, self.sample_id_format)
        patient = item.patient_id
        source: dict[str, Any] = {
            "path": None,
            "patient_id": pseudonymize_id(str(patient), self.key, self.patient_id_format)
            if patient
            else None,
        }
        for k in _UID_KEYS:
            if item.source.get(k):
                source[k] = map_uid(str(item.source[k]), self.key)
        secrets = [item.id, item.path, *(str(v) for v in item.source.values() if v)]
        secrets += [Path(item.path).name, str(Path(item.path).parent)] if item.path else []
        secrets += [str(v) for v in item.identifying]
        self.originals[new_id] = Redactor(secrets)
        return replace(item, id=new_id, source=source)

    def items(self, items: Sequence[Item]) -> list[Item]:
        """Pseudonymise every item; refuse if two ids would collide."""
        out = [self.item(it) for it in items]
        seen: dict[str, int] = {}
        for it in out:
            seen[it.id] = seen.get(it.id, 0) + 1
        if any(n > 1 for n in seen.values()):
            raise SpecError(
                "deid.sample_id_format gives two samples the same id; use more {hash:N} characters"
            )
        return out

    def scrub(self, text: str, item_id: str) -> str:
        """Replace every original value of the item in a message, then paths, UIDs, dates and
        identifying attributes' values (:class:`radprep.deid.redact.Redactor`)."""
        return self.originals.get(item_id, _NO_VALUES)(text)

    def scrub_all(self, texts: Iterable[str], item_id: str) -> list[str]:
        """Scrub several messages."""
        return [self.scrub(t, item_id) for t in texts]

    def summary(self, n_items: int) -> dict[str, Any]:
        """What the run record and the report say of the de-identification (no values)."""
        return {
            "ids_pseudonymized": n_items,
            "key_source": self.key_source,
            "sample_id_format": self.sample_id_format,
            "patient_id_format": self.patient_id_format,
            "uids_mapped": list(_UID_KEYS),
            "source_paths": "removed",
        }
