"""Aliakbarian et al. (2020): concatenation against Mix-and-Match conditioning, law known.

For each generated data set (branching trajectories, the stick figure) three run folders are
trained with :func:`plausible.runs.train_run`: the deterministic sequence baseline, the sequence
CVAE conditioned by concatenation and the one conditioned by Mix-and-Match. Each is scored by the
task's suite metrics; the ground-truth sampler (exact draws of the law) is scored by the same
metric code and heads the table, so every number has its ideal next to it.

The paper reports Human3.6M and CMU numbers from code that was never released; on these data
sets there is no published number to print, so the table states the paper's claim instead
(concatenation collapses to one future; Mix-and-Match keeps diverse and realistic futures) and
the law's exact values stand in for the reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import plausible.metrics
import plausible.models
import plausible.objectives
import plausible.tasks.forecasting  # noqa: F401  (registers the models, objectives, tasks, metrics)
from plausible.data.sequences import LawSampler
from plausible.metrics.suite import run_metrics, summary
from plausible.reproduce.common import format_cell, override_budget, reproduce_table
from plausible.runs import build_task, evaluation_settings

__all__ = [
    "BUDGETS",
    "DATASETS",
    "MODEL_KEYS",
    "MixAndMatchBudget",
    "MixAndMatchSettings",
    "format_table",
    "ground_truth_row",
    "reproduce_mix_and_match",
    "run_config",
]

DATASETS = ("branching-trajectories", "stick-figure")
MODEL_KEYS = ("baseline", "concat", "mix-and-match")
LABELS = {
    "truth": "ground-truth sampler (the law)",
    "baseline": "deterministic GRU",
    "concat": "CVAE, concatenation",
    "mix-and-match": "CVAE, Mix-and-Match",
}
#: Metrics of the table; the diversity-quality curve runs for the two CVAEs only (it needs z).
METRICS = ("forecast", "sequence-quality", "forecast-collapse", "nll")
BudgetName = Literal["quick", "full"]


@dataclass(frozen=True)
class MixAndMatchBudget:
    """Data size, training length and evaluation effort.

    Attributes:
        num_train: Training sequences per data set.
        epochs: Training epochs.
        batch_size: Sequences per step.
        lr: Adam learning rate.
        eval_examples: Test histories scored.
        num_samples: K futures per history.
        kl_warmup_steps: Steps of the linear KL warm-up of both CVAEs.
        diversity_quality: Also sweep the sampling temperature of the CVAEs (the
            diversity-quality curve; a classifier is trained per temperature).
    """

    num_train: int
    epochs: int
    batch_size: int = 64
    lr: float = 1e-3
    eval_examples: int = 300
    num_samples: int = 50
    kl_warmup_steps: int = 1000
    diversity_quality: bool = False


#: ``quick`` aims at 20 minutes on 2 idle CPU cores; ``full`` trains on four times the data for
#: three times the epochs and adds the diversity-quality curves.
BUDGETS: dict[str, MixAndMatchBudget] = {
    "quick": MixAndMatchBudget(num_train=4000, epochs=20),
    "full": MixAndMatchBudget(
        num_train=16000, epochs=60, eval_examples=1000, diversity_quality=True
    ),
}


@dataclass
class MixAndMatchSettings:
    """What to reproduce and how.

    Attributes:
        datasets: Tasks to run, from :data:`DATASETS`.
        budget: ``quick`` or ``full``.
        latent_dim: z of both CVAEs.
        hidden_size: GRU width of every model (and the Mix-and-Match mixing width).
        rate: Mix-and-Match sampling rate (share of hidden units that carry the condition).
        seed: Seed of data, weights, batches and evaluation draws.
        num_threads: CPU threads (0: the automatic choice).
        device: ``auto``, ``cpu``, ``cuda`` ...
        epochs: Overrides the budget's epochs.
        train_examples: Overrides the budget's training sequences per data set.
        eval_examples: Overrides the budget's test histories.
    """

    datasets: Sequence[str] = DATASETS
    budget: BudgetName = "quick"
    latent_dim: int = 16
    hidden_size: int = 64
    rate: float = 0.5
    seed: int = 0
    num_threads: int = 0
    device: str = "auto"
    epochs: int | None = None
    train_examples: int | None = None
    eval_examples: int | None = None

    def __post_init__(self) -> None:
        if self.budget not in BUDGETS:
            raise ValueError(f"unknown budget {self.budget!r}; choose one of {', '.join(BUDGETS)}")
        unknown = [d for d in self.datasets if d not in DATASETS]
        if unknown or not self.datasets:
            raise ValueError(
                f"unknown data set(s) {unknown or '(none given)'}; "
                f"choose from {', '.join(DATASETS)}"
            )
        if not 0.0 < self.rate < 1.0:
            raise ValueError(f"rate must be in (0, 1), got {self.rate}")
        self.resolved_budget()  # refuses overrides below 1

    def resolved_budget(self) -> MixAndMatchBudget:
        """The budget with this settings' overrides applied."""
        return override_budget(
            BUDGETS[self.budget],
            epochs=self.epochs,
            num_train=self.train_examples,
            eval_examples=self.eval_examples,
        )


def _task(settings: MixAndMatchSettings, dataset: str) -> dict[str, Any]:
    b = settings.resolved_budget()
    return {
        "name": dataset,
        "num_train": b.num_train,
        "num_val": 500,
        "num_test": b.eval_examples,
        "seed": settings.seed,
    }


