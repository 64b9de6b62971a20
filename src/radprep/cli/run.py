"""`radprep run`, `radprep validate`, `radprep recipes`: recipes from the command line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from radprep.cli._common import (
    EXIT_FAILURES,
    EXIT_USAGE,
    Fresh,
    OptionalOut,
    Quiet,
    Scheduler,
    Workers,
    check_workers,
    console,
    err_console,
    fail,
    handle_errors,
    started,
    tick,
)
from radprep.pipeline.spec import builtin_recipes, load_recipe, recipe_hash

if TYPE_CHECKING:
    from radprep.jobs.runner import RunResult

recipes_app = typer.Typer(
    help="List the built-in recipes, or print one to copy and edit.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@handle_errors
def run(
    recipe: str = typer.Argument(..., help="A recipe YAML file, or a built-in recipe's name."),
    set_: list[str] = typer.Option(
        [], "--set", help="Override a recipe value: KEY=VALUE with a dotted key (repeatable)."
    ),
    out: OptionalOut = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    serial: bool = typer.Option(False, "--serial", help="Run in this process (debugging)."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N items."),
    fresh: Fresh = False,
    strict: bool = typer.Option(False, "--strict", help="Fail an item on any data quirk."),
    quiet: Quiet = False,
) -> None:
    """Run a recipe: every item loaded, stepped and written; resumable; failures listed.

    Every file under the source is listed in inputs.jsonl: done, failed (why) or skipped (why).
    """
    check_workers(workers)
    if limit is not None and limit < 0:
        raise fail(f"--limit must be >= 0, got {limit}", EXIT_USAGE)
    started(None, resumable=True)  # for the SIGINT message: runs resume from their ledger
    if not serial and not scheduler:
        # The workers' imports (a second or more) go ahead on another core while this process
        # imports the runner, reads the recipe and indexes the source.
        from radprep.batch.worker_process import start_forkserver

        start_forkserver(["radprep.jobs.preload"])
    from radprep.jobs.runner import run_recipe

    result = run_recipe(
        recipe,
        out=out,
        overrides=set_,
        executor="serial" if serial else "processes",
        workers=workers,
        scheduler=scheduler,
        limit=limit,
        fresh=fresh,
        strict=strict,
        progress="quiet" if quiet else "auto",
        on_result=lambda _item, _ok: tick(),
    )
    _print_result(result)
    if result.failed:
        raise typer.Exit(EXIT_FAILURES)


def _print_result(result: RunResult) -> None:
    """The run's summary, where its files are, and the first failures."""
    rate = (result.done + result.failed - result.skipped) / result.seconds if result.seconds else 0
    console.print(
        f"{result.items} item(s): {result.done} done ({result.skipped} already done), "
        f"{result.failed} failed; {result.outputs} output(s), {result.warnings} warning(s); "
        f"{result.seconds:.1f} s, {rate:.1f} items/s",
        markup=False,
    )
    console.print(result.accounting.summary(), markup=False)
    console.print(f"outputs:  {result.out_dir}", markup=False)
    console.print(f"manifest: {result.manifest}", markup=False)
    console.print(f"run:      {result.run_file}", markup=False)
    if result.report is not None:
        console.print(f"report:   {result.report}", markup=False)
    if result.inputs_file is not None:
        console.print(f"inputs:   {result.inputs_file}", markup=False)
    if result.failed:
        console.print(f"failures: {result.failures_file}", markup=False)
        for f in result.failures[:10]:
            err_console.print(f"radprep: error: {f['item_id']}: {f['message']}", markup=False)
        if result.failed > 10:
            err_console.print(f"radprep: ... and {result.failed - 10} more", markup=False)


@handle_errors
def validate(
    recipe: str = typer.Argument(..., help="A recipe YAML file, or a built-in recipe's name."),
    set_: list[str] = typer.Option([], "--set", help="KEY=VALUE overrides, as for run."),
) -> None:
    """Check a recipe without running it; print its hash."""
    r, _ = load_recipe(recipe, overrides=set_)
    shared, per_output = r.transforms()
    n_steps = len(shared) + sum(len(v) for v in per_output.values())
    console.print(
        f"{recipe}: valid; {n_steps} step(s), outputs: {', '.join(r.outputs)}; "
        f"recipe hash {recipe_hash(r)}",
        markup=False,
    )


@recipes_app.callback()
def recipes(ctx: typer.Context) -> None:
    """List the built-in recipes."""
    if ctx.invoked_subcommand is not None:
        return
    for name, _text in builtin_recipes().items():
        r, _ = load_recipe(name)
        console.print(f"{name:24s} {r.description}", markup=False)


@recipes_app.command("show")
@handle_errors
def show(name: str = typer.Argument(..., help="A built-in recipe's name.")) -> None:
    """Print a built-in recipe (to copy and edit)."""
    available = builtin_recipes()
    if name not in available:
        raise fail(f"no built-in recipe {name!r}; built-in: {', '.join(available)}", EXIT_USAGE)
    console.out(available[name], highlight=False, end="")
