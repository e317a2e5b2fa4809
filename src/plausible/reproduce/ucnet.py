"""UC-Net (Zhang et al., 2020) and the Probabilistic U-Net (Kohl et al., 2018) against a U-Net.

For each generated data set (disks with four graders of known frequency; RGB-D-style saliency
with five pseudo-annotators) three run folders are trained with :func:`plausible.runs.train_run`:
the deterministic U-Net, the Probabilistic U-Net (latent tiled and combined by 1x1
convolutions, CVAE bound) and the UC-Net-style CVAE (feature expanding, hybrid objective, as
UC-Net's public code trains). Each is scored by the task's suite metrics; the exact-law sampler
(:class:`~plausible.data.annotators.AnnotationSampler`, which draws the graders' masks at their
frequencies) is scored by the same code and heads the table.

UC-Net reports S-measure, F-measure, E-measure and MAE on RGB-D benchmarks that cannot be
obtained here; the table states the paper's claim next to our numbers instead of its values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import plausible.metrics
import plausible.models
import plausible.objectives
import plausible.tasks.dense  # noqa: F401  (registers the models, objectives, tasks, metrics)
from plausible.data.annotators import AnnotationSampler
from plausible.metrics.suite import run_metrics
from plausible.reproduce.common import format_cell, override_budget, reproduce_table
from plausible.runs import build_task, evaluation_settings

__all__ = [
    "BUDGETS",
    "DATASETS",
    "MODEL_KEYS",
    "UCNetBudget",
    "UCNetSettings",
    "format_table",
    "ground_truth_row",
    "reproduce_ucnet",
    "run_config",
]

DATASETS = ("annotated-shapes", "rgbd-saliency")
MODEL_KEYS = ("unet", "prob-unet", "ucnet")
LABELS = {
    "truth": "exact-law sampler (the graders)",
    "unet": "U-Net (deterministic)",
    "prob-unet": "Probabilistic U-Net (CVAE)",
    "ucnet": "UC-Net-style CVAE (hybrid)",
}
METRICS = {
    "annotated-shapes": ("ambiguous-segmentation", "segmentation", "nll"),
    "rgbd-saliency": ("saliency", "ambiguous-segmentation", "nll"),
}
BudgetName = Literal["quick", "full"]


@dataclass(frozen=True)
class UCNetBudget:
    """Data size, training length and evaluation effort.

    Attributes:
        num_train: Training images per data set.
        epochs: Training epochs.
        batch_size: Images per step.
        lr: Adam learning rate.
        eval_examples: Test images scored.
        num_samples: K samples per image for GED and HM-IoU (C for the saliency consensus: 10).
        kl_warmup_steps: Steps of the linear KL warm-up of both CVAEs.
    """

    num_train: int
    epochs: int
    batch_size: int = 32
    lr: float = 1e-3
    eval_examples: int = 300
    num_samples: int = 16
    kl_warmup_steps: int = 1000


#: ``quick`` aims at 20 minutes on 2 idle CPU cores; ``full`` trains on twice the data for
#: three times the epochs and scores more test images.
BUDGETS: dict[str, UCNetBudget] = {
    "quick": UCNetBudget(num_train=2000, epochs=10),
    "full": UCNetBudget(num_train=4000, epochs=30, eval_examples=1000),
}


@dataclass
class UCNetSettings:
    """What to reproduce and how.

    Attributes:
        datasets: Tasks to run, from :data:`DATASETS`.
        budget: ``quick`` or ``full``.
        latent_dim: z of both CVAEs (the Probabilistic U-Net's 6).
        channels: U-Net widths of every model.
        seed: Seed of data, weights, batches and evaluation draws.
        num_threads: CPU threads (0: the automatic choice).
        device: ``auto``, ``cpu``, ``cuda`` ...
        epochs: Overrides the budget's epochs.
        train_examples: Overrides the budget's training images.
        eval_examples: Overrides the budget's test images.
        data_dir: Folder holding the Fashion-MNIST files (the saliency set's items).
        item_dataset: Image set the saliency items come from (``digits`` for tests).
    """

    datasets: Sequence[str] = DATASETS
    budget: BudgetName = "quick"
    latent_dim: int = 6
    channels: Sequence[int] = (16, 32, 64)
    seed: int = 0
    num_threads: int = 0
    device: str = "auto"
    epochs: int | None = None
    train_examples: int | None = None
    eval_examples: int | None = None
    data_dir: str | None = None
    item_dataset: str = "fashion-mnist"

    def __post_init__(self) -> None:
        if self.budget not in BUDGETS:
            raise ValueError(f"unknown budget {self.budget!r}; choose one of {', '.join(BUDGETS)}")
        unknown = [d for d in self.datasets if d not in DATASETS]
        if unknown or not self.datasets:
            raise ValueError(
                f"unknown data set(s) {unknown or '(none given)'}; "
                f"choose from {', '.join(DATASETS)}"
            )
        self.resolved_budget()  # refuses overrides below 1

    def resolved_budget(self) -> UCNetBudget:
        """The budget with this settings' overrides applied."""
        return override_budget(
            BUDGETS[self.budget],
            epochs=self.epochs,
            num_train=self.train_examples,
            eval_examples=self.eval_examples,
        )


def _task(settings: UCNetSettings, dataset: str) -> dict[str, Any]:
    b = settings.resolved_budget()
    task: dict[str, Any] = {
        "name": dataset,
        "num_train": b.num_train,
        "num_val": 200,
        "num_test": b.eval_examples,
        "seed": settings.seed,
    }
    if dataset == "rgbd-saliency":
        task["dataset"] = settings.item_dataset
        if settings.data_dir is not None:
            task["data_dir"] = settings.data_dir
    return task


def run_config(settings: UCNetSettings, dataset: str, model: str) -> dict[str, Any]:
    """The recipe of one run: ``model`` in :data:`MODEL_KEYS` on ``dataset``."""
    if model not in MODEL_KEYS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODEL_KEYS)}")
    b = settings.resolved_budget()
    backbone = {"channels": list(settings.channels), "feature_channels": 16}
    cvae = {"name": "dense-cvae", "latent_dim": settings.latent_dim, **backbone}
    models = {
        "unet": {"name": "dense-baseline", **backbone},
        "prob-unet": {**cvae, "style": "prob-unet"},
        "ucnet": {**cvae, "style": "ucnet"},
    }
    warmup = {"schedule": "linear", "start": 0.0, "end": 1.0, "steps": b.kl_warmup_steps}
    objectives = {
        "unet": {"name": "conditional-nll"},
        "prob-unet": {"name": "cvae", "beta": warmup},
        "ucnet": {"name": "hybrid", "alpha": 0.5, "beta": warmup},
    }
    return {
        "description": f"UC-Net reproduction: {LABELS[model]} on {dataset}, "
        f"{settings.budget} budget",
        "task": _task(settings, dataset),
        "model": models[model],
        "objective": objectives[model],
        "training": {
            "epochs": b.epochs,
            "batch_size": b.batch_size,
            "lr": b.lr,
            "early_stopping_patience": 0,
            "seed": settings.seed,
            "num_threads": settings.num_threads,
            "device": settings.device,
            "tensorboard": "off",
        },
        "evaluation": {
            "metrics": list(METRICS[dataset]),
            "seed": settings.seed,
            "num_examples": b.eval_examples,
            "num_samples": 100,  # importance samples of the NLL
            "ambiguous-segmentation": {"num_samples": b.num_samples},
        },
    }


