"""The ``plausible`` command: a thin runner over the registries, recipes and trainer."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperGroup, TyperOption

__all__ = ["app", "main"]

app = typer.Typer(
    name="plausible",
    help="Deep generative models that predict many plausible answers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from plausible._version import __version__

        typer.echo(f"plausible {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Deep generative models that predict many plausible answers."""


def _register_commands() -> None:
    # One file per command; each module exposes a function named like the command.
    from plausible.cli import compare, env, evaluate, explore, recipes, reproduce, sample, train

    app.command("train")(train.train)
    app.command("evaluate")(evaluate.evaluate)
    app.command("sample")(sample.sample)
    app.command("recipes")(recipes.recipes)
    app.command("compare")(compare.compare)
    app.command("explore")(explore.explore)
    app.command("reproduce")(reproduce.reproduce)
    app.command("env")(env.env)


def main() -> None:
    """Console-script entry point."""
    # Set before PyTorch loads its OpenMP runtime, which reads it once: waiting threads sleep
    # instead of spinning, so a second process on the cores does not stall every parallel
    # region (docs/training.md has the measurements). A value the user set is kept.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _register_commands()
    command = typer.main.get_command(app)
    _hide_flag_metavars(command)
    command(prog_name="plausible")


def _hide_flag_metavars(command: Any) -> None:
    """Show ``--resume`` in help pages, not ``--resume <bool>``: a flag takes no value."""
    for param in command.params:
        if isinstance(param, TyperOption) and param.is_flag:
            param.metavar = ""
    make_help = command.get_help_option

    def help_option(ctx: Any) -> Any:  # built per call, so it is fixed as it is made
        option = make_help(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = help_option
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            _hide_flag_metavars(sub)


if __name__ == "__main__":  # `python -m plausible.cli.main`, as torchrun launches it
    main()
