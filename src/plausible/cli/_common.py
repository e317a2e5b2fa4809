"""What every command shares: the console, logging set-up and turning errors into one paragraph."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.logging import RichHandler

__all__ = ["console", "friendly_errors", "setup_logging"]

console = Console(stderr=True)


def setup_logging(verbose: bool = False) -> None:
    """Route library logging to the console (INFO, or DEBUG with ``--verbose``)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        handlers=[RichHandler(console=console, show_path=False)], force=True)


@contextlib.contextmanager
def friendly_errors() -> Iterator[None]:
    """Print expected errors (bad config, missing data, corrupt files) as one paragraph, exit 2."""
    from plausible.checkpoint import CheckpointError
    from plausible.config import ConfigError
    from plausible.data import DatasetNotFoundError, IDXFormatError
    from plausible.training import NonFiniteLossError, TrainingInterrupted

    try:
        yield
    except TrainingInterrupted as err:
        console.print(f"[yellow]interrupted:[/yellow] {err}")
        raise typer.Exit(130) from None
    except (ConfigError, CheckpointError, DatasetNotFoundError, IDXFormatError,
            NonFiniteLossError, FileNotFoundError, ValueError, KeyError) as err:
        message = err.args[0] if err.args else str(err)
        console.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
