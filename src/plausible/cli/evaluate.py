"""``plausible evaluate``: test-set metrics of a trained run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from plausible.cli._common import console, friendly_errors, setup_logging

__all__ = ["evaluate"]


def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder written by `plausible train`.")],
    num_samples: Annotated[int | None, typer.Option("--num-samples", "-k", help="Importance samples per example (K).")] = None,
    memory_budget_mb: Annotated[float | None, typer.Option("--memory-mb", help="Memory budget for one chunk of samples.")] = None,
    no_figures: Annotated[bool, typer.Option("--no-figures", help="Only compute metrics.")] = False,
) -> None:
    """Evaluate a run on its test split; update summary.json and report.md.

    Examples:

        plausible evaluate runs/vae-digits

        plausible evaluate runs/vae-fashion-mnist --num-samples 5000
    """
    from plausible.runs import evaluate_run

    setup_logging()
    settings: dict[str, float] = {}
    if num_samples is not None:
        if num_samples < 1:
            console.print("[bold red]error:[/bold red] --num-samples must be >= 1")
            raise typer.Exit(2)
        settings["num_samples"] = num_samples
    if memory_budget_mb is not None:
        settings["memory_budget_mb"] = memory_budget_mb
    with friendly_errors():
        summary = evaluate_run(run, settings=settings, figures=not no_figures)
    test = {k: v for k, v in summary["test"].items() if not isinstance(v, list)}
    typer.echo(json.dumps(test, indent=2))
