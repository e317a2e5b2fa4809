"""``plausible reproduce``: re-run a paper's experiment and write its table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, cast

import typer

from plausible.cli._common import console, friendly_errors, setup_logging

__all__ = ["reproduce"]

PAPERS = ("sohn2015", "burda2016", "mix-and-match", "ucnet", "sohn2015-segmentation")


def reproduce(
    paper: Annotated[
        str,
        typer.Argument(
            help="Experiment to reproduce: sohn2015, burda2016, mix-and-match, ucnet or "
            "sohn2015-segmentation."
        ),
    ],
    more_quadrants: Annotated[
        list[int] | None, typer.Argument(hidden=True, help="Further values of --quadrants.")
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            "-d",
            help="fashion-mnist, mnist or digits (default: fashion-mnist for sohn2015, mnist "
            "for burda2016); mix-and-match: branching-trajectories or stick-figure (default "
            "both); ucnet: annotated-shapes or rgbd-saliency (default both).",
        ),
    ] = None,
    quadrants: Annotated[
        list[int] | None,
        typer.Option("--quadrants", "-q", help="Observed-quadrant settings: --quadrants 1 2 3."),
    ] = None,
    models: Annotated[
        str | None,
        typer.Option(
            "--models",
            help="sohn2015: which models to train, comma-separated from baseline, gsnn, cvae "
            "and hybrid (default all four; the paper's table has the first three).",
        ),
    ] = None,
    budget: Annotated[str, typer.Option("--budget", "-b", help="quick or full.")] = "quick",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output folder (default runs/<paper>-<dataset>-<budget>, -seed<N> appended "
            "for --seed N > 0).",
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Reuse finished runs in --out and continue the others.")
    ] = False,
    binarize: Annotated[
        str | None,
        typer.Option("--binarize", help="sohn2015: none (grey levels), threshold or dynamic."),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Override the budget's epochs.")
    ] = None,
    eval_examples: Annotated[
        int | None,
        typer.Option(
            "--eval-examples",
            help="Test images to evaluate (0: all); mix-and-match: test histories.",
        ),
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option(
            "--samples", "-S", help="S of the Monte Carlo and IS estimators (burda2016: K)."
        ),
    ] = None,
    train_examples: Annotated[
        int | None,
        typer.Option(
            "--train-examples",
            help="burda2016: training images (0: all 59,600); ucnet, sohn2015-segmentation: "
            "training images of the generated sets; mix-and-match: training sequences per set.",
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            min=0,
            help="Seed of weights, batches, generated data and evaluation draws; another seed "
            "is another training run (default folder gets a -seedN suffix).",
        ),
    ] = 0,
    threads: Annotated[
        int, typer.Option("--threads", help="CPU threads (0: PyTorch's default).")
    ] = 0,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = "auto",
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Folder holding the data set's files.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Train and evaluate a paper's models and write its table (markdown and JSON) and figures.

    sohn2015 trains the baseline NN, GSNN, CVAE and hybrid of Sohn, Lee and Yan (2015) for each
    quadrant setting and reports -log p(y|x) by Monte Carlo and importance sampling.

    burda2016 trains the VAE and IWAE of Burda, Grosse and Salakhutdinov (2016) with k = 1, 5
    and 50 on dynamically binarised MNIST and reports the test NLL (importance sampling), the
    paper's claims with paired standard errors, and active units.

    mix-and-match trains the deterministic GRU, the concatenation CVAE and the Mix-and-Match
    CVAE of Aliakbarian et al. (2020) on the branching-trajectory and stick-figure sets, whose
    law of the future is known, and writes one table per set with the law's own sampler first.

    ucnet trains a U-Net, the Probabilistic U-Net and a UC-Net-style CVAE on generated disks
    with four graders and on RGB-D-style saliency (Fashion-MNIST items), with the graders' own
    law as the first row: GED, HM-IoU, S, F, E and MAE.

    sohn2015-segmentation trains a U-Net and a dense CVAE on silhouettes over textured noise
    with omission noise and writes the 3 x 3 table of omission level by block size.

    Examples:

        plausible reproduce sohn2015 --dataset fashion-mnist --budget quick

        plausible reproduce sohn2015 --dataset mnist --quadrants 1 2 --budget full

        plausible reproduce sohn2015 --dataset mnist --budget full --models baseline,gsnn,cvae

        plausible reproduce sohn2015 --dataset digits --epochs 5 --out runs/sohn-digits

        plausible reproduce burda2016 --budget quick --threads 1

        plausible reproduce mix-and-match --budget quick

        plausible reproduce ucnet --budget quick

        plausible reproduce sohn2015-segmentation --budget quick
    """
    setup_logging(verbose)
    with friendly_errors():
        if paper not in PAPERS:
            raise ValueError(f"unknown experiment {paper!r}; choose one of: {', '.join(PAPERS)}")
        if paper == "mix-and-match":
            given = {
                "--quadrants": quadrants or more_quadrants,
                "--models": models,
                "--binarize": binarize,
                "--samples": samples,
                "--data-dir": data_dir,
            }
            _reproduce_mix_and_match(
                budget=budget,
                dataset=dataset,
                out=out,
                resume=resume,
                seed=seed,
                epochs=epochs,
                train_examples=train_examples,
                eval_examples=eval_examples,
                threads=threads,
                device=device,
                unused=[name for name, value in given.items() if value],
            )
            return
        if paper in ("ucnet", "sohn2015-segmentation"):
            given = {
                "--quadrants": quadrants or more_quadrants,
                "--models": models,
                "--binarize": binarize,
                "--samples": samples,
            }
            _reproduce_dense(
                paper=paper,
                budget=budget,
                dataset=dataset,
                out=out,
                resume=resume,
                seed=seed,
                epochs=epochs,
                train_examples=train_examples,
                eval_examples=eval_examples,
                threads=threads,
                device=device,
                data_dir=data_dir,
                unused=[name for name, value in given.items() if value],
            )
            return
        if paper == "burda2016":
            _reproduce_burda2016(
                budget=budget,
                dataset=dataset or "mnist",
                out=out,
                resume=resume,
                seed=seed,
                epochs=epochs,
                eval_examples=eval_examples,
                samples=samples,
                train_examples=train_examples,
                threads=threads,
                device=device,
                data_dir=data_dir,
                sohn_only={
                    "--quadrants": quadrants or more_quadrants,
                    "--models": models,
                    "--binarize": binarize,
                },
            )
            return
        if train_examples is not None:
            raise ValueError("--train-examples does not apply to sohn2015")
        _reproduce_sohn2015(
            paper=paper,
            dataset=dataset or "fashion-mnist",
            quadrants=quadrants,
            more_quadrants=more_quadrants,
            models=models,
            budget=budget,
            out=out,
            resume=resume,
            seed=seed,
            binarize=binarize or "none",
            epochs=epochs,
            eval_examples=eval_examples,
            samples=samples,
            threads=threads,
            device=device,
            data_dir=data_dir,
        )


