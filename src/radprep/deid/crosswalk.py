"""The crosswalk: original -> pseudonym, written only when asked, outside the output, mode 0600.

The crosswalk is the one file that re-identifies the output. It is written only to a path the
user names, never inside the output tree (which is what gets shared), and readable by its owner
only.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path

from radprep.errors import OutputError, SpecError
from radprep.io.write import atomic_write_bytes

__all__ = ["CROSSWALK_FIELDS", "check_outside", "write_crosswalk"]

CROSSWALK_FIELDS = ("kind", "original", "pseudonym")
"""Columns: kind (PatientID, AccessionNumber, StudyInstanceUID, ...), original, pseudonym."""


def check_outside(
    path: str | os.PathLike[str], out_root: str | os.PathLike[str], what: str
) -> None:
    """Raise SpecError when `path` is inside (or is) the output folder `out_root`.

    Parameters
    ----------
    path : path
        The file or folder that must stay out of the output tree.
    out_root : path
        The output folder.
    what : str
        How the message names `path` (e.g. ``--crosswalk``).
    """
    p = Path(path).expanduser().resolve()
    root = Path(out_root).expanduser().resolve()
    if p == root or root in p.parents:
        raise SpecError(
            f"{what} {path} is inside the output folder {out_root}, which is what gets shared; "
            "put it somewhere else"
        )


def write_crosswalk(
    path: str | os.PathLike[str],
    rows: Iterable[tuple[str, str, str]],
    *,
    out_root: str | os.PathLike[str],
) -> Path:
    """Write the crosswalk CSV atomically with mode 0600 (rows de-duplicated and sorted).

    Parameters
    ----------
    path : path
        Where to write it.
    rows : iterable of (kind, original, pseudonym)
        The pairs.
    out_root : path
        The output folder, which the crosswalk must not be inside.

    Raises
    ------
    SpecError
        If `path` is inside `out_root`.
    OutputError
        If it cannot be written.
    """
    check_outside(path, out_root, "--crosswalk")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CROSSWALK_FIELDS)
    writer.writerows(sorted(set(rows)))
    # atomic_write_bytes creates its temporary file with mkstemp, which is mode 0600 already;
    # chmod again in case the umask or file system did otherwise.
    target = atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
    try:
        os.chmod(target, 0o600)
    except OSError as e:  # pragma: no cover - we just wrote it
        raise OutputError(f"{target}: cannot make the crosswalk private ({e.strerror or e})") from e
    return target
