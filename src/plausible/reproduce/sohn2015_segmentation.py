"""Sohn et al. (2015), segmentation with partial observations: a U-Net against a dense CVAE.

Both models are trained once on item silhouettes over textured noise, with the authors' training
noise (one random square of each input omitted, side up to 40 % of the image). Each is then
scored on nine test sets: 25, 50 or 70 % of the input's non-overlapping 1x1, 2x2 or 4x4 blocks
omitted. The prediction of either model is the pixel-wise majority vote of K binarised samples
(:func:`~plausible.metrics.segmentation.vote_scores`, the ``segmentation`` suite metric's
code); a deterministic model's K samples are equal. The gap is CVAE minus baseline with the
paired standard error over the same test images. A diagnostic column decodes the CVAE at the
code of the true mask, z = E[z|x,y].
"""

from __future__ import annotations

import dataclasses
import logging
import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

import plausible.metrics
import plausible.models
import plausible.objectives
import plausible.tasks.dense  # noqa: F401  (registers the models, objectives, tasks, metrics)
from plausible.io import atomic_write_json, atomic_write_text
from plausible.metrics.segmentation import mask_scores, vote_scores
from plausible.metrics.suite import summary
from plausible.reproduce.common import Eta, override_budget, software_versions, train_and_evaluate
from plausible.runs import build_task, load_run
from plausible.tasks.dense import PartialSilhouettes

__all__ = [
    "BLOCKS",
    "BUDGETS",
    "FRACTIONS",
    "MODEL_KEYS",
    "PartialObservationBudget",
    "PartialObservationSettings",
    "format_table",
    "reproduce_sohn2015_segmentation",
    "run_config",
]

log = logging.getLogger(__name__)

FRACTIONS = (0.25, 0.5, 0.7)
BLOCKS = (1, 2, 4)
MODEL_KEYS = ("baseline", "cvae")
LABELS = {"baseline": "U-Net (baseline)", "cvae": "dense CVAE (hybrid)"}
#: Hidden 1x1 widths of the CVAE's latent combination (its default), given to the U-Net too.
COMBINE_HIDDEN = (32, 32)
#: The diagnostic column: the CVAE decoded at the code of the true mask, z = E[z|x,y].
ORACLE = "cvae_given_truth"
ORACLE_LABEL = "CVAE, z = E q(z|x,y) (sees the truth)"
#: Published: CUB, IoU (%) of the CNN baseline and the CVAE with 70 % of the input omitted in 1x1
#: blocks (Sohn et al. 2015, partial-observation table; not checked against the PDF here).
PUBLISHED = {"baseline": 62.11, "cvae": 89.44}
BudgetName = Literal["quick", "full"]


@dataclass(frozen=True)
class PartialObservationBudget:
    """Data size, training length and evaluation effort.

    Attributes:
        num_train: Training images.
        epochs: Training epochs.
        batch_size: Images per step.
        lr: Adam learning rate.
        eval_examples: Test images per cell.
        num_samples: K samples per image in the CVAE's vote.
        kl_warmup_steps: Steps of the linear KL warm-up of the CVAE.
    """

    num_train: int
    epochs: int
    batch_size: int = 32
    lr: float = 1e-3
    eval_examples: int = 500
    num_samples: int = 16
    kl_warmup_steps: int = 1000


#: ``quick`` aims at 20 minutes on 2 idle CPU cores.
BUDGETS: dict[str, PartialObservationBudget] = {
    "quick": PartialObservationBudget(num_train=3000, epochs=8),
    "full": PartialObservationBudget(num_train=20000, epochs=20, eval_examples=2000),
}