def ground_truth_row(settings: UCNetSettings, dataset: str) -> dict[str, Any]:
    """The graders' own law, drawn at its frequencies, scored by the same suite metrics."""
    config = run_config(settings, dataset, "prob-unet")
    task = build_task(config)
    data = task.load()
    sampler = AnnotationSampler.from_split(data.test)
    table = evaluation_settings(task, config, None)
    names = [n for n in table.pop("metrics") if n != "nll"]
    return run_metrics(names, sampler, data, table)


def reproduce_ucnet(
    settings: UCNetSettings, out_dir: str | Path, *, resume: bool = False
) -> dict[str, Any]:
    """Train and score the three models on each data set; write the table.

    Writes ``out_dir/<dataset>/<model>/`` run folders, ``table.md`` and ``results.json``.
    """
    return reproduce_table(
        settings,
        experiment="UC-Net and the Probabilistic U-Net against a U-Net, graders' law known",
        protocol={
            "channels": list(settings.channels),
            "metrics": "see docs/dense.md for every convention",
        },
        models=MODEL_KEYS,
        truth_row=ground_truth_row,
        run_config=run_config,
        format_table=format_table,
        out_dir=out_dir,
        resume=resume,
    )


#: Table columns: header, metric, headline key, decimals.
COLUMNS: tuple[tuple[str, str, str, int], ...] = (
    ("GED", "ambiguous-segmentation", "ged", 3),
    ("HM-IoU", "ambiguous-segmentation", "hm_iou", 3),
    ("sample diversity", "ambiguous-segmentation", "sample_diversity", 3),
    ("S", "saliency", "s_measure", 3),
    ("max F", "saliency", "f_max", 3),
    ("max E", "saliency", "e_max", 3),
    ("MAE", "saliency", "mae", 4),
    ("IoU (vote)", "segmentation", "iou", 3),
    ("NLL (nats)", "nll", "", 1),
)


def format_table(results: dict[str, Any]) -> str:
    """The markdown table: per data set, the exact-law sampler first, then the three models."""
    p = results["protocol"]
    b = p["budget"]
    lines = [
        f"# {results['experiment']}",
        "",
        f"Budget `{p['budget_name']}`: {b['num_train']} training images, {b['epochs']} epochs, "
        f"batch {b['batch_size']}; K = {b['num_samples']} samples per test image for GED and "
        f"HM-IoU, C = 10 for the saliency consensus, {b['eval_examples']} test images; "
        f"z = {p['latent_dim']}, U-Net widths {p['channels']}. Wall time "
        f"{results.get('wall_time_s', 0) / 60:.1f} min (torch {results['versions']['torch']}, "
        f"{results['machine']}).",
        "",
        "Published: UC-Net (Zhang et al., CVPR 2020) beats deterministic RGB-D saliency networks "
        "on S-measure, F-measure, E-measure and MAE on six benchmarks, and the Probabilistic "
        "U-Net (Kohl et al., NeurIPS 2018) reaches a lower GED than a U-Net on LIDC. Those "
        "benchmarks cannot be obtained here; on these generated sets the first row, the graders' "
        "own law scored by the same code, is the reference. GED is D²_GED with d = 1 − IoU "
        "(lower is better); the saliency columns score the majority vote of C samples. Mean ± "
        "standard error over test images.",
    ]
    header = ["model", *(c[0] for c in COLUMNS)]
    for dataset, rows in results["datasets"].items():
        lines += ["", f"## {dataset}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "---|" * len(header))
        for key in ("truth", *MODEL_KEYS):
            if key not in rows:
                continue
            cells = [format_cell(rows[key], m, k, d) for _, m, k, d in COLUMNS]
            lines.append(f"| {LABELS[key]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
