"""Read a file list into rows: a CSV, TSV or Parquet table, or an s5cmd manifest; local or
remote (see :mod:`radprep.datasets.file_list`, the source that uses it)."""

from __future__ import annotations

import csv
import io
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radprep.datasets.sources import resolve
from radprep.errors import InputError, SpecError
from radprep.io.remote import fetched, is_url

__all__ = ["read_file_list"]


def _read_s5cmd(text: str, where: str) -> list[dict[str, Any]]:
    """The source URLs of an s5cmd manifest (``cp [flags] SRC DST`` per line; bare URLs too)."""
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line)
        except ValueError as e:
            rows.append({"path": "", "_row": n, "_error": f"{where} line {n}: {e}"})
            continue
        url = next((w for w in words if is_url(w)), None)
        if url is None:
            rows.append(
                {"path": "", "_row": n, "_error": f"{where} line {n}: no URL in {line[:80]!r}"}
            )
        else:
            rows.append({"path": url, "_row": n})
    return rows


def read_file_list(
    path: str, *, base: Path | None = None, options: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Read a file list into rows (CSV, Parquet or an s5cmd manifest; local or remote).

    Each row is a dict of its columns plus ``_row``, its line (CSV, manifest) or row number.

    Raises
    ------
    SpecError
        When the list cannot be read.
    """
    where = path
    local = path if is_url(path) else str(resolve(base, path))
    if not is_url(local) and not os.path.isfile(local):
        raise SpecError(f"source.list: {local} is not a file")
    low = path.lower().rsplit("?", 1)[0]
    try:
        with fetched(local, options) as f:
            if low.endswith((".parquet", ".pq")):
                import pyarrow.parquet as pq

                table = pq.read_table(f)
                return [{**r, "_row": i + 1} for i, r in enumerate(table.to_pylist())]
            text = Path(f).read_text(encoding="utf-8-sig")
    except InputError as e:
        raise SpecError(f"source.list: {e}") from None
    except (OSError, ValueError) as e:
        raise SpecError(f"source.list: {where} cannot be read ({e})") from None
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if not low.endswith((".csv", ".tsv")) and (first.startswith("cp ") or is_url(first)):
        return _read_s5cmd(text, where)
    dialect = "excel-tab" if low.endswith(".tsv") else "excel"
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    return [{**r, "_row": reader.line_num} for r in reader]
