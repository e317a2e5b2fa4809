"""``plausible sample``: draw samples from a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from plausible.cli._common import console, friendly_errors

if TYPE_CHECKING:
    import numpy as np

__all__ = ["load_inputs", "parse_labels", "sample"]


def parse_labels(values: list[str], num_classes: int) -> list[int]:
    """``--label`` values (repeated, comma lists, or ``all``) as class indices in ``[0, K)``.

    Args:
        values: What ``--label`` was given, e.g. ``["3", "5,7"]``.
        num_classes: ``K``, the length of the model's one-hot input.

    Returns:
        The classes in the order given, each once.

    Raises:
        ValueError: A value that is not an integer, or a class outside ``0 .. K-1``.
    """
    labels: list[int] = []
    for part in (p.strip() for v in values for p in v.split(",")):
        if part == "all":
            labels += range(num_classes)
            continue
        try:
            label = int(part)
        except ValueError:
            raise ValueError(
                f"--label takes class numbers (e.g. --label 3 or --label 3,7) or 'all', "
                f"got {part!r}"
            ) from None
        if not 0 <= label < num_classes:
            raise ValueError(
                f"--label {label} is out of range: the model was trained on {num_classes} "
                f"classes, labels 0 to {num_classes - 1}"
            )
        labels.append(label)
    if not labels:
        raise ValueError("--label got no class; pass e.g. --label 3, --label 3,7 or --label all")
    return list(dict.fromkeys(labels))


def load_inputs(path: Path, x_shape: tuple[int, ...]) -> np.ndarray:
    """Read ``--inputs``: a .npy of ``N >= 1`` real, finite inputs of shape ``x_shape`` each.

    Args:
        path: The .npy file (read without unpickling: object arrays are refused).
        x_shape: The model's per-example input shape.

    Returns:
        The inputs ``(N, *x_shape)`` as float32.

    Raises:
        ValueError: The file is missing or not a plain .npy array, or its shape, dtype or values
            do not fit; the message names the file and the expected shape.
    """
    import numpy as np

    expected = f"(N, {', '.join(str(s) for s in x_shape)})"
    where = f"--inputs {path}"
    if not path.is_file():
        raise ValueError(f"{where} does not exist; give a .npy array of inputs {expected}")
    try:
        inputs = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(
            f"{where} is not a readable .npy array of numbers ({err}); save the inputs with "
            f"numpy.save as an array {expected}"
        ) from None
    if not isinstance(inputs, np.ndarray):
        raise ValueError(f"{where} holds several arrays (.npz); give one .npy array {expected}")
    if inputs.dtype == np.bool_ or inputs.dtype.kind not in "fiu":
        raise ValueError(f"{where} holds {inputs.dtype} values; inputs {expected} must be numbers")
    if inputs.ndim != 1 + len(x_shape) or tuple(inputs.shape[1:]) != x_shape or not len(inputs):
        raise ValueError(
            f"{where} has shape {inputs.shape}, but the model takes inputs {expected} with N >= 1: "
            f"one input of shape {x_shape} per row"
        )
    inputs = inputs.astype(np.float32)
    finite = np.isfinite(inputs.reshape(len(inputs), -1)).all(1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(
            f"{where}: {len(bad)} inputs hold NaN or infinite values (first: row {bad[0]}); "
            "drop or fix them"
        )
    return inputs


def _check_count(
    count: int, shape: tuple[int, ...], memory_mb: float, out: Path, *, per: int
) -> None:
    """Refuse ``count`` samples of ``shape`` over the memory budget, or too many for a grid."""
    from plausible.models.vae import check_sample_budget

    check_sample_budget(count, shape, memory_mb, count_name="-n ", budget_name="--memory-mb")
    if out.suffix == ".png" and count > 10_000:
        raise ValueError(
            f"a grid of {count} images is unreadable; use -n {10_000 // per} or less, or .npy"
        )


def sample(
    run: Annotated[Path, typer.Argument(help="Run folder written by `plausible train`.")],
    n: Annotated[
        int, typer.Option("-n", "--num", help="Number of samples (per label with --label).")
    ] = 64,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output .png (image grid) or .npy (array).")
    ] = Path("samples.png"),
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    draw: Annotated[
        bool, typer.Option("--draw", help="Draw from p(x|z) instead of showing its mean.")
    ] = False,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            "-l",
            help="Class-conditional models: the class(es) to sample, repeated or comma-separated "
            "(--label 3 --label 7, --label 3,7), or 'all'. n samples per label.",
        ),
    ] = None,
    memory_mb: Annotated[
        float, typer.Option("--memory-mb", help="Memory budget for the samples, in MiB.")
    ] = 2048.0,
    inputs: Annotated[
        Path | None,
        typer.Option(
            "--inputs",
            "-i",
            help="Conditional models: a .npy array of inputs (N, *x_shape); n samples are drawn "
            "for each and saved as an array (n, N, *y_shape) in the --out .npy file.",
        ),
    ] = None,
) -> None:
    """Sample from the prior of a trained model and save a grid or an array.

    A class-conditional model (`cvae-class-digits`) samples n images for each `--label`: one row
    per label in the grid, an array `(labels, n, C, H, W)` in the .npy file.

    Any conditional model samples n outputs for each input of `--inputs FILE.npy` (an array
    `(N, *x_shape)`) and saves them as a float32 array `(n, N, *y_shape)`.

    Examples:

        plausible sample runs/vae-digits -n 100 --out samples.png

        plausible sample runs/vae-digits -n 1000 --out samples.npy

        plausible sample runs/cvae-class-digits --label 3,7 -n 16 --out threes-and-sevens.png

        plausible sample runs/mdn-inverse-sine --inputs x.npy -n 20 --out futures.npy
    """
    import numpy as np
    import torch

    from plausible.io import atomic_open
    from plausible.models.protocols import ConditionalModel, LatentVariableModel
    from plausible.runs import load_run
    from plausible.tasks.conditional import ClassConditional

    if n < 1:
        console.print("[bold red]error:[/bold red] -n must be >= 1")
        raise typer.Exit(2)
    if out.suffix not in (".png", ".npy"):
        console.print(
            f"[bold red]error:[/bold red] --out must end in .png or .npy, got {out.name!r}"
        )
        raise typer.Exit(2)
    if inputs is not None and (out.suffix != ".npy" or label):
        console.print(
            "[bold red]error:[/bold red] --inputs writes an array: give --out FILE.npy, and no "
            "--label (the inputs are the conditions)"
        )
        raise typer.Exit(2)
    with friendly_errors():
        loaded = load_run(run)
        model = loaded.model
        name = loaded.config["model"]["name"]
        if inputs is not None:
            if not isinstance(model, ConditionalModel):
                raise ValueError(
                    f"--inputs applies to conditional models; model {name!r} of {run} takes no "
                    "input: leave --inputs out"
                )
            x_np = load_inputs(inputs, tuple(model.x_shape))
            _check_count(n * len(x_np), model.y_shape, memory_mb, out, per=1)
            device = next(model.parameters()).device
            torch.manual_seed(seed)
            drawn = model.sample(torch.from_numpy(x_np).to(device), n, mean=not draw)
            # Computed in full before the file is opened: an error leaves no file behind.
            array = drawn.detach().to("cpu", torch.float32).numpy()
            with atomic_open(out, "wb") as f:
                np.save(f, array)
            console.print(f"wrote {out}: {n} samples for each of {len(x_np)} inputs")
            return
        if isinstance(model, ConditionalModel):
            # The class-conditional task feeds the model a one-hot label: the one conditional
            # model whose inputs the command line can build.
            if not isinstance(loaded.task, ClassConditional):
                raise ValueError(
                    f"model {name!r} predicts from an input, so it has no unconditional samples; "
                    "pass inputs as --inputs FILE.npy, or use `plausible explore` or "
                    "model.sample(x, n) in Python"
                    + ("; --label applies only to class-conditional runs" if label else "")
                )
            (num_classes,) = model.x_shape
            if not label:
                raise ValueError(
                    f"model {name!r} generates images of a given class; name the class(es) with "
                    f"--label (0 to {num_classes - 1}, e.g. --label 3,7, or --label all)"
                )
            labels = parse_labels(label, num_classes)
            _check_count(n * len(labels), model.y_shape, memory_mb, out, per=len(labels))
            device = next(model.parameters()).device
            x = torch.eye(num_classes, device=device)[labels]  # (L, K) one-hot labels
            torch.manual_seed(seed)
            # (n, L, *y_shape) -> (L, n, *y_shape): one row of n images per label
            samples = model.sample(x, n, mean=not draw).transpose(0, 1).cpu()
            title = (
                f"{n} draws per label (y ~ p(y|x,z), z ~ p(z|x))"
                if draw
                else f"{n} decoder means per label (means of p(y|x,z), z ~ p(z|x))"
            )
            row_labels = [f"label {k}" for k in labels]
        elif isinstance(model, LatentVariableModel):
            if label:
                raise ValueError(
                    f"--label applies to class-conditional runs; model {name!r} of {run} is "
                    "unconditional: leave --label out"
                )
            _check_count(n, model.x_shape, memory_mb, out, per=1)
            torch.manual_seed(seed)
            # Decoded in chunks by the model, so its activations stay small whatever n is.
            samples = model.sample(n, mean=not draw).cpu()
            title = (
                f"{n} draws (x ~ p(x|z), z ~ p(z))"
                if draw
                else f"{n} decoder means (means of p(x|z), z ~ p(z))"
            )
            row_labels = []
        else:
            raise ValueError(
                f"model {name!r} is not a LatentVariableModel (plausible.models.protocols), so "
                "it has no unconditional samples; use `plausible explore` to look at it"
            )
        if out.suffix == ".npy":
            with atomic_open(out, "wb") as f:
                np.save(f, samples.numpy())
        elif row_labels:
            from plausible.viz.conditional import class_grid

            class_grid(samples, row_labels, out, title=title)
        else:
            from plausible.viz import image_grid

            image_grid(samples, out, title=title)
    console.print(f"wrote {out}")
