"""The `radprep` command.

Exit codes: 0 everything done; 1 some inputs failed (listed, the rest done); 2 bad command line,
option or recipe (nothing done); 70 a bug in radprep (``--debug`` shows the traceback).

Start-up is kept short: each command's module is imported only when that command runs (or the
help lists it), and ``radprep --version`` and plain ``radprep info`` answer before the
command-line framework loads (:mod:`radprep.cli._fast`).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from typing import Any

from radprep import __version__

# name -> (module, attribute): what each command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("radprep.cli.info", "info"),
    "convert": ("radprep.cli.convert", "convert"),
    "index": ("radprep.cli.index", "index"),
    "demo": ("radprep.cli.demo", "demo"),
    "deid": ("radprep.cli.deid", "deid"),
    "run": ("radprep.cli.run", "run"),
    "validate": ("radprep.cli.run", "validate"),
    "report": ("radprep.cli.report", "report"),
    "occlusion": ("radprep.cli.occlusion", "occlusion"),
}
GROUPS: dict[str, tuple[str, str]] = {"recipes": ("radprep.cli.run", "recipes_app")}
SETTINGS: dict[str, Any] = {
    "no_args_is_help": True,
    "add_completion": False,
    "pretty_exceptions_enable": False,
    "rich_markup_mode": None,
}
HELP = "Raw DICOM to model-ready data. Exit codes: 0 ok, 1 some inputs failed, 2 usage error."


def _build_app() -> Any:
    """Build the typer app whose group imports each command on first use."""
    import typer
    from typer.core import TyperGroup

    from radprep.cli._common import State

    class LazyGroup(TyperGroup):
        """A command group whose commands are built from their modules on first use."""

        def list_commands(self, ctx: Any) -> list[str]:
            return [*super().list_commands(ctx), *COMMANDS, *GROUPS]

        def get_command(self, ctx: Any, cmd_name: str) -> Any:
            if cmd_name not in COMMANDS and cmd_name not in GROUPS:
                return super().get_command(ctx, cmd_name)
            # Built as one app would build it: in a group with the same settings.
            holder = typer.Typer(**SETTINGS)
            holder.callback()(lambda: None)
            if cmd_name in COMMANDS:
                module, attr = COMMANDS[cmd_name]
                holder.command(cmd_name)(getattr(importlib.import_module(module), attr))
            else:
                module, attr = GROUPS[cmd_name]
                holder.add_typer(getattr(importlib.import_module(module), attr), name=cmd_name)
            group = typer.main.get_command(holder)
            assert isinstance(group, TyperGroup)
            return group.commands[cmd_name]

    app = typer.Typer(name="radprep", cls=LazyGroup, help=HELP, **SETTINGS)

    def _version(value: bool) -> None:
        if value:
            typer.echo(f"radprep {__version__}")
            raise typer.Exit(0)

    @app.callback()
    def _main(
        debug: bool = typer.Option(False, "--debug", help="Show tracebacks and library warnings."),
        version: bool = typer.Option(
            False,
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ) -> None:
        State.debug = debug

    return app


def __getattr__(name: str) -> Any:
    """``app``, the typer application (built on first use, e.g. by typer's CliRunner)."""
    if name == "app":
        app = _build_app()
        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """The command line: answer ``sys.argv`` (the `radprep` program is :func:`entry`)."""
    from radprep.cli._fast import fast_main, start_workers_early

    code = fast_main(sys.argv[1:])  # --version and plain `info`, without the framework
    if code is not None:
        if code:
            sys.exit(code)
        return
    start_workers_early(sys.argv[1:])
    __getattr__("app")(prog_name="radprep")


def entry() -> None:
    """The `radprep` program: :func:`main`, then the end without the interpreter's teardown.

    Once a command has finished, freeing the hundreds of modules a run imports (numpy, OpenCV,
    pydicom, pyarrow, pydantic) takes a fifth of a second of CPU and writes nothing; a program
    ends without it. (:func:`main` itself returns or raises as any function does: tests and
    embedding code call it.)
    """
    try:
        main()
    except SystemExit as done:  # typer ends every command this way
        _exit_without_teardown(done)
        raise
    _exit_without_teardown(SystemExit(0))


def _exit_without_teardown(done: SystemExit) -> None:
    """End the process as `done` says, skipping the interpreter's teardown of its modules.

    What the interpreter does before that teardown is done here first: the atexit functions
    (logging's flush among them) and the standard streams' flush. Returns (and the caller
    raises or returns) when a thread other than this one is still running, so that the
    interpreter waits for it as usual.
    """
    import atexit
    import os
    import threading

    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)  # CPython's; else as usual
    if run_exit_functions is None or threading.active_count() > 1:
        return
    if not isinstance(done.code, (int, type(None))):
        return
    run_exit_functions()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(done.code or 0)


if __name__ == "__main__":  # pragma: no cover
    entry()
