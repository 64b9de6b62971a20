"""Every input of a batch accounted for: done, failed (reason) or skipped (reason).

One contract for ``run``, ``convert`` and ``index``: each input path found ends in exactly one
of three states, is listed with its reason in ``inputs.jsonl`` beside the command's outputs, and
is counted; the summary line says that the counts add up to the inputs found.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from radprep.io.write import atomic_write_bytes

__all__ = ["SKIP_REASONS", "Accounting", "InputRecord", "Status"]

Status = Literal["done", "failed", "skipped"]
SKIP_REASONS = ("not DICOM", "no pixels", "duplicate", "held back", "not a volume")
"""The reasons an input is skipped rather than failed (``not a volume``: a SEG, RT or SR object
among the files of ``convert --to nifti``)."""


@dataclass(frozen=True)
class InputRecord:
    """What became of one input path."""

    path: str
    status: Status
    reason: str = ""
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON line's fields (empty ones left out)."""
        d: dict[str, Any] = {"path": self.path, "status": self.status}
        if self.reason:
            d["reason"] = self.reason
        if self.error:
            d["error"] = self.error
        return d


@dataclass
class Accounting:
    """The records of one batch, in the order the inputs were met."""

    records: list[InputRecord] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set, repr=False)

    def seen(self, path: str | os.PathLike[str]) -> bool:
        """True when `path` (resolved) was met before; the first meeting marks it."""
        key = os.path.realpath(path)
        if key in self._seen:
            return True
        self._seen.add(key)
        return False

    def done(self, path: str | os.PathLike[str]) -> None:
        """Record an input that was done."""
        self.records.append(InputRecord(os.fspath(path), "done"))

    def failed(self, path: str | os.PathLike[str], reason: str, error: str = "") -> None:
        """Record an input that failed, with its one-line reason (and the error class)."""
        self.records.append(InputRecord(os.fspath(path), "failed", reason, error))

    def skipped(self, path: str | os.PathLike[str], reason: str) -> None:
        """Record an input skipped on purpose (one of :data:`SKIP_REASONS`)."""
        if reason not in SKIP_REASONS:
            raise ValueError(f"skip reason {reason!r} is not one of {', '.join(SKIP_REASONS)}")
        self.records.append(InputRecord(os.fspath(path), "skipped", reason))

    @property
    def counts(self) -> dict[str, int]:
        """Inputs by status (all three keys present)."""
        c = Counter(r.status for r in self.records)
        return {"done": c["done"], "failed": c["failed"], "skipped": c["skipped"]}

    @property
    def skip_reasons(self) -> dict[str, int]:
        """Skipped inputs by reason."""
        return dict(Counter(r.reason for r in self.records if r.status == "skipped"))

    @property
    def failures(self) -> list[InputRecord]:
        """The failed inputs."""
        return [r for r in self.records if r.status == "failed"]

    def summary(self, noun: str = "file") -> str:
        """One line: inputs found, then done, failed and skipped (by reason), adding up."""
        n = len(self.records)
        c = self.counts
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.skip_reasons.items()))
        skipped = f"{c['skipped']} skipped" + (f" ({reasons})" if reasons else "")
        return (
            f"{n} {noun}(s) found: {c['done']} done, {c['failed']} failed, {skipped}; "
            f"{c['done']} + {c['failed']} + {c['skipped']} = {n}"
        )

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write one JSON line per input (atomically); return the path."""
        lines = "".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in self.records)
        return atomic_write_bytes(path, lines.encode("utf-8"))
