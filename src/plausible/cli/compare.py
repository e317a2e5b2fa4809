"""``plausible compare``: several runs side by side, from their summaries and evaluations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from plausible.cli._common import console, friendly_errors, setup_logging

__all__ = ["compare"]


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
    """Print and write the settings that differ between runs, then a side-by-side table of their
    metrics; the best of each ranked row is marked.

    Values come from each run's config.json (settings), summary.json (test metrics, training) and
    evaluation.json (`plausible evaluate --metrics`). A row is ranked when its direction is known
    (lower, higher, or half: closest to 50% for the real-vs-generated classifier); descriptive
    rows (active units, KL, latent size) are not. Likelihoods of different quantities (a VAE's
    -log p(x), a CVAE's or an MDN's -log p(y|x), or other data) are not ranked, and a warning
    under the table says so. For models of a task with known factors (dsprites), a side-by-side
    traversal figure is drawn as well.

    Examples:

        plausible compare runs/vae-dsprites runs/beta-vae-dsprites

        plausible compare runs/a runs/b runs/c --out comparisons/abc --update-reports
    """
    from plausible.reports import (
        add_to_run_reports,
        compare_runs,
        comparison_figures,
        format_value,
        write_comparison,
    )
    from plausible.reports.comparison import better_text
    from plausible.runs import load_run

    setup_logging()
    if len(runs) < 2:
        console.print("[bold red]error:[/bold red] compare needs at least two run folders")
        raise typer.Exit(2)
    with friendly_errors():
        table = compare_runs(runs)
        out_dir = out or runs[0].parent / ("compare-" + "-".join(p.name for p in runs))
        figs = (
            {}
            if no_figures
            else comparison_figures(
                runs, table["names"], out_dir, load_run=load_run, mi_points=mi_points
            )
        )
        md, js = write_comparison(out_dir, table, figs)
        if update_reports:
            add_to_run_reports(table, figs)
    wide = Console(width=max(console.width, 140))
    settings = Table(
        "setting", *table["names"], box=None, header_style="bold", title="settings that differ"
    )
    for row in table["config_diff"]:
        settings.add_row(row["key"], *("—" if v is None else str(v) for v in row["values"]))
    if table["config_diff"]:
        wide.print(settings)
    else:
        wide.print("settings: the runs' config.json files are identical")
    caption = "\n".join(f"[bold yellow]warning:[/bold yellow] {w}" for w in table["warnings"])
    metrics = Table(
        "metric",
        *table["names"],
        "better",
        box=None,
        header_style="bold",
        title="metrics",
        caption=caption or None,
        caption_justify="left",
    )
    for row in table["rows"]:
        cells = [format_value(v) for v in row["values"]]
        if row["best"] is not None:
            cells[row["best"]] = f"[bold green]{cells[row['best']]}[/bold green]"
        metrics.add_row(row["key"], *cells, better_text(row))
    wide.print(metrics)
    console.print(f"wrote {md} and {js}")
