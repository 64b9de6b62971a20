"""The `radprep` command.

Exit codes: 0 everything done; 1 some inputs failed (listed, the rest done); 2 bad command line,
option or recipe (nothing done); 70 a bug in radprep (``--debug`` shows the traceback).
"""

from __future__ import annotations

import typer

from radprep import __version__
from radprep.cli import convert, deid, demo, index, info, occlusion, report, run
from radprep.cli._common import State

app = typer.Typer(
    name="radprep",
    help="Raw DICOM to model-ready data. Exit codes: 0 ok, 1 some inputs failed, 2 usage error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"radprep {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and library warnings."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    State.debug = debug


app.command("info")(info.info)
app.command("convert")(convert.convert)
app.command("index")(index.index)
app.command("demo")(demo.demo)
app.command("deid")(deid.deid)
app.command("run")(run.run)
app.command("validate")(run.validate)
app.command("report")(report.report)
app.command("occlusion")(occlusion.occlusion)
app.add_typer(run.recipes_app, name="recipes")


def main() -> None:
    """Entry point of the `radprep` console script."""
    app(prog_name="radprep")


if __name__ == "__main__":  # pragma: no cover
    main()
