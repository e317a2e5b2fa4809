"""``plausible train``: train a recipe into a run folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from plausible.cli._common import console, friendly_errors, print_test_estimates, setup_logging

__all__ = ["train"]


def train(
    recipe: Annotated[
        str,
        typer.Argument(help="Shipped recipe name (see `plausible recipes`) or a .toml/.json file."),
    ],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override one value: table.key=value (repeatable)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder (default runs/<recipe>).")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the run in --out from its last checkpoint (from the start if it "
            "stopped before its first one). The recipe and --set values must describe the same "
            "run; only epochs, device, threads, progress and [evaluation] may change.",
        ),
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Folder holding the data set's files (sets task.data_dir); nothing else is "
            "searched then.",
        ),
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")
    ] = None,
    devices: Annotated[
        int,
        typer.Option(
            "--devices", help="Data-parallel processes on this machine (launches torchrun)."
        ),
    ] = 1,
    no_eval: Annotated[
        bool, typer.Option("--no-eval", help="Skip the test-set evaluation and figures.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Train a model from a recipe; write weights, metrics, figures and report.md.

    Examples:

        plausible train vae-digits

        plausible train vae-fashion-mnist --set training.epochs=5 --set model.latent_dim=16

        plausible train my-recipe.toml --out runs/mine --device cuda

        plausible train vae-digits --out runs/vae-digits --resume

        plausible train vae-fashion-mnist --devices 4   (one process per GPU, DDP)
    """
    from plausible.config import apply_overrides, load_recipe
    from plausible.runs import train_run

    if devices > 1 and "WORLD_SIZE" not in os.environ:
        raise typer.Exit(_launch_torchrun(devices))
    setup_logging(verbose)
    with friendly_errors():
        config = load_recipe(recipe)
        # A run's own config.json is a recipe too (`plausible train RUN/config.json --resume`).
        config = {
            k: v for k, v in config.items() if k not in ("format_version", "plausible_version")
        }
        overrides = list(set_ or [])
        if device:
            overrides.append(f'training.device="{device}"')
        if data_dir is not None:
            overrides.append(f"task.data_dir={json.dumps(str(data_dir))}")
        config = apply_overrides(config, overrides)
        name = Path(recipe).stem
        run_dir = out or Path("runs") / name
        path = train_run(config, run_dir, resume=resume, evaluate=not no_eval)
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun, rank 0 reports for everyone
    if not no_eval:
        print_test_estimates(path)
    console.print(f"[bold green]done[/bold green]: run folder {path}")
    if not no_eval:
        console.print(f"report: {path / 'report.md'}   figures: {path / 'figures'}")


def _launch_torchrun(devices: int) -> int:
    """Re-run this very command under torchrun with ``devices`` processes; return its exit code."""
    args = sys.argv[1:]
    drop = {"--devices"}
    kept, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in drop:
            skip = True
            continue
        if a.startswith("--devices="):
            continue
        kept.append(a)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={devices}",
        "-m",
        "plausible.cli.main",
        *kept,
    ]
    console.print(f"launching: {' '.join(command[1:])}")
    return subprocess.call(command)
