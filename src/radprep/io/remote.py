"""Reading inputs that live elsewhere: object stores and web servers through fsspec.

A worker fetches its own object: :func:`fetched` streams it in bounded chunks to a temporary
file on the worker's disk, hands the existing file reader a local path, and removes the file
afterwards; so no shared filesystem is needed and memory stays at one chunk whatever the object's
size. Transient failures (connection resets, timeouts, 5xx) are retried with exponential
backoff; a missing object, a refused access or an unknown host fail at once with a one-line
:class:`~radprep.errors.InputError` naming the URL.

Endpoints and credentials come from the usual environment (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_PROFILE``,
``GOOGLE_APPLICATION_CREDENTIALS``) or from ``storage_options`` passed to fsspec as they are.
``s3fs`` and ``gcsfs`` are the ``radprep[cloud]`` extra, imported only when a URL needs them.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from radprep.errors import InputError, SpecError

__all__ = [
    "RemoteOptions",
    "UnreachableError",
    "fetched",
    "filesystem",
    "info_fingerprint",
    "is_url",
    "retrying",
    "s3_endpoint",
    "spool_file",
]

T = TypeVar("T")

CHUNK_BYTES = 4 * 2**20
_EXTRA = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs"}
_FS_CACHE: dict[str, Any] = {}


class UnreachableError(InputError):
    """A server or endpoint kept failing (connection, timeout, 5xx) through every retry: a
    whole-source problem, not one object's."""


class RemoteOptions(dict[str, Any]):
    """How to reach remote objects: ``storage_options`` (given to fsspec as they are), the
    ``retries``, ``timeout_s`` and ``backoff_s`` of every request, and ``s3_endpoint_url``
    (an S3 endpoint found where the items were listed). A plain, picklable dict."""


def is_url(path: str) -> bool:
    """True for ``scheme://...`` other than ``file://`` (a local path otherwise)."""
    scheme, sep, _ = path.partition("://")
    return bool(sep) and scheme.isascii() and scheme.replace("+", "").isalnum() and scheme != "file"


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower()


def s3_endpoint() -> str | None:
    """The S3 endpoint the environment names (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``)."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def _with_timeouts(
    scheme: str, options: Mapping[str, Any], timeout_s: float, s3_endpoint_url: str | None
) -> dict[str, Any]:
    """fsspec options with request timeouts set (never waiting forever), the caller's first."""
    opts = dict(options)
    if scheme in ("s3", "s3a"):
        config = dict(opts.get("config_kwargs") or {})
        config.setdefault("connect_timeout", timeout_s)
        config.setdefault("read_timeout", timeout_s)
        # One attempt inside botocore: the retries with backoff are ours (see `retrying`).
        config.setdefault("retries", {"max_attempts": 1, "mode": "standard"})
        opts["config_kwargs"] = config
        endpoint = s3_endpoint_url or s3_endpoint()
        if endpoint and "endpoint_url" not in opts:
            opts["endpoint_url"] = endpoint
    elif scheme in ("http", "https"):
        import aiohttp

        client = dict(opts.get("client_kwargs") or {})
        client.setdefault(
            "timeout",
            aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s),
        )
        opts["client_kwargs"] = client
    elif scheme in ("gs", "gcs"):
        opts.setdefault("timeout", timeout_s)
    return opts


