"""``plausible evaluate``: test-set metrics of a trained run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from plausible.cli._common import console, friendly_errors, print_test_estimates, setup_logging

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["evaluate", "parse_settings"]


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``["num_samples=100", "disentanglement.mig_num_points=5000"]`` to a nested dict.

    Values are read as TOML (``3``, ``0.5``, ``[0.5, 1.0]``, ``"mode"``); a bare word is a string.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        parts = [p.strip() for p in key.split(".")]
        if not sep or not all(parts) or len(parts) > 2:
            raise ValueError(
                f"--set expects key=value or metric.key=value (e.g. disentanglement.mig_num_points="
                f"5000), got {item!r}"
            )
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        target = out.setdefault(parts[0], {}) if len(parts) == 2 else out
        if not isinstance(target, dict):
            raise ValueError(
                f"--set {item!r}: {parts[0]!r} was already set to a value, not a table"
            )
        target[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def _run_suite(
    run_dir: Path, names: str, settings: dict[str, Any], *, figures: bool
) -> dict[str, Any]:
    """Run suite metrics on a run; write evaluation.json, figures and the report section."""
    import torch

    from plausible.metrics.suite import EvaluationInterrupted, parse_metric_names, run_metrics
    from plausible.reports.evaluation import (
        report_section,
        suite_figures,
        update_report,
        write_evaluation,
    )
    from plausible.runs import EVALUATION_SEED, evaluation_settings, load_run

    run = load_run(run_dir, device="cuda" if torch.cuda.is_available() else "cpu")
    metric_names = parse_metric_names(names)
    data = run.load_data()
    merged = evaluation_settings(run.task, run.config, settings)
    merged.pop("metrics", None)  # --metrics names them
    merged.setdefault("seed", EVALUATION_SEED)
    console.print(f"evaluation seed {merged['seed']}", highlight=False)
    try:
        results = run_metrics(metric_names, run.model, data, merged)
    except KeyboardInterrupt:
        command = f"plausible evaluate {run_dir} --metrics {','.join(metric_names)}"
        raise EvaluationInterrupted(run_dir, command) from None
    write_evaluation(run_dir, results)
    figs = (
        suite_figures(
            run.model,
            data,
            results,
            run_dir / "figures",
            title=run.config.get("description", "")[:60] or run_dir.name,
        )
        if figures
        else {}
    )
    update_report(run_dir, report_section(results, figs, run_dir))
    return results


def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder written by `plausible train`.")],
    num_samples: Annotated[
        int | None, typer.Option("--num-samples", "-k", help="Importance samples per example (K).")
    ] = None,
    memory_budget_mb: Annotated[
        float | None, typer.Option("--memory-mb", help="Memory budget for one chunk of samples.")
    ] = None,
    no_figures: Annotated[bool, typer.Option("--no-figures", help="Only compute metrics.")] = False,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="Seed of the evaluation's random draws (default: the recipe's, else 0); the "
            "same seed gives the same numbers.",
        ),
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            "-m",
            help=(
                "Suite metrics, comma-separated (nll, apd, best-of-k, crps, quality, fd, collapse, "
                "disentanglement, diversity-quality) or 'all': writes evaluation.json and a "
                "report section."
            ),
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", "-s", help="Evaluation setting: key=value or metric.key=value (repeatable)."
        ),
    ] = None,
) -> None:
    """Evaluate a run on its test split; update summary.json and report.md.

    Without --metrics, the suite metrics the task names run and summary.json is updated. With
    --metrics, the named suite metrics run, their results are merged into evaluation.json and a
    section with a table and figures is added to report.md (replacing an earlier one).

    Examples:

        plausible evaluate runs/vae-digits

        plausible evaluate runs/vae-fashion-mnist --num-samples 5000

        plausible evaluate runs/beta-vae-dsprites --metrics nll,collapse,disentanglement,fd

        plausible evaluate runs/vae-digits -m quality,apd --set quality.output=mode
    """
    from plausible.runs import evaluate_run

    setup_logging()
    settings: dict[str, Any] = {}
    if num_samples is not None:
        if num_samples < 1:
            console.print("[bold red]error:[/bold red] --num-samples must be >= 1")
            raise typer.Exit(2)
        settings["num_samples"] = num_samples
    if memory_budget_mb is not None:
        settings["memory_budget_mb"] = memory_budget_mb
    if seed is not None:
        settings["seed"] = seed
    with friendly_errors():
        settings = _merge(settings, parse_settings(list(set_ or [])))
        if metrics is not None:
            results = _run_suite(run, metrics, settings, figures=not no_figures)
            _print_suite(results)
            console.print(f"wrote {run / 'evaluation.json'} and a section of {run / 'report.md'}")
            return
        evaluate_run(run, settings=settings, figures=not no_figures)
    print_test_estimates(run)
    console.print(f"updated {run / 'summary.json'} and {run / 'report.md'}")


def _print_suite(results: dict[str, Any]) -> None:
    """The suite's headline values as a table, and a line for each skipped metric."""
    from rich.markup import escape
    from rich.table import Table

    from plausible.metrics.suite import DIRECTIONS, headline
    from plausible.reports import format_value

    seeds = {r["settings"]["seed"] for r in results.values() if "seed" in r.get("settings", {})}
    title = "evaluation suite" + (f" (seed {seeds.pop()})" if len(seeds) == 1 else "")
    table = Table(title=title, min_width=len(title))  # a title never wraps
    for column in ("metric", "value", "better"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for key, value in headline(results).items():
        table.add_row(key, format_value(value), DIRECTIONS.get(key, ""))
    console.print(table)
    for name, result in results.items():
        if "skipped" in result:
            console.print(f"{name}: skipped ({escape(result['skipped'])})", highlight=False)
