"""Commands answered without the command-line framework.

typer, click, rich and pydantic (which typer loads) cost about 0.2 s of start-up; a command
that only reads a few files should not pay it. ``radprep --version`` and the plain forms of
``radprep info`` (file paths, ``--json``, ``--pixels`` / ``--no-pixels``, a leading
``--debug``) are answered here; anything else (``--help``, an unknown option, a path that
does not exist) goes to the typer app, which says what is wrong.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = ["fast_main", "one_line_warning", "show_info", "start_workers_early"]

_EXIT_INTERNAL = 70  # radprep.cli._common.EXIT_INTERNAL (EX_SOFTWARE), without loading typer
_INFO_FLAGS = {"--json": ("as_json", True), "--pixels": ("pixels", True)}
_INFO_FLAGS["--no-pixels"] = ("pixels", False)
_POOL_COMMANDS = {"run", "demo"}  # the commands whose items go to a process pool by default
_NO_POOL = {"--serial", "--scheduler", "--help", "-h"}


def one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Show a warning as one ``radprep: warning: ...`` line on stderr (no source line)."""
    text = " ".join(str(message).split())
    print(f"radprep: warning: {text}", file=sys.stderr)


def show_info(
    paths: Sequence[Path],
    *,
    as_json: bool,
    pixels: bool,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Print what each DICOM file holds (a text block or a JSON list); return the exit code.

    A file that cannot be read gets one ``radprep: error: ...`` line on stderr (or its error in
    the JSON) and exit code 1; the others are still shown.
    """
    from radprep.errors import RadprepError
    from radprep.io.describe import describe, format_summary

    out, err = out or sys.stdout, err or sys.stderr
    rows: list[dict[str, Any]] = []
    for p in paths:
        try:
            rows.append(describe(p, pixels=pixels))
        except RadprepError as e:
            rows.append({"path": str(p), "error": type(e).__name__, "message": str(e)})
            if not as_json:
                print(f"radprep: error: {e}", file=err)
    if as_json:
        print(json.dumps(rows, indent=2, default=str), file=out)
    else:
        print("\n\n".join(format_summary(r) for r in rows if "error" not in r), file=out)
    return 1 if any("error" in r for r in rows) else 0


def _plain_info(args: Sequence[str]) -> dict[str, Any] | None:
    """The options of a plain ``info`` command line, or None when typer should parse it."""
    options: dict[str, Any] = {"as_json": False, "pixels": True, "paths": []}
    for arg in args:
        if arg in _INFO_FLAGS:
            key, value = _INFO_FLAGS[arg]
            options[key] = value
        elif arg.startswith("-"):
            return None
        elif os.path.isfile(arg) and os.access(arg, os.R_OK):
            options["paths"].append(Path(arg))
        else:
            return None
    return options if options["paths"] else None


def start_workers_early(argv: Sequence[str]) -> bool:
    """Start the workers' server now when `argv` (without the program name) runs a recipe on
    the process pool; return whether it was started.

    The workers' imports (the item job's libraries: about a second) then go ahead on another
    core while this process loads the command-line framework, reads the recipe and indexes the
    source. A command line that turns out to be wrong costs that core's work only: the server
    ends with this process.
    """
    args = [a for a in argv if a != "--debug"]
    if not args or args[0] not in _POOL_COMMANDS:
        return False
    if any(a.split("=", 1)[0] in _NO_POOL for a in args[1:]):
        return False
    from radprep.batch.worker_process import start_forkserver

    start_forkserver(["radprep.jobs.preload"])
    return True


def fast_main(argv: Sequence[str]) -> int | None:
    """Answer `argv` (without the program name) here; None when the typer app must."""
    from radprep import __version__

    if list(argv) == ["--version"]:
        print(f"radprep {__version__}")
        return 0
    debug = bool(argv) and argv[0] == "--debug"
    args = list(argv[1:] if debug else argv)
    if not args or args[0] != "info" or (options := _plain_info(args[1:])) is None:
        return None
    with warnings.catch_warnings():
        warnings.showwarning = one_line_warning
        if not debug:
            # pydicom's parser warnings are noise at the command line; ours are reported.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\..*)?")
        try:
            return show_info(options["paths"], as_json=options["as_json"], pixels=options["pixels"])
        except KeyboardInterrupt:
            print("radprep: error: interrupted", file=sys.stderr)
            return 130
        except Exception as e:  # a bug: the same line and code as radprep.cli._common's
            if debug:
                raise
            print(
                f"radprep: error: internal error {type(e).__name__}: {e} (run with --debug for "
                "the traceback, and please report it)",
                file=sys.stderr,
            )
            return _EXIT_INTERNAL
