"""What every command shares: the console, exit codes, one-line errors."""

from __future__ import annotations

import functools
import sys
import traceback
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from radprep.errors import OutputError, RadprepError, SpecError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
"""Everything asked for was done."""
EXIT_FAILURES = 1
"""Some inputs failed (each listed with its reason); the others were done."""
EXIT_USAGE = 2
"""Bad command line, option or recipe: nothing was done."""
EXIT_INTERNAL = 70
"""A bug in radprep (EX_SOFTWARE); run again with --debug for the traceback and report it."""

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class State:
    """Global options set by the app callback."""

    debug: bool = False


def fail(message: str, code: int) -> typer.Exit:
    """Print a one-line error and return the Exit to raise."""
    err_console.print(f"radprep: error: {message}", markup=False)
    return typer.Exit(code)


def handle_errors(fn: F) -> F:
    """Turn radprep errors into one-line messages and exit codes (tracebacks with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            if not State.debug:
                # pydicom's parser warnings are noise at the command line; ours are reported.
                warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\\..*)?")
            try:
                return fn(*args, **kwargs)
            except typer.Exit:
                raise
            except SpecError as e:
                _trace()
                raise fail(str(e), EXIT_USAGE) from None
            except (RadprepError, OutputError) as e:
                _trace()
                raise fail(str(e), EXIT_FAILURES) from None
            except KeyboardInterrupt:
                raise fail("interrupted", 130) from None
            except Exception as e:
                _trace()
                raise fail(
                    f"internal error {type(e).__name__}: {e} (run with --debug for the traceback, "
                    "and please report it)",
                    EXIT_INTERNAL,
                ) from None

    return wrapper  # type: ignore[return-value]


def _trace() -> None:
    if State.debug:
        traceback.print_exc(file=sys.stderr)
