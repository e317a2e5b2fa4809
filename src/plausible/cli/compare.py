"""``plausible compare``: several runs side by side, from their summaries and evaluations."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from plausible.cli._common import console, friendly_errors, setup_logging

__all__ = ["compare", "compare_runs", "markdown_table"]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_estimate(value: Any) -> bool:
    return isinstance(value, dict) and _is_number(value.get("mean"))


def _scalar(value: Any) -> float | None:
    if _is_estimate(value):
        return float(value["mean"])
    return float(value) if _is_number(value) else None


def _run_values(path: Path) -> dict[str, Any]:
    """Headline values of one run: objective settings, test metrics, suite results, training."""
    from plausible.checkpoint import read_json
    from plausible.metrics.suite import headline

    config = read_json(path / "config.json")
    summary = read_json(path / "summary.json") if (path / "summary.json").exists() else {}
    values: dict[str, Any] = {"model": config["model"]["name"]}
    for key, value in config.get("objective", {}).items():
        if key != "name" and (_is_number(value) or isinstance(value, str)):
            values[f"objective.{key}"] = value
    for key, value in summary.get("test", {}).items():
        if _is_number(value) or _is_estimate(value):
            values[key] = value
        elif isinstance(value, dict):
            values.update(
                {f"{key}.{k}": v for k, v in value.items() if _is_number(v) or _is_estimate(v)}
            )
    if (path / "evaluation.json").exists():
        values.update(headline(json.loads((path / "evaluation.json").read_text())))
    training = summary.get("training", {})
    for key in ("epochs", "wall_time_s"):  # not best_val_loss: it depends on the objective's beta
        if _is_number(training.get(key)):
            values[f"training.{key}"] = training[key]
    return values


def _best(values: list[Any], direction: str | None) -> int | None:
    scores = [_scalar(v) for v in values]
    finite = [(i, s) for i, s in enumerate(scores) if s is not None and math.isfinite(s)]
    if direction is None or len(finite) < 2:
        return None
    if direction == "lower":
        return min(finite, key=lambda p: p[1])[0]
    if direction == "higher":
        return max(finite, key=lambda p: p[1])[0]
    return min(finite, key=lambda p: abs(p[1] - 0.5))[0]  # "half": closest to chance


def compare_runs(paths: list[Path]) -> dict[str, Any]:
    """Rows of ``{"key", "values": [per run], "better", "best": index or None}`` for every key."""
    from plausible.metrics.suite import DIRECTIONS

    runs = [_run_values(p) for p in paths]
    keys = list(dict.fromkeys(k for r in runs for k in r))
    rows = []
    for key in keys:
        values = [r.get(key) for r in runs]
        direction = DIRECTIONS.get(key)
        rows.append(
            {"key": key, "values": values, "better": direction, "best": _best(values, direction)}
        )
    return {"runs": [str(p) for p in paths], "names": _names(paths), "rows": rows}


def _names(paths: list[Path]) -> list[str]:
    names = [p.name for p in paths]
    if len(set(names)) < len(names):
        names = [f"{p.parent.name}/{p.name}" for p in paths]
    return names


def markdown_table(table: dict[str, Any]) -> str:
    """The comparison as a markdown table; the best value of each ranked row is bold."""
    from plausible.viz.report import format_value

    head = "| metric | " + " | ".join(table["names"]) + " | better |"
    lines = [head, "|" + " --- |" * (len(table["names"]) + 2)]
    for row in table["rows"]:
        cells = [format_value(v) for v in row["values"]]
        if row["best"] is not None:
            cells[row["best"]] = f"**{cells[row['best']]}**"
        lines.append(f"| {row['key']} | " + " | ".join(cells) + f" | {row['better'] or ''} |")
    return "\n".join(lines)


def _figures(paths: list[Path], names: list[str], out: Path, mi_points: int) -> dict[str, Path]:
    """Side-by-side traversals (models with known-factor data) and diversity-quality curves."""
    import torch

    from plausible.metrics.disentanglement import mig, posterior_mean_representation
    from plausible.registry import TASKS
    from plausible.runs import load_run
    from plausible.viz.disentanglement import TraversalPanel, traversal_comparison
    from plausible.viz.diversity import diversity_quality_curve

    figs: dict[str, Path] = {}
    curves = {}
    for name, path in zip(names, paths, strict=True):
        evaluation = path / "evaluation.json"
        if evaluation.exists():
            result = json.loads(evaluation.read_text()).get("diversity-quality", {})
            if "details" in result:
                curves[name] = result["details"]["curve"]
    if curves:
        figs["diversity against quality"] = diversity_quality_curve(
            curves, out / "diversity_quality.png"
        )
    tasks = {json.loads((p / "config.json").read_text())["task"]["name"] for p in paths}
    task = tasks.pop() if len(tasks) == 1 else ""
    if task not in TASKS or not getattr(TASKS.get(task), "known_factors", False):
        return figs  # side-by-side traversals need one task with known factors (dsprites)
    runs = [load_run(p) for p in paths]
    data = runs[0].load_data()
    truth = data.info["ground_truth"]
    if not all(hasattr(r.model, "encode") and hasattr(r.model, "decode") for r in runs):
        return figs
    panels = []
    torch.manual_seed(0)
    for name, run in zip(names, runs, strict=True):
        gap = mig(truth, posterior_mean_representation(run.model), num_points=mi_points)
        normalised = [
            [m / h for m, h in zip(row, gap["factor_entropy"], strict=True)]
            for row in gap["mutual_information"]
        ]
        beta = run.config.get("objective", {}).get("beta")
        label = (
            f"{name}"
            + (f" (beta = {beta:g})" if _is_number(beta) else "")
            + f": MIG {gap['score']:.2f}"
        )
        panels.append(TraversalPanel(label, run.model, normalised))
    figs["entangled vs disentangled traversals"] = traversal_comparison(
        panels,
        out / "traversals_side_by_side.png",
        factor_names=truth.factor_names,
        x=data.test["x"][:500],
    )
    return figs


def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run folders to compare (two or more).")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder for compare.md, compare.json and figures (default: beside the first run).",
        ),
    ] = None,
    no_figures: Annotated[bool, typer.Option("--no-figures", help="Only the table.")] = False,
    mi_points: Annotated[
        int,
        typer.Option(
            "--mi-points",
            help="Images for the mutual information that labels the traversal rows (MIG's seed).",
        ),
    ] = 10_000,
    update_reports: Annotated[
        bool,
        typer.Option(
            "--update-reports", help="Also add the table and figures to every run's report.md."
        ),
    ] = False,
) -> None:
    """Print and write a side-by-side table of runs' metrics; the best of each ranked row is marked.

    Values come from each run's config.json (objective settings), summary.json (test metrics,
    training) and evaluation.json (`plausible evaluate --metrics`). For models of a task with
    known factors (dsprites), a side-by-side traversal figure is drawn as well.

    Examples:

        plausible compare runs/vae-dsprites runs/beta-vae-dsprites

        plausible compare runs/a runs/b runs/c --out comparisons/abc --update-reports
    """
    from rich.console import Console
    from rich.table import Table

    from plausible.io import atomic_write_json, atomic_write_text
    from plausible.metrics.suite import update_report
    from plausible.viz.report import format_value

    setup_logging()
    if len(runs) < 2:
        console.print("[bold red]error:[/bold red] compare needs at least two run folders")
        raise typer.Exit(2)
    with friendly_errors():
        for path in runs:
            if not (path / "config.json").exists():
                raise FileNotFoundError(
                    f"{path} is not a run folder (no config.json); pass folders "
                    "written by `plausible train`"
                )
        table = compare_runs(runs)
        out_dir = out or runs[0].parent / ("compare-" + "-".join(p.name for p in runs))
        out_dir.mkdir(parents=True, exist_ok=True)
        figs = {} if no_figures else _figures(runs, table["names"], out_dir, mi_points)
    rich_table = Table("metric", *table["names"], "better", box=None, header_style="bold")
    for row in table["rows"]:
        cells = [format_value(v) for v in row["values"]]
        if row["best"] is not None:
            cells[row["best"]] = f"[bold green]{cells[row['best']]}[/bold green]"
        rich_table.add_row(row["key"], *cells, row["better"] or "")
    Console(width=max(console.width, 140)).print(rich_table)
    md = markdown_table(table)
    body = [
        f"# Comparison of {len(runs)} runs",
        "",
        "Runs: " + ", ".join(f"`{p}`" for p in runs),
        "",
        "Bold: the best value of each row that has a direction (lower / higher / half = closest "
        "to 50% for the real-vs-generated classifier).",
        "",
        md,
        "",
    ]
    for title, fig in figs.items():
        body += [f"## {title}", "", f"![{title}]({fig.name})", ""]
    atomic_write_text(out_dir / "compare.md", "\n".join(body))
    atomic_write_json(
        out_dir / "compare.json", {**table, "figures": {k: str(v) for k, v in figs.items()}}
    )
    if update_reports:
        for path in runs:
            links = [
                f"![{t}]({Path(os.path.relpath(f.resolve(), path.resolve())).as_posix()})"
                for t, f in figs.items()
            ]
            section = "\n\n".join(["## Comparison with other runs", md, *links])
            update_report(path, section, marker="comparison")
    console.print(f"wrote {out_dir / 'compare.md'} and {out_dir / 'compare.json'}")