@dataclass
class PartialObservationSettings:
    """What to reproduce and how.

    Attributes:
        budget: ``quick`` or ``full``.
        dataset: Image set the items come from (``fashion-mnist``; ``digits`` for tests).
        latent_dim: z of the CVAE.
        channels: U-Net widths of both models.
        seed: Seed of data, weights, batches, omitted blocks and evaluation draws.
        num_threads: CPU threads (0: the automatic choice).
        device: ``auto``, ``cpu``, ``cuda`` ...
        epochs: Overrides the budget's epochs.
        train_examples: Overrides the budget's training images.
        eval_examples: Overrides the budget's test images per cell.
        data_dir: Folder holding the data set's files.
    """

    budget: BudgetName = "quick"
    dataset: str = "fashion-mnist"
    latent_dim: int = 6
    channels: tuple[int, ...] = (16, 32, 64)
    seed: int = 0
    num_threads: int = 0
    device: str = "auto"
    epochs: int | None = None
    train_examples: int | None = None
    eval_examples: int | None = None
    data_dir: str | None = None

    def __post_init__(self) -> None:
        if self.budget not in BUDGETS:
            raise ValueError(f"unknown budget {self.budget!r}; choose one of {', '.join(BUDGETS)}")
        self.resolved_budget()  # refuses overrides below 1

    def resolved_budget(self) -> PartialObservationBudget:
        """The budget with this settings' overrides applied."""
        return override_budget(
            BUDGETS[self.budget],
            epochs=self.epochs,
            num_train=self.train_examples,
            eval_examples=self.eval_examples,
        )


def run_config(settings: PartialObservationSettings, model: str) -> dict[str, Any]:
    """The recipe of one run: ``baseline`` or ``cvae``."""
    if model not in MODEL_KEYS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODEL_KEYS)}")
    b = settings.resolved_budget()
    backbone = {"channels": list(settings.channels), "feature_channels": 16}
    warmup = {"schedule": "linear", "start": 0.0, "end": 1.0, "steps": b.kl_warmup_steps}
    task: dict[str, Any] = {
        "name": "partial-silhouettes",
        "dataset": settings.dataset,
        "num_train": b.num_train,
        "num_val": min(300, b.num_train),
        "num_test": b.eval_examples,
        "test_fraction": 0.5,
        "test_block": 2,
        "seed": settings.seed,
    }
    if settings.data_dir is not None:
        task["data_dir"] = settings.data_dir
    models = {
        # The deterministic counterpart: the CVAE's networks without the latent, so its 1x1 head
        # has the widths of the CVAE's latent combination (Sohn et al. compare like with like).
        "baseline": (
            {"name": "dense-baseline", "head_hidden": list(COMBINE_HIDDEN), **backbone},
            {"name": "conditional-nll"},
        ),
        "cvae": (
            {
                "name": "dense-cvae",
                "latent_dim": settings.latent_dim,
                "combine_hidden": list(COMBINE_HIDDEN),
                **backbone,
            },
            {"name": "hybrid", "alpha": 0.5, "beta": warmup},
        ),
    }
    net, objective = models[model]
    return {
        "description": f"Sohn et al. (2015) partial observations: {LABELS[model]}, "
        f"{settings.budget} budget",
        "task": task,
        "model": net,
        "objective": objective,
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
            "metrics": ["segmentation"],
            "seed": settings.seed,
            "num_examples": b.eval_examples,
            "segmentation": {"num_samples": b.num_samples},
        },
    }