def _default_folder(name: str, seed: int) -> Path:
    """``runs/<name>``, with ``-seed<N>`` appended for any seed but the default 0."""
    return Path("runs") / (f"{name}-seed{seed}" if seed else name)


def _reproduce_sohn2015(
    *,
    paper: str,
    dataset: str,
    quadrants: list[int] | None,
    more_quadrants: list[int] | None,
    models: str | None,
    budget: str,
    out: Path | None,
    resume: bool,
    seed: int,
    binarize: str,
    epochs: int | None,
    eval_examples: int | None,
    samples: int | None,
    threads: int,
    device: str,
    data_dir: Path | None,
) -> None:
    from plausible.reproduce import Sohn2015Settings, reproduce_sohn2015
    from plausible.reproduce.sohn2015 import MODEL_KEYS, format_table

    chosen = [*(quadrants or []), *(more_quadrants or [])] or [1, 2, 3]
    if more_quadrants and not quadrants:
        raise ValueError(
            f"unexpected extra arguments {more_quadrants}; give settings as --quadrants 1 2 3"
        )
    settings = Sohn2015Settings(
        dataset=dataset,
        quadrants=tuple(chosen),
        models=tuple(m.strip() for m in models.split(",")) if models else MODEL_KEYS,
        budget=cast(Any, budget),  # checked by the settings, with the valid names
        binarize=cast(Any, binarize),
        seed=seed,
        num_threads=threads,
        device=device,
        data_dir=str(data_dir) if data_dir is not None else None,
        epochs=epochs,
        eval_examples=eval_examples,
        samples=samples,
    )
    folder = out or _default_folder(f"{paper}-{dataset}-{budget}", seed)
    results = reproduce_sohn2015(settings, folder, resume=resume)
    typer.echo(format_table(results))
    console.print(
        f"[bold green]done[/bold green] in {results['wall_time_s'] / 60:.1f} min: "
        f"{folder / 'table.md'}, {folder / 'results.json'}, figures in {folder / 'figures'}"
    )


