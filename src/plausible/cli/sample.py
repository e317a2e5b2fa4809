"""``plausible sample``: draw samples from a trained run."""

from __future__ import annotations

import inspect
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
    memory_mb: Annotated[
        float, typer.Option("--memory-mb", help="Memory budget for the samples, in MiB.")
    ] = 2048.0,
) -> None:
    """Sample from the prior of a trained model and save a grid or an array.

    Examples:

        plausible sample runs/vae-digits -n 100 --out samples.png

        plausible sample runs/vae-digits -n 1000 --out samples.npy
    """
    import numpy as np
    import torch

    from plausible.io import atomic_open
    from plausible.models.vae import check_sample_budget
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
        loaded = load_run(run)
        method = getattr(loaded.model, "sample", None)
        params = list(inspect.signature(method).parameters) if method is not None else []
        if not params or params[0] != "num_samples":
            raise ValueError(
                f"model {loaded.config['model']['name']!r} predicts from an input, so it has no "
                "unconditional samples; use `plausible explore` or model.sample(x, n) in Python"
            )
        x_shape = getattr(loaded.model, "x_shape", (1,))
        check_sample_budget(n, x_shape, memory_mb, count_name="-n ", budget_name="--memory-mb")
        if out.suffix == ".png" and n > 10_000:
            raise ValueError(f"a grid of {n} images is unreadable; use -n 10000 or less, or .npy")
        torch.manual_seed(seed)
        # Decoded in chunks by the model, so its activations stay small whatever n is.
        samples = loaded.model.sample(n, mean=not draw).cpu()  # type: ignore[operator]
        if out.suffix == ".npy":
            with atomic_open(out, "wb") as f:
                np.save(f, samples.numpy())
        else:
            from plausible.viz import image_grid

            image_grid(samples, out, title=f"{n} samples")
    console.print(f"wrote {out}")