def filesystem(url: str, options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """Return the fsspec filesystem for `url` (one per process and options) and its path.

    Raises
    ------
    SpecError
        When the scheme needs a package that is not installed (the message names the extra).
    """
    try:
        import fsspec
    except ImportError:
        raise SpecError(f"{url}: reading URLs needs fsspec: pip install 'radprep[cloud]'") from None

    opts = RemoteOptions(options or {})
    scheme = _scheme(url)
    storage = _with_timeouts(
        scheme,
        opts.get("storage_options") or {},
        opts.get("timeout_s", 30),
        opts.get("s3_endpoint_url"),
    )
    key = scheme + json.dumps(storage, sort_keys=True, default=repr)
    try:
        cls = fsspec.get_filesystem_class(scheme)
    except (ImportError, ValueError) as e:
        extra = _EXTRA.get(scheme)
        hint = f"pip install 'radprep[cloud]' (needs {extra})" if extra else str(e)
        raise SpecError(f"{url}: no filesystem for {scheme}:// ({hint})") from None
    if key not in _FS_CACHE:
        fs = cls(**storage)
        if scheme in ("s3", "s3a"):
            fs.retries = 1  # s3fs's own retry loop off: `retrying` backs off, bounded
        _FS_CACHE[key] = fs
    fs = _FS_CACHE[key]
    return fs, fs._strip_protocol(url)


def info_fingerprint(info: Mapping[str, Any]) -> str:
    """The resume fingerprint of an object from its listing: the ETag (or GCS generation)
    when the store gives one, else size and modification time."""
    low = {str(k).lower(): v for k, v in info.items()}
    for key in ("etag", "generation", "md5hash"):
        if low.get(key):
            return f"{key}:{str(low[key]).strip(chr(34))}"
    mtime = next(
        (
            low[k]
            for k in ("lastmodified", "last_modified", "last-modified", "mtime", "updated")
            if low.get(k)
        ),
        "",
    )
    return f"{low.get('size', '')}:{mtime}"


def _is_transient(e: BaseException) -> bool:
    """Worth another try: connection trouble, timeouts, throttling and server errors."""
    if isinstance(e, InputError):
        return False
    status = _status(e) if _status(e) is not None or e.__cause__ is None else _status(e.__cause__)
    if status is not None:
        return status in (408, 429) or status >= 500
    if isinstance(e, (FileNotFoundError, PermissionError, IsADirectoryError)):
        return False
    if isinstance(e, (TimeoutError, ConnectionError)):
        return True
    name = type(e).__name__
    return isinstance(e, OSError) or any(
        s in name for s in ("Timeout", "Connection", "Endpoint", "Throttl", "SlowDown")
    )


def _status(e: BaseException) -> int | None:
    for attr in ("status", "status_code", "code"):
        v = getattr(e, attr, None)
        if isinstance(v, int) and 100 <= v < 600:
            return v
    response = getattr(e, "response", None)
    v = getattr(response, "status_code", None)
    return v if isinstance(v, int) else None


_CREDENTIALS = "AWS_*, GOOGLE_APPLICATION_CREDENTIALS or source.storage_options"


def describe_error(where: str, e: BaseException, credentials: str = _CREDENTIALS) -> str:
    """One line on why `where` could not be read, with the next step (`credentials` names where
    the credentials come from)."""
    # fsspec's http info turns every failed HEAD into FileNotFoundError: the status that
    # matters may sit on the cause.
    cause = e.__cause__ if _status(e) is None and e.__cause__ is not None else e
    status = _status(cause)
    detail = " ".join(str(cause).split())[:200] or type(cause).__name__
    reason = getattr(getattr(cause, "response", None), "reason", None)
    reason = reason if isinstance(reason, str) else getattr(cause, "message", None)
    if status is not None and isinstance(reason, str) and reason:
        detail = reason  # an HTTP error's text repeats the long URL
    if status in (401, 403) or (isinstance(e, PermissionError) and status is None):
        code = status or 403
        return f"{where}: access denied ({code}: {detail}); check the credentials ({credentials})"
    if isinstance(e, FileNotFoundError) or status == 404:
        return f"{where}: no such object (404); check the path or UID"
    return f"{where}: {type(e).__name__}: {detail}"


def retrying(
    call: Callable[[], T],
    *,
    where: str,
    retries: int = 3,
    backoff_s: float = 0.5,
    credentials: str = _CREDENTIALS,
) -> T:
    """Call `call`, retrying transient errors with exponential backoff (0.5 s, 1 s, 2 s...).

    Raises
    ------
    InputError
        One line naming `where`: at once for a permanent error (missing, refused), after the
        last attempt for a transient one.
    """
    attempt = 0
    while True:
        try:
            return call()
        except InputError:
            raise
        except Exception as e:
            attempt += 1
            if not _is_transient(e):
                raise InputError(describe_error(where, e, credentials)) from e
            if attempt > retries:
                raise UnreachableError(
                    f"{describe_error(where, e, credentials)} (after {attempt} attempts); "
                    "check that the endpoint is reachable"
                ) from e
            time.sleep(backoff_s * 2 ** (attempt - 1))


_SPOOL_PREFIX = ".radprep-fetch-"
_SWEPT: set[str] = set()


def _pid_alive(pid: int) -> bool:
    """Whether process `pid` still runs: a zombie (killed, not yet reaped) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: alive
    try:  # Linux: the state after the command name in /proc/<pid>/stat; Z is a zombie
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def spool_file(suffix: str = "") -> str:
    """Create an empty temporary file for one fetched object (``RADPREP_TMPDIR`` or the
    system's temporary folder), named with this process's id.

    The first call in a process removes the files that processes no longer alive left (a
    SIGKILLed worker has no chance to), so a resumed run starts from a clean spool.
    """
    folder = os.environ.get("RADPREP_TMPDIR") or tempfile.gettempdir()
    if folder not in _SWEPT:
        _SWEPT.add(folder)
        for p in Path(folder).glob(f"{_SPOOL_PREFIX}*"):
            pid = p.name[len(_SPOOL_PREFIX) :].split("-", 1)[0]
            if pid.isdigit() and not _pid_alive(int(pid)):
                with contextlib.suppress(OSError):
                    p.unlink()
    fd, tmp = tempfile.mkstemp(prefix=f"{_SPOOL_PREFIX}{os.getpid()}-", suffix=suffix, dir=folder)
    os.close(fd)
    return tmp


@contextlib.contextmanager
def fetched(url: str, options: Mapping[str, Any] | None = None) -> Iterator[Path]:
    """Stream one object to a temporary local file and yield its path (removed afterwards).

    Parameters
    ----------
    url : str
        ``s3://``, ``gs://``, ``https://`` ... (a local path is yielded as it is).
    options : mapping, optional
        :class:`RemoteOptions`: ``storage_options``, ``retries`` (3), ``timeout_s`` (30),
        ``backoff_s`` (0.5). ``RADPREP_TMPDIR`` chooses the temporary folder.

    Raises
    ------
    InputError
        One line naming the URL when the object cannot be fetched.
    """
    if not is_url(url):
        yield Path(url)
        return
    opts = RemoteOptions(options or {})
    fs, path = filesystem(url, opts)
    suffix = Path(path).suffix if len(Path(path).suffix) <= 8 else ""
    tmp = spool_file(suffix)

    # http(s): one streamed GET (block_size 0), which also serves hosts that ignore Range
    # requests; object stores: ranged reads of one chunk each.
    block = 0 if _scheme(url) in ("http", "https") else CHUNK_BYTES

    def copy() -> None:
        with (
            fs.open(path, "rb", block_size=block, cache_type="none") as src,
            open(tmp, "wb") as dst,
        ):
            while chunk := src.read(CHUNK_BYTES):
                dst.write(chunk)

    try:
        retrying(
            copy,
            where=url,
            retries=int(opts.get("retries", 3)),
            backoff_s=float(opts.get("backoff_s", 0.5)),
        )
        yield Path(tmp)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