def _reproduce_burda2016(
    *,
    budget: str,
    dataset: str,
    out: Path | None,
    resume: bool,
    seed: int,
    epochs: int | None,
    eval_examples: int | None,
    samples: int | None,
    train_examples: int | None,
    threads: int,
    device: str,
    data_dir: Path | None,
    sohn_only: dict[str, object],
) -> None:
    from plausible.reproduce.burda2016 import (
        Burda2016Settings,
        format_table,
        reproduce_burda2016,
    )

    given = [name for name, value in sohn_only.items() if value]
    if given:
        raise ValueError(f"{', '.join(given)} applies to sohn2015 only, not burda2016")
    settings = Burda2016Settings(
        budget=cast(Any, budget),  # checked by the settings, with the valid names
        dataset=dataset,
        seed=seed,
        num_threads=threads,
        device=device,
        data_dir=str(data_dir) if data_dir is not None else None,
        epochs=epochs,
        eval_examples=eval_examples,
        samples=samples,
        train_examples=train_examples,
    )
    folder = out or _default_folder(f"burda2016-{dataset}-{budget}", seed)
    results = reproduce_burda2016(settings, folder, resume=resume)
    typer.echo(format_table(results))
    console.print(
        f"[bold green]done[/bold green] in {results['wall_time_s'] / 60:.1f} min: "
        f"{folder / 'table.md'}, {folder / 'results.json'}"
    )


def _reproduce_mix_and_match(
    *,
    budget: str,
    dataset: str | None,
    out: Path | None,
    resume: bool,
    seed: int,
    epochs: int | None,
    train_examples: int | None,
    eval_examples: int | None,
    threads: int,
    device: str,
    unused: list[str],
) -> None:
    from plausible.reproduce.mix_and_match import (
        DATASETS,
        MixAndMatchSettings,
        format_table,
        reproduce_mix_and_match,
    )

    if unused:
        raise ValueError(f"{', '.join(unused)} does not apply to mix-and-match")
    settings = MixAndMatchSettings(
        datasets=(dataset,) if dataset else DATASETS,
        budget=cast(Any, budget),  # checked by the settings, with the valid names
        seed=seed,
        num_threads=threads,
        device=device,
        epochs=epochs,
        train_examples=train_examples,
        eval_examples=eval_examples,
    )
    folder = out or _default_folder(f"mix-and-match-{budget}", seed)
    results = reproduce_mix_and_match(settings, folder, resume=resume)
    typer.echo(format_table(results))
    console.print(
        f"[bold green]done[/bold green] in {results['wall_time_s'] / 60:.1f} min: "
        f"{folder / 'table.md'}, {folder / 'results.json'}"
    )


def _reproduce_dense(
    *,
    paper: str,
    budget: str,
    dataset: str | None,
    out: Path | None,
    resume: bool,
    seed: int,
    epochs: int | None,
    train_examples: int | None,
    eval_examples: int | None,
    threads: int,
    device: str,
    data_dir: Path | None,
    unused: list[str],
) -> None:
    from plausible.reproduce import sohn2015_segmentation, ucnet

    if unused:
        raise ValueError(f"{', '.join(unused)} does not apply to {paper}")
    common: dict[str, Any] = {
        "budget": cast(Any, budget),  # checked by the settings, with the valid names
        "seed": seed,
        "num_threads": threads,
        "device": device,
        "epochs": epochs,
        "train_examples": train_examples,
        "eval_examples": eval_examples,
        "data_dir": str(data_dir) if data_dir is not None else None,
    }
    folder = out or _default_folder(f"{paper}-{budget}", seed)
    if paper == "ucnet":
        settings = ucnet.UCNetSettings(datasets=(dataset,) if dataset else ucnet.DATASETS, **common)
        results = ucnet.reproduce_ucnet(settings, folder, resume=resume)
        table = ucnet.format_table(results)
    else:
        segmentation = sohn2015_segmentation.PartialObservationSettings(
            dataset=dataset or "fashion-mnist", **common
        )
        results = sohn2015_segmentation.reproduce_sohn2015_segmentation(
            segmentation, folder, resume=resume
        )
        table = sohn2015_segmentation.format_table(results)
    typer.echo(table)
    console.print(
        f"[bold green]done[/bold green] in {results['wall_time_s'] / 60:.1f} min: "
        f"{folder / 'table.md'}, {folder / 'results.json'}"
    )
