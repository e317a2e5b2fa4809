"""What every command shares: the console, logging set-up and turning errors into one paragraph."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

__all__ = [
    "console",
    "estimates",
    "friendly_errors",
    "print_estimates",
    "print_test_estimates",
    "setup_logging",
]

console = Console(stderr=True)


def setup_logging(verbose: bool = False) -> None:
    """Route library logging to the console (INFO, or DEBUG with ``--verbose``)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[
            RichHandler(console=console, show_path=False, log_time_format="[%Y-%m-%d %H:%M:%S]")
        ],
        force=True,
    )


def _message(err: BaseException) -> str:
    """The one-paragraph text of an expected error."""
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])  # str(KeyError) adds quotes around the message
    if isinstance(err, OSError) and err.strerror:
        # str(OSError) reads "[Errno 28] ..."; the reason and the file are what a user needs.
        return f"{err.strerror}: {err.filename}" if err.filename else err.strerror
    return str(err) or type(err).__name__


@contextlib.contextmanager
def friendly_errors() -> Iterator[None]:
    """Print expected errors (bad config, missing data, corrupt files) as one paragraph, exit 2.

    Expected errors are the package's own (bad recipe, corrupt checkpoint, missing data, non-finite
    training), bad values (``ValueError``, ``KeyError``), the file system's (a full disk, a
    missing or unwritable file: ``OSError``) and running out of memory. Ctrl-C during training
    exits with 130 after the trainer saved a checkpoint; Ctrl-C during an evaluation exits with
    130 and names the ``plausible evaluate`` command that finishes it.
    """
    import torch

    from plausible.checkpoint import CheckpointError
    from plausible.config import ConfigError
    from plausible.data import DatasetNotFoundError, IDXFormatError
    from plausible.metrics.suite import EvaluationInterrupted
    from plausible.training import NonFiniteLossError, TrainingInterrupted

    try:
        yield
    except (TrainingInterrupted, EvaluationInterrupted) as err:
        console.print(
            f"[yellow]interrupted:[/yellow] {escape(str(err))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(130) from None
    except (MemoryError, torch.OutOfMemoryError) as err:
        first = escape((str(err).splitlines() or [""])[0][:300] or type(err).__name__)
        console.print(
            f"[bold red]error:[/bold red] ran out of memory ({first}); use "
            "a smaller batch size (--set training.batch_size=...), fewer samples, or a smaller "
            "memory budget (evaluate --memory-mb)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2) from None
    except (
        ConfigError,
        CheckpointError,
        DatasetNotFoundError,
        IDXFormatError,
        NonFiniteLossError,
        OSError,
        ValueError,
        KeyError,
    ) as err:
        console.print(
            f"[bold red]error:[/bold red] {escape(_message(err))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(2) from None


def print_test_estimates(run: Path) -> None:
    """The test set's estimates of a run as a small table; the report holds everything else."""
    from plausible.checkpoint import read_json

    summary = read_json(run / "summary.json")
    seed = summary.get("evaluation", {}).get("seed")
    title = "test set: mean ± standard error"
    if seed is not None:
        title += f" (evaluation seed {seed})"
    print_estimates(summary.get("test", {}), title=title)


def print_estimates(section: Mapping[str, Any], *, title: str) -> None:
    """Every mean-with-standard-error in ``section`` (nested) as a two-column table."""
    from rich.table import Table

    from plausible.reports import format_value

    found = dict(estimates(section))
    if not found:
        return
    table = Table(title=title, min_width=len(title))  # a title never wraps
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in found.items():
        table.add_row(name, format_value(value))
    console.print(table)


def estimates(section: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted name, estimate)`` for every mean-with-standard-error in nested summary sections."""
    for key, value in section.items():
        if isinstance(value, Mapping) and {"mean", "stderr"} <= set(value):
            yield prefix + key, value
        elif isinstance(value, Mapping):
            yield from estimates(value, f"{prefix}{key}.")
