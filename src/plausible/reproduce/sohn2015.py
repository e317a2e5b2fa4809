"""Sohn et al. (2015) quadrant imputation: train baseline, GSNN, CVAE and hybrid; write the table.

For each setting (1, 2 or 3 observed quadrants) four run folders are trained with
:func:`plausible.runs.train_run` and evaluated on the test set with the conditional likelihood
estimators; the results are gathered into the paper's table (markdown and JSON) with Monte Carlo
and importance-sampling columns and the performance-gap row, plus figures.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

import plausible.models.cvae
import plausible.objectives.cvae
import plausible.tasks.conditional  # noqa: F401  (registers the models, objectives and tasks used)
from plausible.io import atomic_write_json, atomic_write_text
from plausible.models.protocols import ConditionalDensityModel, ConditionalModel
from plausible.reproduce.common import Eta, software_versions, train_and_evaluate

__all__ = [
    "BUDGETS",
    "MODEL_KEYS",
    "Budget",
    "Sohn2015Settings",
    "format_table",
    "reproduce_sohn2015",
    "run_config",
    "training_steps_per_epoch",
]

log = logging.getLogger(__name__)

MODEL_KEYS = ("baseline", "gsnn", "cvae", "hybrid")
BudgetName = Literal["quick", "full"]


@dataclass(frozen=True)
class Budget:
    """How long to train and how carefully to evaluate.

    Attributes:
        epochs: Training epochs (upper limit when early stopping is on).
        batch_size: Examples per step.
        lr: Adam learning rate.
        early_stopping_patience: Epochs without a better validation loss before stopping (0: off).
        val_fraction: Share of the training split held out for validation (never the test set).
        max_train: Use only the first this many training images (0: all).
        eval_examples: Test images evaluated (0: all).
        mc_samples: S of the Monte Carlo estimator (prior proposal).
        is_samples: S of the importance-sampling estimator (recognition proposal).
        elbo_samples: L of the reported negative ELBO.
    """

    epochs: int
    batch_size: int = 128
    lr: float = 1e-3
    early_stopping_patience: int = 0
    val_fraction: float = 1 / 12
    max_train: int = 0
    eval_examples: int = 0
    mc_samples: int = 100
    is_samples: int = 100
    elbo_samples: int = 10


#: ``quick`` fits in 30 minutes on 2 CPU cores for Fashion-MNIST; ``full`` follows the paper's
#: protocol where it is known (see docs/conditional.md for every deviation).
BUDGETS: dict[str, Budget] = {
    "quick": Budget(epochs=10, eval_examples=2000, mc_samples=100, is_samples=100),
    "full": Budget(
        epochs=100, early_stopping_patience=10, val_fraction=1 / 6, mc_samples=1000, is_samples=1000
    ),
}


@dataclass
class Sohn2015Settings:
    """What to reproduce and how.

    Attributes:
        dataset: Square image data set: ``fashion-mnist``, ``mnist`` or ``digits``.
        quadrants: Observed-quadrant settings to run, each 1, 2 or 3.
        models: Which of :data:`MODEL_KEYS` to train (run in that order whatever the order given).
            The paper's table needs ``baseline``, ``gsnn`` and ``cvae``; ``hybrid`` is ours. The
            performance gap needs ``baseline`` and ``cvae``.
        budget: ``quick`` or ``full`` (see :data:`BUDGETS`).
        binarize: ``none`` (grey levels, as in the common public re-implementation) or
            ``threshold`` / ``dynamic``.
        latent_dim: z of GSNN, CVAE and hybrid.
        hidden_dims: Hidden widths of every network (and of the baseline).
        alpha: Weight of the CVAE bound in the hybrid objective.
        kl_warmup_epochs: The KL weight of the CVAE bound (also inside the hybrid) rises linearly
            from 0 to 1 over this many epochs, then stays at 1 (0: no warm-up). Validation,
            early stopping and every reported number use the true bound (weight 1).
        seed: Seed of weights, batches and evaluation samples.
        num_threads: CPU threads (0: PyTorch's default).
        device: ``auto``, ``cpu``, ``cuda`` ...
        data_dir: Folder holding the data set's files.
        epochs: Overrides the budget's epochs.
        eval_examples: Overrides the budget's number of test images (0: all).
        samples: Overrides S of both estimators.
    """

    dataset: str = "fashion-mnist"
    quadrants: Sequence[int] = (1, 2, 3)
    models: Sequence[str] = MODEL_KEYS
    budget: BudgetName = "quick"
    binarize: Literal["none", "threshold", "dynamic"] = "none"
    latent_dim: int = 200
    hidden_dims: Sequence[int] = (500, 500)
    alpha: float = 0.5
    kl_warmup_epochs: float = 4.0
    seed: int = 0
    num_threads: int = 0
    device: str = "auto"
    data_dir: str | None = None
    epochs: int | None = None
    eval_examples: int | None = None
    samples: int | None = None

    def __post_init__(self) -> None:
        if self.budget not in BUDGETS:
            raise ValueError(f"unknown budget {self.budget!r}; choose one of {', '.join(BUDGETS)}")
        bad = [q for q in self.quadrants if isinstance(q, bool) or q not in (1, 2, 3)]
        if bad or not self.quadrants:
            raise ValueError(
                f"quadrant settings must each be 1, 2 or 3 (observed quadrants), got "
                f"{list(self.quadrants)}"
            )
        if len(set(self.quadrants)) != len(self.quadrants):
            raise ValueError(f"quadrant settings repeat: {list(self.quadrants)}")
        unknown = [m for m in self.models if m not in MODEL_KEYS]
        if unknown or not self.models:
            raise ValueError(
                f"models must be some of {', '.join(MODEL_KEYS)}, got {list(self.models)}"
            )
        # One fixed order, so the run log, the table and a resumed run agree.
        self.models = tuple(m for m in MODEL_KEYS if m in self.models)
        if self.binarize not in ("none", "threshold", "dynamic"):
            raise ValueError(f"binarize must be none, threshold or dynamic, got {self.binarize!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.kl_warmup_epochs < 0:
            raise ValueError(f"kl_warmup_epochs must be >= 0, got {self.kl_warmup_epochs}")
        for name in ("epochs", "samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.eval_examples is not None and self.eval_examples < 0:
            raise ValueError(f"eval_examples must be >= 0 (0: all), got {self.eval_examples}")

    def resolved_budget(self) -> Budget:
        """The budget with this settings' overrides applied."""
        b = BUDGETS[self.budget]
        changes: dict[str, Any] = {}
        if self.epochs is not None:
            changes["epochs"] = self.epochs
        if self.eval_examples is not None:
            changes["eval_examples"] = self.eval_examples
        if self.samples is not None:
            changes["mc_samples"] = changes["is_samples"] = self.samples
        return dataclasses.replace(b, **changes)


def run_config(
    settings: Sohn2015Settings, quadrants: int, model: str, *, steps_per_epoch: int | None = None
) -> dict[str, Any]:
    """The recipe of one run: ``model`` in ``MODEL_KEYS`` on ``quadrants`` observed quadrants.

    ``steps_per_epoch`` turns ``settings.kl_warmup_epochs`` into a KL warm-up schedule of the
    CVAE and hybrid objectives (no warm-up when it is ``None``).
    """
    if model not in MODEL_KEYS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODEL_KEYS)}")
    b = settings.resolved_budget()
    hidden = [int(h) for h in settings.hidden_dims]
    task: dict[str, Any] = {
        "name": "quadrant",
        "dataset": settings.dataset,
        "quadrants": quadrants,
        "binarize": settings.binarize,
        "val_fraction": b.val_fraction,
        "max_train": b.max_train,
    }
    if settings.data_dir is not None:
        task["data_dir"] = str(settings.data_dir)
    latent: dict[str, Any] = {
        "name": "cvae",
        "latent_dim": settings.latent_dim,
        "hidden_dims": hidden,
    }
    models: dict[str, dict[str, Any]] = {
        "baseline": {"name": "conditional-baseline", "hidden_dims": hidden},
        "gsnn": {**latent, "recognition_net": False},
        "cvae": latent,
        "hybrid": latent,
    }
    beta: dict[str, Any] = {}
    if steps_per_epoch is not None and settings.kl_warmup_epochs > 0:
        steps = max(1, round(settings.kl_warmup_epochs * steps_per_epoch))
        beta = {"beta": {"schedule": "linear", "start": 0.0, "end": 1.0, "steps": steps}}
    objectives: dict[str, dict[str, Any]] = {
        "baseline": {"name": "conditional_nll"},
        "gsnn": {"name": "gsnn"},
        "cvae": {"name": "cvae", **beta},
        "hybrid": {"name": "hybrid", "alpha": settings.alpha, **beta},
    }
    # num_samples (S of both estimators) is what `plausible evaluate --num-samples` overrides.
    evaluation: dict[str, Any] = {
        "num_samples": b.is_samples,
        "elbo_samples": b.elbo_samples,
        "max_examples": b.eval_examples,
        "batch_size": 100,
        "seed": settings.seed,
        "per_example": True,
    }
    if b.mc_samples != b.is_samples:
        evaluation["mc_samples"] = b.mc_samples
    return {
        "description": f"Sohn et al. (2015) {model}, {quadrants} observed quadrant(s), "
        f"{settings.dataset}, {settings.budget} budget",
        "task": task,
        "model": dict(models[model]),
        "objective": dict(objectives[model]),
        "training": {
            "epochs": b.epochs,
            "batch_size": b.batch_size,
            "lr": b.lr,
            "early_stopping_patience": b.early_stopping_patience,
            "seed": settings.seed,
            "num_threads": settings.num_threads,
            "device": settings.device,
            "tensorboard": "off",
        },
        "evaluation": evaluation,
    }