def run_config(settings: MixAndMatchSettings, dataset: str, model: str) -> dict[str, Any]:
    """The recipe of one run: ``model`` in :data:`MODEL_KEYS` on ``dataset``."""
    if model not in MODEL_KEYS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODEL_KEYS)}")
    b = settings.resolved_budget()
    # The data's noise is 0.02: start the observation scale near it, not at 1. The decoder
    # works in units of a typical step (decoder_steps) and reads the true previous frame in
    # training (teacher forcing): without both, the free-running paths drift off their modes by
    # a fraction of a step per frame and few draws land within the law's tolerance
    # (docs/forecasting.md, section 6).
    backbone = {
        "hidden_size": settings.hidden_size,
        "likelihood_init_scale": 0.05,
        "decoder_steps": True,
        "teacher_forcing": 1.0,
    }
    cvae = {"name": "sequence-cvae", "latent_dim": settings.latent_dim, **backbone}
    models = {
        "baseline": {"name": "sequence-baseline", **backbone},
        "concat": {**cvae, "conditioning": "concat"},
        "mix-and-match": {**cvae, "conditioning": "mix-and-match", "rate": settings.rate},
    }
    warmup = {"schedule": "linear", "start": 0.0, "end": 1.0, "steps": b.kl_warmup_steps}
    objective = (
        {"name": "conditional-nll"} if model == "baseline" else {"name": "cvae", "beta": warmup}
    )
    sweep = b.diversity_quality and model != "baseline"
    metrics = [*METRICS, "forecast-diversity-quality"] if sweep else list(METRICS)
    return {
        "description": f"Mix-and-Match reproduction: {LABELS[model]} on {dataset}, "
        f"{settings.budget} budget",
        "task": _task(settings, dataset),
        "model": models[model],
        "objective": objective,
        "training": {
            "epochs": b.epochs,
            "batch_size": b.batch_size,
            "lr": b.lr,
            "lr_schedule": "cosine",
            "early_stopping_patience": 0,
            # Validation runs free, training teacher-forced: the validation loss scores the
            # free-running paths with a scale fitted to one-step errors, so its best epoch is
            # often the first. The final weights are the model.
            "restore_best": False,
            "seed": settings.seed,
            "num_threads": settings.num_threads,
            "device": settings.device,
            "tensorboard": "off",
        },
        "evaluation": {
            "metrics": metrics,
            "seed": settings.seed,
            "num_examples": b.eval_examples,
            "num_samples": 200,  # importance samples of the NLL
            "forecast": {"num_samples": b.num_samples},
        },
    }


def ground_truth_row(settings: MixAndMatchSettings, dataset: str) -> dict[str, Any]:
    """The law's own sampler scored by the same suite metrics, plus its exact test NLL."""
    config = run_config(settings, dataset, "mix-and-match")
    task = build_task(config)
    data = task.load()
    law = data.info["law"]
    x, y = data.test["x"], data.test["y"]
    sampler = LawSampler(law, tuple(x.shape[1:]), tuple(y.shape[1:]))
    settings_table = evaluation_settings(task, config, None)
    names = [n for n in settings_table.pop("metrics") if n in ("forecast", "sequence-quality")]
    results = run_metrics(names, sampler, data, settings_table)
    nll = -law.log_prob(x, y)
    results["nll"] = {**summary(nll), "estimator": "exact -log p(y|x) of the law"}
    return results


def reproduce_mix_and_match(
    settings: MixAndMatchSettings, out_dir: str | Path, *, resume: bool = False
) -> dict[str, Any]:
    """Train and score the three models on each data set; write the table and figures.

    Writes ``out_dir/<dataset>/<model>/`` run folders, ``table.md`` and ``results.json``.
    """
    return reproduce_table(
        settings,
        experiment="Aliakbarian et al. (2020), concatenation vs Mix-and-Match conditioning",
        protocol={
            "hidden_size": settings.hidden_size,
            "rate": settings.rate,
            "metrics": "DLow's eval.py conventions (see docs/forecasting.md)",
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
    ("APD", "forecast", "apd", 3),
    ("APD / APD_true", "forecast", "apd_ratio", 2),
    ("ADE", "forecast", "ade", 3),
    ("FDE", "forecast", "fde", 3),
    ("MMADE", "forecast", "mmade", 3),
    ("MMFDE", "forecast", "mmfde", 3),
    ("coverage", "forecast", "coverage", 3),
    ("quality acc.", "sequence-quality", "accuracy", 3),
    ("NLL (nats)", "nll", "", 1),
    ("KL (nats)", "forecast-collapse", "kl", 2),
)


def format_table(results: dict[str, Any]) -> str:
    """The markdown table: per data set, the ground-truth sampler first, then the three models."""
    p = results["protocol"]
    b = p["budget"]
    lines = [
        f"# {results['experiment']}",
        "",
        f"Budget `{p['budget_name']}`: {b['num_train']} training sequences, {b['epochs']} epochs, "
        f"batch {b['batch_size']}, Adam {b['lr']:g} on a cosine schedule, KL weight warmed up over "
        f"{b['kl_warmup_steps']} steps, teacher forcing in training; K = {b['num_samples']} "
        f"futures for each of {b['eval_examples']} test histories; z = {p['latent_dim']}, "
        f"GRU width {p['hidden_size']}, Mix-and-Match rate {p['rate']}. "
        f"Wall time {results.get('wall_time_s', 0) / 60:.1f} min "
        f"(torch {results['versions']['torch']}, {results['machine']}).",
        "",
        "Published (Aliakbarian et al., CVPR 2020, on Human3.6M and CMU; no code released): "
        "conditioning by concatenation lets the decoder ignore z, one future however many are "
        "drawn; Mix-and-Match keeps z in use and gives diverse, realistic futures. These data "
        "sets have no published numbers: the first row, the law's own sampler scored by the same "
        "code, is the reference. Quality accuracy: 0.5 is ideal. Mean ± standard error over test "
        "histories.",
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
