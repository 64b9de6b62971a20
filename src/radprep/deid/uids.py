"""Keyed, deterministic pseudonyms: UIDs (``2.25.<integer>``) and IDs (``P{hash:10}``).

Every pseudonym is an HMAC-SHA256 of the original value under the project's secret key, so the
same original gives the same pseudonym in every file, batch and machine that uses the same key,
and an unrelated one under another key. Without the key the mapping cannot be reversed or
recomputed. Each kind of value has its own domain label, so a UID and an ID that happen to be
equal strings do not get related pseudonyms.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
import warnings
from functools import lru_cache
from pathlib import Path

from pydicom._uid_dict import UID_dictionary
from pydicom.uid import UID

from radprep.errors import RadprepWarning, SpecError

__all__ = [
    "KEY_ENV",
    "MIN_KEY_BYTES",
    "ephemeral_key",
    "is_standard_uid",
    "keyed_digest",
    "load_key",
    "map_uid",
    "pseudonymize_id",
]

KEY_ENV = "RADPREP_DEID_KEY"
"""The environment variable that may hold the key (when no key file is given)."""
MIN_KEY_BYTES = 16


def keyed_digest(key: bytes, domain: str, value: str) -> bytes:
    """Return HMAC-SHA256(key, domain NUL value): 32 bytes."""
    return hmac.new(
        key, domain.encode() + b"\x00" + value.encode("utf-8", "surrogateescape"), hashlib.sha256
    ).digest()


@lru_cache(maxsize=8192)
def is_standard_uid(uid: str) -> bool:
    """Return True for a UID the standard defines (SOP classes, transfer syntaxes...).

    These name kinds of things, not patients or instances, and are never replaced.
    """
    return uid in UID_dictionary and UID(uid).is_valid


def map_uid(uid: str, key: bytes) -> str:
    """Return the keyed replacement of a UID, or the UID itself when the standard defines it.

    Parameters
    ----------
    uid : str
        The original UID (trailing NUL or space padding is ignored).
    key : bytes
        The project's secret key.

    Returns
    -------
    str
        ``2.25.<integer>``: the first 128 bits of HMAC-SHA256(key, uid) as a decimal integer,
        as PS3.5 B.2 allows for UUID-derived UIDs (at most 44 characters).
    """
    uid = uid.strip("\x00 ")
    if not uid or is_standard_uid(uid):
        return uid
    return _map_uid(uid, key)


@lru_cache(maxsize=65536)
def _map_uid(uid: str, key: bytes) -> str:
    n = int.from_bytes(keyed_digest(key, "uid", uid)[:16], "big")
    return f"2.25.{n}"


class _Hash:
    """The value of ``{hash:N}`` in a pseudonym format: the first N base-32 characters."""

    def __init__(self, digest: bytes) -> None:
        self._text = base64.b32encode(digest).decode().rstrip("=")

    def __format__(self, spec: str) -> str:
        return self._text[: int(spec or 10)]


def pseudonymize_id(value: str, key: bytes, fmt: str = "P{hash:10}") -> str:
    """Return the keyed pseudonym of an identifier (PatientID, AccessionNumber, sample id).

    Parameters
    ----------
    value : str
        The original identifier; leading and trailing spaces and NULs are ignored, so a DICOM
        value and the same ID typed elsewhere agree.
    key : bytes
        The project's secret key.
    fmt : str
        A format with one ``{hash:N}`` field (N base-32 characters of the keyed hash).

    Raises
    ------
    SpecError
        If `fmt` is not a valid pseudonym format.
    """
    from radprep.deid.config import check_id_format

    try:
        check_id_format(fmt)
    except ValueError as e:
        raise SpecError(str(e)) from None
    return fmt.format(hash=_Hash(keyed_digest(key, "id", value.strip("\x00 "))))


def load_key(key_file: str | os.PathLike[str] | None = None, *, env: str = KEY_ENV) -> bytes:
    """Read the secret key from a file, else from the environment.

    Parameters
    ----------
    key_file : path, optional
        A file whose contents (trailing newline removed) are the key.
    env : str
        The environment variable read when no file is given.

    Raises
    ------
    SpecError
        When there is no key, or it is shorter than 16 bytes.
    """
    if key_file is not None:
        path = Path(key_file)
        try:
            raw = path.read_bytes().rstrip(b"\r\n")
        except OSError as e:
            raise SpecError(f"--key-file {path}: cannot read it ({e.strerror or e})") from None
        where = f"--key-file {path}"
        try:
            mode = path.stat().st_mode
        except OSError:  # pragma: no cover - read just worked
            mode = 0
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.warn(
                f"{where} can be read by other users (mode {stat.S_IMODE(mode):o}); "
                f"chmod 600 {path}",
                RadprepWarning,
                stacklevel=2,
            )
    else:
        text = os.environ.get(env, "")
        if not text:
            raise SpecError(
                f"no de-identification key: give --key-file FILE or set {env} (make one with "
                "`python -c 'import secrets; print(secrets.token_hex(32))' > deid.key`), or "
                "pass --ephemeral-key for a one-off run"
            )
        raw, where = text.encode(), f"${env}"
    if len(raw) < MIN_KEY_BYTES:
        raise SpecError(
            f"{where}: the key has {len(raw)} bytes, fewer than {MIN_KEY_BYTES}; use a longer "
            "random key (e.g. 64 hex characters)"
        )
    return raw


def ephemeral_key() -> bytes:
    """Return a random one-off key (pseudonyms will not match those of any other batch)."""
    return secrets.token_hex(32).encode()
