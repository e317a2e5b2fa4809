"""``plausible sample``: draw samples from a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from plausible.cli._common import console, friendly_errors

__all__ = ["sample"]


def sample(
    run: Annotated[Path, typer.Argument(help="Run folder written by `plausible train`.")],
    n: Annotated[int, typer.Option("-n", "--num", help="Number of samples.")] = 64,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output .png (image grid) or .npy (array).")
    ] = Path("samples.png"),
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    draw: Annotated[
        bool, typer.Option("--draw", help="Draw from p(x|z) instead of showing its mean.")
    ] = False,
) -> None:
    """Sample from the prior of a trained model and save a grid or an array.

    Examples:

        plausible sample runs/vae-digits -n 100 --out samples.png

        plausible sample runs/vae-digits -n 1000 --out samples.npy
    """
    import numpy as np
    import torch

    from plausible.io import atomic_open
    from plausible.runs import load_run

    if n < 1:
        console.print("[bold red]error:[/bold red] -n must be >= 1")
        raise typer.Exit(2)
    if out.suffix not in (".png", ".npy"):
        console.print(
            f"[bold red]error:[/bold red] --out must end in .png or .npy, got {out.name!r}"
        )
        raise typer.Exit(2)
    with friendly_errors():
        run = load_run(run)
        if not hasattr(run.model, "sample"):
            raise ValueError(f"model {run.config['model']['name']!r} cannot sample unconditionally")
        torch.manual_seed(seed)
        samples = run.model.sample(n, mean=not draw).cpu()  # type: ignore[operator]
        if out.suffix == ".npy":
            with atomic_open(out, "wb") as f:
                np.save(f, samples.numpy())
        else:
            from plausible.viz import image_grid

            image_grid(samples, out, title=f"{n} samples")
    console.print(f"wrote {out}")