@torch.no_grad()
def _scores_given_truth(model: Any, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """IoU and pixel accuracy of p(y|x,z) > 0.5 at z = E[z|x,y], the true mask's own code.

    Not a prediction (it reads the truth): it shows what the latent can add once the mask is
    known. When it scores no better than the prior's samples, z carries next to nothing about
    the mask beyond what x says.
    """
    return mask_scores(model.generate(x, model.recognize(x, y).mean).mean > 0.5, y)


def _cells(
    models: dict[str, nn.Module], task: PartialSilhouettes, settings: PartialObservationSettings
) -> dict[str, Any]:
    """Score every model on the nine (fraction, block) test sets; gaps with paired errors."""
    b = settings.resolved_budget()
    test_scene = task.scenes()[2]
    cells: dict[str, Any] = {}
    for i, fraction in enumerate(FRACTIONS):
        for j, block in enumerate(BLOCKS):
            split = task.held_out(test_scene, fraction, block, settings.seed + 1000 + 10 * i + j)
            per_model = {
                key: vote_scores(model, split["x"], split["y"], b.num_samples, seed=settings.seed)
                for key, model in models.items()
            }
            cell: dict[str, Any] = {
                key: {name: summary(v) for name, v in scores.items()}
                for key, scores in per_model.items()
            }
            oracle = _scores_given_truth(models["cvae"], split["x"], split["y"])
            cell[ORACLE] = {name: summary(v) for name, v in oracle.items()}
            for name in ("iou", "pixel_accuracy"):
                diff = (per_model["cvae"][name] - per_model["baseline"][name]).double()
                cell.setdefault("gap", {})[name] = {
                    "mean": float(diff.mean()),
                    "stderr": float(diff.std() / math.sqrt(len(diff))),
                }
            cells[f"{fraction:g}/{block}"] = cell
    return cells


def reproduce_sohn2015_segmentation(
    settings: PartialObservationSettings, out_dir: str | Path, *, resume: bool = False
) -> dict[str, Any]:
    """Train the U-Net and the dense CVAE, score both on the nine test sets, write the table.

    Writes ``out_dir/<model>/`` run folders, ``table.md`` and ``results.json``.
    """
    out = Path(out_dir)
    budget = settings.resolved_budget()
    tic = time.perf_counter()
    eta = Eta(len(MODEL_KEYS))
    models: dict[str, nn.Module] = {}
    for key in MODEL_KEYS:
        t0 = time.perf_counter()
        log.info("model %d of %d: %s%s", eta.done + 1, eta.total, key, eta)
        train_and_evaluate(run_config(settings, key), out / key, resume=resume)
        eta.add(time.perf_counter() - t0, reused=False)
        models[key] = load_run(out / key).model.eval()
    task = build_task(run_config(settings, "cvae"))
    assert isinstance(task, PartialSilhouettes)
    log.info("scoring both models on %d test sets", len(FRACTIONS) * len(BLOCKS))
    results: dict[str, Any] = {
        "experiment": "Sohn et al. (2015), segmentation with partial observations",
        "protocol": {
            "budget_name": settings.budget,
            "budget": dataclasses.asdict(budget),
            "dataset": settings.dataset,
            "latent_dim": settings.latent_dim,
            "channels": list(settings.channels),
            "seed": settings.seed,
        },
        "versions": software_versions(),
        "machine": platform.machine(),
        "cells": _cells(models, task, settings),
    }
    results["wall_time_s"] = time.perf_counter() - tic
    atomic_write_text(out / "table.md", format_table(results))
    atomic_write_json(out / "results.json", results)
    log.info("wrote %s in %.0f s", out / "table.md", results["wall_time_s"])
    return results


def _pct(estimate: dict[str, float]) -> str:
    return f"{100 * estimate['mean']:.2f} ± {100 * estimate['stderr']:.2f}"


def format_table(results: dict[str, Any]) -> str:
    """The paper's layout: omission level by block size, IoU (%) of baseline, CVAE and the gap."""
    p, b = results["protocol"], results["protocol"]["budget"]
    lines = [
        f"# {results['experiment']}",
        "",
        f"Budget `{p['budget_name']}`: {b['num_train']} training images ({p['dataset']} items), "
        f"{b['epochs']} epochs, batch {b['batch_size']}; {b['eval_examples']} test images per "
        f"cell; the CVAE's prediction is the majority vote of K = {b['num_samples']} samples. "
        f"Wall time {results.get('wall_time_s', 0) / 60:.1f} min (torch "
        f"{results['versions']['torch']}, {results['machine']}).",
        "",
        f"Published (Sohn et al. 2015, CUB, 70 % omitted in 1x1 blocks; not checked against the "
        f"PDF): IoU "
        f"{PUBLISHED['baseline']:.2f} % (CNN) -> {PUBLISHED['cvae']:.2f} % (CVAE); the gap "
        "widens with the omission level. Ours: IoU in %, mean ± standard error over test images "
        "(gap: paired). The last column decodes the CVAE at the code of the true mask: not a "
        "prediction, it shows what the latent can add once the mask is known.",
    ]
    for metric, title in (("iou", "IoU (%)"), ("pixel_accuracy", "pixel accuracy (%)")):
        header = [
            "omitted",
            "block",
            LABELS["baseline"],
            LABELS["cvae"],
            "gap (CVAE − baseline)",
            ORACLE_LABEL,
        ]
        lines += ["", f"## {title}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "---|" * len(header))
        for cell_key, cell in results["cells"].items():
            fraction, block = cell_key.split("/")
            values = [_pct(cell[k][metric]) for k in ("baseline", "cvae", "gap", ORACLE)]
            lines.append(
                f"| {float(fraction):.0%} | {block}x{block} | " + " | ".join(values) + " |"
            )
    return "\n".join(lines) + "\n"