def training_steps_per_epoch(settings: Sohn2015Settings, budget: Budget) -> int:
    """Training steps (batches) per epoch, from the size of the training split that will be used.

    Reads the training set's length, so the dataset must be on disk.
    """
    from plausible.data import load_dataset, train_val_split

    n = len(load_dataset(settings.dataset, "train", data_dir=settings.data_dir))
    if budget.max_train:
        n = min(n, budget.max_train)
    train_idx, _ = train_val_split(n, budget.val_fraction, seed=0)
    return math.ceil(len(train_idx) / budget.batch_size)


def _cell(estimate: dict[str, Any] | None) -> str:
    if not estimate:
        return "—"
    return f"{estimate['mean']:.2f} ± {estimate['stderr']:.2f}"


def _gap(base: dict[str, Any], model: dict[str, Any], key: str) -> dict[str, float] | None:
    """Baseline minus ``model[key]``, with the paired standard error over the same images."""
    a, b = base.get("nll"), model.get(key)
    if not a or not b:
        return None
    gap = {
        "mean": a["mean"] - b["mean"],
        # Treating the two means as independent overstates the error: both models find the
        # same images hard. Kept for reference.
        "stderr_unpaired": math.hypot(a["stderr"], b["stderr"]),
    }
    va, vb = base.get("per_example_nll"), model.get(f"per_example_{key}")
    if va is not None and vb is not None and len(va) == len(vb) > 1:
        diff = torch.tensor(va, dtype=torch.float64) - torch.tensor(vb, dtype=torch.float64)
        gap["stderr"] = float(diff.std() / math.sqrt(len(diff)))
        gap["num_examples"] = len(diff)
    else:
        gap["stderr"] = gap["stderr_unpaired"]
    return gap


