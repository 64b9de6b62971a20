"""Put a de-identified file in its place under the output folder, never overwriting one."""

from __future__ import annotations

import hashlib
from pathlib import Path

from radprep.deid.chunk_files import Chunk, same_content, write_exclusive
from radprep.deid.uids import keyed_digest
from radprep.errors import OutputError

__all__ = ["place"]


def _duplicate_name(src: Path, key: bytes) -> str:
    """A suffix from the keyed hash of the input's bytes: the same input, the same suffix."""
    with open(src, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    return keyed_digest(key, "duplicate", digest)[:6].hex()


# (output folder, folder of a file) pairs already found to resolve inside the output folder.
_CHECKED: set[tuple[str, str]] = set()


def _inside(target: Path, root: Path) -> Path:
    """Return `target` after checking that, resolved, it lies inside `root`.

    Names are generated UIDs, so only a link inside the output could lead elsewhere; a folder
    once checked (and existing) is not resolved again by this process.
    """
    key = (str(root), str(target.parent))
    if key in _CHECKED:
        return target
    real_root = root.resolve()
    real = target.resolve()
    if real_root not in real.parents:
        raise OutputError(
            f"the output path {target} resolves outside the output folder {root}; refusing to "
            "write it (is a folder inside the output a link elsewhere?)"
        )
    if target.parent.is_dir():
        _CHECKED.add(key)
    return target


def place(
    root: Path, rel: Path, chunks: list[Chunk], src: Path, key: bytes
) -> tuple[str, Path, str]:
    """Write the output under `root`; return (status, relative path, note).

    A free name: ``written``. The same bytes already there (a re-run, or a duplicate input):
    ``unchanged``. Other bytes under the name (another input with the same SOPInstanceUID, e.g.
    one image in two transfer syntaxes): written beside it with a suffix from this input's
    keyed hash, and a note.
    """
    target = _inside(root / rel, root)
    # The hard link decides; looking first only saves writing a file that cannot be linked.
    if not target.exists() and write_exclusive(target, chunks, src):
        return "written", rel, ""
    if same_content(target, chunks, src):
        return "unchanged", rel, ""
    alt = rel.with_name(f"{rel.stem}-{_duplicate_name(src, key)}.dcm")
    note = (
        f"another input has the same SOPInstanceUID (0008,0018) with other content; written as "
        f"{alt.name} beside {rel.name}"
    )
    target = _inside(root / alt, root)
    if not target.exists() and write_exclusive(target, chunks, src):
        return "written", alt, note
    if same_content(target, chunks, src):
        return "unchanged", alt, note
    raise OutputError(
        f"{src}: the outputs {rel} and {alt} already exist with other content: the folder holds "
        "a run with other options or another key; use an empty output folder"
    )
