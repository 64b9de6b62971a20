"""Small DICOM data-set helpers shared by the readers (pydicom only, no radprep imports)."""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset

__all__ = ["functional_group_value"]

_PER_FRAME = 0x52009230  # PerFrameFunctionalGroupsSequence
_SHARED = 0x52009229  # SharedFunctionalGroupsSequence


def functional_group_value(ds: Dataset, macro: str, keyword: str, frame: int) -> Any:
    """Find `keyword` in the frame's per-frame functional group, then the shared one, then the
    top level (PS3.3 C.7.6.16: enhanced objects keep per-frame attributes in macros)."""
    if _SHARED not in ds and _PER_FRAME not in ds:  # no functional groups: the common case
        return ds.get(keyword)
    for seq_name, idx in (
        ("PerFrameFunctionalGroupsSequence", frame),
        ("SharedFunctionalGroupsSequence", 0),
    ):
        seq = ds.get(seq_name)
        if seq and len(seq) > idx:
            inner = seq[idx].get(macro)
            if inner and keyword in inner[0]:
                return inner[0].get(keyword)
    return ds.get(keyword)