#: Table rows: label, model key, metric key in the run's test summary.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("NN (baseline)", "baseline", "nll"),
    ("GSNN (Monte Carlo)", "gsnn", "nll_mc"),
    ("CVAE (Monte Carlo)", "cvae", "nll_mc"),
    ("CVAE (Importance Sampling)", "cvae", "nll_is"),
    ("hybrid (Monte Carlo)", "hybrid", "nll_mc"),
    ("hybrid (Importance Sampling)", "hybrid", "nll_is"),
    ("CVAE negative ELBO (upper bound)", "cvae", "negative_elbo"),
)


def table_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the paper-format table from ``results["settings"]``."""
    settings = results["settings"]
    keys = sorted(settings, key=int)
    header = ["negative CLL (nats per image)"] + [
        f"{k} quadrant{'s' if int(k) > 1 else ''}" for k in keys
    ]
    ran = results["protocol"].get("models", MODEL_KEYS)
    rows = []
    for label, model, metric in ROWS:
        if model not in ran:
            continue
        rows.append([label] + [_cell(settings[k]["test"].get(model, {}).get(metric)) for k in keys])
    gaps = [settings[k].get("performance_gap") for k in keys]
    rows.append(["Performance gap (baseline − CVAE IS)"] + [_cell(g) for g in gaps])
    rows.append(
        ["− per pixel"]
        + [
            f"{g['mean'] / settings[k]['target_values']:.3f}" if g else "—"
            for g, k in zip(gaps, keys, strict=True)
        ]
    )
    return header, rows


def format_table(results: dict[str, Any]) -> str:
    """The paper-format table as markdown, with the protocol and the time per epoch below it."""
    header, rows = table_rows(results)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    p = results["protocol"]
    b = p["budget"]
    first = next(iter(next(iter(results["settings"].values()))["test"].values()))
    count = first.get("num_examples", p["eval_examples"])
    images = f"first {count}" if p["eval_examples"] else f"all {count}"
    keys = sorted(results["settings"], key=int)
    lines += [
        "",
        f"Test set of {p['dataset']} ({'grey levels' if p['binarize'] == 'none' else p['binarize']}"
        f"), {images} images; mean ± standard error across images, in "
        "nats per image, summed over the unobserved pixels only. Monte Carlo: S = "
        f"{b['mc_samples']} samples from the prior network p(z|x). Importance sampling: S = "
        f"{b['is_samples']} samples from the recognition network q(z|x,y). Negative ELBO: L = "
        f"{b['elbo_samples']}, analytic KL; an upper bound, not an estimate of -log p(y|x). "
        "The gap's error is paired: the standard error of the per-image difference.",
        "",
        "| seconds per epoch (median) | " + " | ".join(f"{k} quadrant(s)" for k in keys) + " |",
        "|" + "---|" * (len(keys) + 1),
    ]
    for model in p.get("models", MODEL_KEYS):
        times = [
            results["settings"][k]["training"].get(model, {}).get("median_epoch_time_s")
            for k in keys
        ]
        lines.append(f"| {model} | " + " | ".join(f"{t:.1f}" if t else "—" for t in times) + " |")
    return "\n".join(lines) + "\n"


def _hypotheses_figure(
    run_dirs: dict[str, Path], path: Path, quadrants: int, budget: Budget
) -> Path:
    from plausible.runs import load_run
    from plausible.tasks.conditional import QuadrantImputation, show_inputs
    from plausible.viz.conditional import hypothesis_grid

    cvae = load_run(run_dirs["cvae"])
    baseline = load_run(run_dirs["baseline"])
    task = cvae.task
    if not (
        isinstance(task, QuadrantImputation)
        and isinstance(cvae.model, ConditionalModel)
        and isinstance(baseline.model, ConditionalDensityModel)
    ):
        raise TypeError("the Sohn et al. figure needs quadrant runs of a CVAE and a baseline")
    data = task.load()
    x, y = data.test["x"][:8], data.test["y"][:8]
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(0)
        samples = cvae.model.sample(x, 8, mean=True)
        base = baseline.model.predictive(x).mean
    complete = task.complete
    return hypothesis_grid(
        show_inputs(x),
        complete(data, x, y),
        complete(data, x, samples),
        path,
        predictions=complete(data, x, base),
        prediction_label="baseline",
        title=f"{quadrants} observed quadrant(s): input | truth | baseline NN | CVAE samples",
    )


def reproduce_sohn2015(
    settings: Sohn2015Settings, out_dir: str | Path, *, resume: bool = False
) -> dict[str, Any]:
    """Train and evaluate the four models for each quadrant setting; write table and figures.

    Writes ``out_dir/q{Q}/{model}/`` run folders, ``table.md``, ``results.json`` and
    ``figures/{likelihood_table,hypotheses_q{Q}}.png``.

    Args:
        settings: What to run.
        out_dir: Output folder.
        resume: Reuse finished runs and continue interrupted ones in ``out_dir``.

    Returns:
        The content of ``results.json``.
    """
    from plausible.viz.conditional import table_figure

    out = Path(out_dir)
    budget = settings.resolved_budget()
    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    tic = time.perf_counter()
    steps_per_epoch = training_steps_per_epoch(settings, budget)
    results: dict[str, Any] = {
        "experiment": "Sohn, Lee and Yan (2015), quadrant imputation (Table 1)",
        "protocol": {
            "dataset": settings.dataset,
            "binarize": settings.binarize,
            "quadrants": list(settings.quadrants),
            "models": list(settings.models),
            "budget_name": settings.budget,
            "budget": dataclasses.asdict(budget),
            "eval_examples": budget.eval_examples,
            "latent_dim": settings.latent_dim,
            "hidden_dims": list(settings.hidden_dims),
            "alpha": settings.alpha,
            "kl_warmup_epochs": settings.kl_warmup_epochs,
            "steps_per_epoch": steps_per_epoch,
            "seed": settings.seed,
            "optimizer": "adam",
            "split": "validation held out of the training split; test set only for the table",
        },
        "versions": software_versions(),
        "threads": torch.get_num_threads(),
        "settings": {},
    }
    figures: dict[str, str] = {}
    models = settings.models  # validated and put in MODEL_KEYS order by the settings
    total = len(settings.quadrants) * len(models)
    log.info(
        "%d models (%s for quadrants %s) into %s",
        total,
        ", ".join(models),
        ", ".join(map(str, settings.quadrants)),
        out.resolve(),
    )
    eta = Eta(total)
    for q in settings.quadrants:
        run_dirs = {m: out / f"q{q}" / m for m in models}
        test: dict[str, Any] = {}
        per_example: dict[str, Any] = {}
        training: dict[str, Any] = {}
        for model in models:
            t0 = time.perf_counter()
            log.info("model %d of %d: quadrants=%d, %s%s", eta.done + 1, total, q, model, eta)
            config = run_config(settings, q, model, steps_per_epoch=steps_per_epoch)
            summary, reused = train_and_evaluate(config, run_dirs[model], resume=resume)
            eta.add(time.perf_counter() - t0, reused=reused)
            # Per-image values are only needed for the paired gaps; results.json stays small.
            test[model] = summary.get("test", {})
            per_example[model] = {k: v for k, v in test[model].items() if k.startswith("per_")}
            training[model] = summary.get("training", {})
            log.info(
                "quadrants=%d: %s done in %.0f s: -log p(y|x) = %s",
                q,
                model,
                time.perf_counter() - t0,
                _cell(test[model].get("nll")),
            )
        target_values = int(next(iter(test.values())).get("target_values", 0)) or 1
        gaps = {
            name: _gap(
                {**test["baseline"], **per_example["baseline"]},
                {**test[model], **per_example[model]},
                "nll_is",
            )
            for name, model in (("performance_gap", "cvae"), ("hybrid_gap", "hybrid"))
            if "baseline" in test and model in test
        }
        for model in models:
            test[model] = {k: v for k, v in test[model].items() if not k.startswith("per_")}
        results["settings"][str(q)] = {
            "test": test,
            "training": training,
            "target_values": target_values,
            **gaps,
        }
        if "baseline" in run_dirs and "cvae" in run_dirs:
            fig = _hypotheses_figure(run_dirs, out / "figures" / f"hypotheses_q{q}.png", q, budget)
            figures[f"hypotheses_q{q}"] = str(fig.relative_to(out))
    results["wall_time_s"] = time.perf_counter() - tic
    header, rows = table_rows(results)
    table_path = table_figure(
        header,
        rows,
        out / "figures" / "likelihood_table.png",
        title=f"Negative conditional log-likelihood, {settings.dataset} ({settings.budget} budget)",
        footnote=f"MC: S={budget.mc_samples} from p(z|x); IS: S={budget.is_samples} from q(z|x,y); "
        "mean ± standard error over test images (gap: paired, per-image differences)",
    )
    figures["likelihood_table"] = str(table_path.relative_to(out))
    results["figures"] = figures
    atomic_write_text(out / "table.md", format_table(results))
    atomic_write_json(out / "results.json", results)
    log.info(
        "wrote %s and %s in %.0f s", out / "table.md", out / "results.json", results["wall_time_s"]
    )
    return results
