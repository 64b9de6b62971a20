"""The resume ledger: which items are finished, for which recipe and which input, in SQLite.

Only the parent process writes it, one transaction per finished item, after the item's outputs
are in place under their final names; so a run killed at any moment (SIGKILL included) resumes
with every recorded item complete and redoes the rest. SQLite's journal makes each commit
all-or-nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Entry", "Ledger"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    item_id     TEXT PRIMARY KEY,
    run_hash    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    ok          INTEGER NOT NULL,
    payload     TEXT NOT NULL,
    error       TEXT NOT NULL DEFAULT '',
    message     TEXT NOT NULL DEFAULT '',
    seconds     REAL NOT NULL DEFAULT 0,
    finished    REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Entry:
    """One finished item as the ledger holds it."""

    item_id: str
    run_hash: str
    fingerprint: str
    ok: bool
    payload: Any
    error: str
    message: str
    seconds: float


class Ledger:
    """A SQLite file of finished items.

    Parameters
    ----------
    path : path
        The database file (created with its folder when missing).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def finished(self, run_hash: str) -> dict[str, str]:
        """Return ``item_id -> fingerprint`` of the items that succeeded under `run_hash`."""
        rows = self._db.execute(
            "SELECT item_id, fingerprint FROM items WHERE ok = 1 AND run_hash = ?", (run_hash,)
        )
        return dict(rows.fetchall())

    def record(
        self,
        item_id: str,
        *,
        run_hash: str,
        fingerprint: str,
        ok: bool,
        payload: Any,
        error: str = "",
        message: str = "",
        seconds: float = 0.0,
    ) -> None:
        """Record one finished item (replacing an earlier record of it), in one transaction."""
        self._db.execute(
            "INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item_id,
                run_hash,
                fingerprint,
                int(ok),
                json.dumps(payload, sort_keys=True),
                error,
                message,
                seconds,
                time.time(),
            ),
        )

    def entries(self, item_ids: Iterable[str] | None = None) -> Iterator[Entry]:
        """Yield the recorded entries (all, or those of `item_ids`), sorted by item id."""
        wanted = None if item_ids is None else set(item_ids)
        for row in self._db.execute("SELECT * FROM items ORDER BY item_id"):
            if wanted is not None and row[0] not in wanted:
                continue
            yield Entry(row[0], row[1], row[2], bool(row[3]), json.loads(row[4]), *row[5:8])

    def clear(self) -> None:
        """Forget every item (``--fresh``)."""
        self._db.execute("DELETE FROM items")
