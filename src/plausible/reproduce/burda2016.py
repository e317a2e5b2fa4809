"""Burda et al. (2016), Table 1 (one stochastic layer): VAE and IWAE with k = 1, 5, 50 on MNIST.

Each model is a run folder trained with :func:`plausible.runs.train_run` on dynamically binarised
MNIST; the reproduction then scores every model on the same test images with the importance
sampled NLL (:func:`plausible.metrics.likelihood.importance_sampled_nll`, one call per image so
that the per-image values give paired standard errors between models), counts active units
(:func:`plausible.metrics.latent.active_units`) and writes the table next to the paper's numbers.

The VAE column of the paper is trained on the k-sample ELBO, the average of the k log-weights
(:func:`plausible.objectives.iwae.multi_sample_elbo`); the IWAE column on the k-sample
importance-weighted bound. With k = 1 both are the same objective, so one model fills both
k = 1 cells, as in the paper.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

import plausible.models.vae
import plausible.tasks.images  # noqa: F401  (registers the model and task used)
from plausible.io import atomic_write_json, atomic_write_text
from plausible.reproduce.common import software_versions

__all__ = [
    "BUDGETS",
    "PAPER_NLL",
    "Budget",
    "Burda2016Settings",
    "format_table",
    "model_keys",
    "paired_difference",
    "reproduce_burda2016",
    "run_config",
]

log = logging.getLogger(__name__)

BudgetName = Literal["quick", "full"]

#: Test NLL in nats of Burda et al. (2016), Table 1, one stochastic layer, MNIST with dynamic
#: binarisation: (objective, k) -> NLL at 5,000 importance samples.
PAPER_NLL: dict[tuple[str, int], float] = {
    ("vae", 1): 86.76,
    ("vae", 5): 86.47,
    ("vae", 50): 86.35,
    ("iwae", 1): 86.76,
    ("iwae", 5): 85.54,
    ("iwae", 50): 84.78,
}


@dataclass(frozen=True)
class Budget:
    """How long to train and how carefully to evaluate.

    Attributes:
        epochs: Training epochs.
        batch_size: Images per step (the paper: 20).
        lr: Adam learning rate.
        lr_schedule: ``constant`` or ``cosine`` (to zero; stands in for the paper's decay).
        train_examples: Training images (0: all but the validation images, 59,600 on MNIST).
        val_examples: Validation images held out of the training split (the paper: 400).
        eval_examples: Test images scored (0: all 10,000).
        eval_samples: Importance samples K per test image (the paper: 5,000).
        active_unit_examples: Training images (binarised once) whose posterior means give the
            active-unit variances.
    """

    epochs: int
    batch_size: int = 20
    lr: float = 1e-3
    lr_schedule: Literal["constant", "cosine"] = "constant"
    train_examples: int = 0
    val_examples: int = 400
    eval_examples: int = 0
    eval_samples: int = 5000
    active_unit_examples: int = 5000


#: ``quick`` fits in about 20 minutes on one thread of a shared 2-core CPU; ``full`` keeps the
#: paper's data, batch size and evaluation but trains 100 epochs, not 3,280 (docs/reproductions.md).
BUDGETS: dict[str, Budget] = {
    "quick": Budget(
        epochs=8, batch_size=100, train_examples=10_000, eval_examples=1000, eval_samples=1000
    ),
    "full": Budget(epochs=100, batch_size=20, lr_schedule="cosine"),
}


@dataclass
class Burda2016Settings:
    """What to reproduce and how.

    Attributes:
        budget: ``quick`` or ``full`` (see :data:`BUDGETS`).
        ks: Sample counts k to train VAE and IWAE with.
        dataset: Image data set (``mnist``; ``fashion-mnist`` or ``digits`` for trials).
        latent_dim: z (the paper: 50).
        hidden_dims: Hidden widths of encoder and decoder, tanh (the paper: 200-200).
        seed: Seed of weights, batches and the importance samples.
        data_seed: Seed of the validation split and of the one-off binarisation of the
            validation and test images (the paper binarises its test set with seed 123).
        num_threads: CPU threads (0: PyTorch's default).
        device: ``auto``, ``cpu``, ``cuda`` ...
        data_dir: Folder holding the data set's files.
        epochs: Overrides the budget's epochs.
        eval_examples: Overrides the budget's number of test images (0: all).
        samples: Overrides the budget's K.
        train_examples: Overrides the budget's number of training images (0: all).
        val_examples: Overrides the budget's number of validation images.
    """

    budget: BudgetName = "quick"
    ks: Sequence[int] = (1, 5, 50)
    dataset: str = "mnist"
    latent_dim: int = 50
    hidden_dims: Sequence[int] = (200, 200)
    seed: int = 0
    data_seed: int = 123
    num_threads: int = 0
    device: str = "auto"
    data_dir: str | None = None
    epochs: int | None = None
    eval_examples: int | None = None
    samples: int | None = None
    train_examples: int | None = None
    val_examples: int | None = None

    def __post_init__(self) -> None:
        if self.budget not in BUDGETS:
            raise ValueError(f"unknown budget {self.budget!r}; choose one of {', '.join(BUDGETS)}")
        bad = [k for k in self.ks if isinstance(k, bool) or not isinstance(k, int) or k < 1]
        if bad or not self.ks or len(set(self.ks)) != len(self.ks):
            raise ValueError(f"ks must be distinct integers >= 1, got {list(self.ks)}")
        for name in ("epochs", "samples", "val_examples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        for name in ("eval_examples", "train_examples"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0 (0: all), got {value}")

    def resolved_budget(self) -> Budget:
        """The budget with this settings' overrides applied."""
        overrides = {
            "epochs": self.epochs,
            "eval_examples": self.eval_examples,
            "eval_samples": self.samples,
            "train_examples": self.train_examples,
            "val_examples": self.val_examples,
        }
        changes: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(BUDGETS[self.budget], **changes)


def model_keys(ks: Sequence[int]) -> list[tuple[str, str, int]]:
    """``(run name, objective, k)`` of every model; k = 1 is one model for both columns."""
    keys = []
    for k in sorted(ks):
        if k == 1:
            keys.append(("k1", "iwae", 1))
        else:
            keys += [(f"vae_k{k}", "vae", k), (f"iwae_k{k}", "iwae", k)]
    return keys


def _run_for(objective: str, k: int) -> str:
    return "k1" if k == 1 else f"{objective}_k{k}"


def run_config(
    settings: Burda2016Settings, objective: str, k: int, *, num_images: int
) -> dict[str, Any]:
    """The recipe of one run: ``objective`` (``vae`` or ``iwae``) with ``k`` samples.

    Args:
        settings: What to reproduce.
        objective: ``vae`` (k-sample ELBO) or ``iwae``.
        k: Samples per training image.
        num_images: Images in the data set's training split (sets the validation share).
    """
    if objective not in ("vae", "iwae"):
        raise ValueError(f"objective must be 'vae' or 'iwae', got {objective!r}")
    b = settings.resolved_budget()
    used = min(num_images, b.train_examples + b.val_examples) if b.train_examples else num_images
    if not 0 < b.val_examples < used:
        raise ValueError(
            f"{b.val_examples} validation images leave no training images out of {used}; "
            "lower val_examples or use more training images"
        )
    task: dict[str, Any] = {
        "name": "images",
        "dataset": settings.dataset,
        "binarize": "dynamic",
        "val_fraction": b.val_examples / used,
        "split_seed": settings.data_seed,
        "max_train": used if b.train_examples else 0,
    }
    if settings.data_dir is not None:
        task["data_dir"] = str(settings.data_dir)
    name = "iwae" if objective == "iwae" or k == 1 else "multi-sample-elbo"
    return {
        "description": f"Burda et al. (2016) {objective.upper()} k={k}, {settings.dataset}, "
        f"{settings.budget} budget",
        "task": task,
        "model": {
            "name": "vae",
            "latent_dim": settings.latent_dim,
            "hidden_dims": [int(h) for h in settings.hidden_dims],
            "activation": "tanh",
            "likelihood": "bernoulli",
        },
        "objective": {"name": name, "num_samples": k},
        "training": {
            "epochs": b.epochs,
            "batch_size": b.batch_size,
            "lr": b.lr,
            "lr_schedule": b.lr_schedule,
            "early_stopping_patience": 0,
            "seed": settings.seed,
            "num_threads": settings.num_threads,
            "device": settings.device,
            "tensorboard": "off",
        },
        "evaluation": {"num_samples": b.eval_samples, "num_examples": b.eval_examples},
    }


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Mean of ``a - b`` over the same examples and its paired standard error.

    The error is ``std(a_i - b_i) / sqrt(n)`` (sample std): both models find the same images
    hard, so it is far smaller than ``hypot(se_a, se_b)``, which is also returned.
    """
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"need two equally long lists of >= 2 values, got {len(a)} and {len(b)}")
    ta, tb = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    diff = ta - tb
    n = len(diff)
    return {
        "mean": float(diff.mean()),
        "stderr": float(diff.std() / math.sqrt(n)),
        "stderr_unpaired": math.hypot(float(ta.std()), float(tb.std())) / math.sqrt(n),
        "num_examples": n,
    }


def _evaluate(run_dir: Path, budget: Budget, seed: int) -> dict[str, Any]:
    """Per-image IS-NLL on the run's test images and active units; cached in the run folder."""
    from plausible.checkpoint import read_json
    from plausible.data import binarize
    from plausible.metrics.latent import active_units, posterior_means
    from plausible.metrics.likelihood import importance_sampled_nll
    from plausible.runs import load_run

    path = run_dir / "burda2016_eval.json"
    wanted = {"eval_samples": budget.eval_samples, "eval_examples": budget.eval_examples}
    if path.exists():
        cached = read_json(path)
        if cached.get("settings") == {**wanted, "seed": seed}:
            return cached
    run = load_run(run_dir, device="cuda" if torch.cuda.is_available() else "cpu")
    data = run.load_data()
    # The whole test set is binarised once, so the first N images are the same for any N.
    x = data.test["x"][: budget.eval_examples or None]
    tic = time.perf_counter()
    # One call per image keeps its value; each image has its own seeded stream, the same for
    # every model (common random numbers make the paired differences a little sharper still).
    values = [
        importance_sampled_nll(
            run.model, x[i : i + 1], num_samples=budget.eval_samples, seed=seed * 1_000_003 + i
        ).mean
        for i in range(len(x))
    ]
    pool = data.train["x"][: budget.active_unit_examples]
    fixed = torch.Generator().manual_seed(seed)
    means = posterior_means(run.model, binarize(pool, "dynamic", generator=fixed))
    count, variances = active_units(means)
    result = {
        "settings": {**wanted, "seed": seed},
        "per_example_nll": values,
        "nll": {
            "mean": float(torch.tensor(values, dtype=torch.float64).mean()),
            "stderr": float(torch.tensor(values, dtype=torch.float64).std() / math.sqrt(len(x)))
            if len(x) > 1
            else float("nan"),
            "num_examples": len(x),
            "num_samples": budget.eval_samples,
        },
        "active_units": count,
        "latent_dim": int(means.shape[1]),
        "active_unit_variances": [round(float(v), 6) for v in variances],
        "evaluation_time_s": time.perf_counter() - tic,
    }
    atomic_write_json(path, result)
    return result


def _train_one(config: dict[str, Any], run_dir: Path, *, resume: bool) -> dict[str, Any]:
    from plausible.checkpoint import read_json
    from plausible.run_folder import folder_state, resolve_run
    from plausible.runs import train_run

    if resume and (run_dir / "model.safetensors").exists():
        resolve_run(config, run_dir, resume=True)  # raises when the stored run differs
        log.info("reusing trained run %s", run_dir)
    else:
        # The run-folder rule decides the rest: a checkpoint resumes, anything else starts.
        resumable = folder_state(run_dir) == "checkpointed"
        train_run(config, run_dir, resume=resume and resumable, evaluate=False)
    summary = read_json(run_dir / "summary.json") if (run_dir / "summary.json").exists() else {}
    return dict(summary.get("training", {}))


def _cell(est: dict[str, Any] | None) -> str:
    return f"{est['mean']:.2f} ± {est['stderr']:.2f}" if est else "—"


#: The paper's claims, as (label, larger model, smaller model): the first should have the
#: higher NLL.
CLAIMS: tuple[tuple[str, tuple[str, int], tuple[str, int]], ...] = (
    ("VAE k=50 above IWAE k=50", ("vae", 50), ("iwae", 50)),
    ("VAE k=5 above IWAE k=5", ("vae", 5), ("iwae", 5)),
    ("k=1 above VAE k=50", ("vae", 1), ("vae", 50)),
    ("k=1 above IWAE k=50", ("iwae", 1), ("iwae", 50)),
    ("IWAE k=5 above IWAE k=50", ("iwae", 5), ("iwae", 50)),
)


def format_table(results: dict[str, Any]) -> str:
    """The paper's table (ours next to theirs), the claims with paired errors, and the protocol."""
    models = results["models"]
    ks = sorted({int(m["k"]) for m in models.values()})
    lines = [
        "| k | VAE (paper) | VAE (here) | IWAE (paper) | IWAE (here) | active units VAE / IWAE |",
        "|---|---|---|---|---|---|",
    ]
    for k in ks:
        vae, iwae = models[_run_for("vae", k)], models[_run_for("iwae", k)]
        lines.append(
            f"| {k} | {PAPER_NLL.get(('vae', k), float('nan')):.2f} | {_cell(vae['nll'])} | "
            f"{PAPER_NLL.get(('iwae', k), float('nan')):.2f} | {_cell(iwae['nll'])} | "
            f"{vae['active_units']} / {iwae['active_units']} of {vae['latent_dim']} |"
        )
    lines += [
        "",
        "| claim of the paper (NLL difference, nats) | paper | here (paired ± s.e.) | "
        "difference / s.e. | holds |",
        "|---|---|---|---|---|",
    ]
    for claim in results["claims"]:
        lines.append(
            f"| {claim['label']} | {claim['paper']:.2f} | {_cell(claim)} | "
            f"{claim['z']:.1f} | {'yes' if claim['holds'] else 'no'} |"
        )
    p = results["protocol"]
    b = p["budget"]
    n = next(iter(models.values()))["nll"]["num_examples"]
    lines += [
        "",
        f"Test NLL of {p['dataset']} in nats per image: importance sampling with K = "
        f"{b['eval_samples']} samples of q(z|x) (the paper: 5,000), mean ± standard error over "
        f"the first {n} test images{' (all)' if not b['eval_examples'] else ''}, binarised once "
        f"with seed {p['data_seed']}. Differences are paired over the same images; a claim holds "
        "when the difference is positive and larger than its standard error. Active units: "
        "Cov_x(E_q[u|x]) > 0.01 over "
        f"{b['active_unit_examples']} training images binarised once.",
        f"Budget `{p['budget_name']}`: {b['epochs']} epochs, batch {b['batch_size']}, Adam lr "
        f"{b['lr']} ({b['lr_schedule']}), {p['train_images']} training and {b['val_examples']} "
        f"validation images (the paper: 3,280 epochs, batch 20, decaying lr, 59,600 + 400). "
        f"Wall time {results['wall_time_s'] / 60:.1f} min, {results['machine']}.",
    ]
    return "\n".join(lines) + "\n"


def _claims(models: dict[str, dict[str, Any]], per_example: dict[str, list[float]]) -> list[Any]:
    out = []
    ks = {int(m["k"]) for m in models.values()}
    for label, high, low in CLAIMS:
        if high[1] not in ks or low[1] not in ks:
            continue
        a, b = _run_for(*high), _run_for(*low)
        diff = paired_difference(per_example[a], per_example[b])
        z = diff["mean"] / diff["stderr"] if diff["stderr"] > 0 else math.inf
        out.append(
            {
                "label": label,
                "paper": PAPER_NLL[high] - PAPER_NLL[low],
                **diff,
                "z": z,
                "holds": diff["mean"] > 0 and z > 1.0,
            }
        )
    return out


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    return f"{device}, {os.cpu_count()} cores ({cpu}), {torch.get_num_threads()} torch thread(s)"


def reproduce_burda2016(
    settings: Burda2016Settings, out_dir: str | Path, *, resume: bool = False
) -> dict[str, Any]:
    """Train and score every model, then write ``table.md`` and ``results.json`` in ``out_dir``.

    Run folders are ``out_dir/{k1,vae_k5,iwae_k5,...}``; each also keeps its per-image NLLs in
    ``burda2016_eval.json``.

    Args:
        settings: What to run.
        out_dir: Output folder.
        resume: Reuse trained runs and their evaluations, and continue interrupted ones.

    Returns:
        The content of ``results.json``.
    """
    from plausible.data import load_dataset

    out = Path(out_dir)
    budget = settings.resolved_budget()
    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    tic = time.perf_counter()
    num_images = len(load_dataset(settings.dataset, "train", data_dir=settings.data_dir))
    models: dict[str, dict[str, Any]] = {}
    per_example: dict[str, list[float]] = {}
    train_images = 0
    for run_name, objective, k in model_keys(settings.ks):
        t0 = time.perf_counter()
        config = run_config(settings, objective, k, num_images=num_images)
        log.info("training %s (%s, k=%d)", run_name, config["objective"]["name"], k)
        training = _train_one(config, out / run_name, resume=resume)
        train_images = int(training.get("train_examples", train_images))
        result = _evaluate(out / run_name, budget, settings.seed)
        per_example[run_name] = result.pop("per_example_nll")
        models[run_name] = {
            "objective": config["objective"]["name"],
            "k": k,
            **result,
            "training": training,
        }
        log.info(
            "%s done in %.0f s: NLL %s, %d active units",
            run_name,
            time.perf_counter() - t0,
            _cell(result["nll"]),
            result["active_units"],
        )
    results: dict[str, Any] = {
        "experiment": "Burda, Grosse and Salakhutdinov (2016), Table 1, one stochastic layer",
        "protocol": {
            "dataset": settings.dataset,
            "budget_name": settings.budget,
            "budget": dataclasses.asdict(budget),
            "ks": sorted(settings.ks),
            "latent_dim": settings.latent_dim,
            "hidden_dims": list(settings.hidden_dims),
            "activation": "tanh",
            "binarisation": "dynamic (training); validation and test drawn once",
            "data_seed": settings.data_seed,
            "seed": settings.seed,
            "train_images": train_images,
            "optimizer": "adam",
        },
        "paper": {f"{o}_k{k}": v for (o, k), v in PAPER_NLL.items()},
        "models": models,
        "claims": _claims(models, per_example),
        "versions": software_versions(),
        "machine": _machine(),
        "wall_time_s": time.perf_counter() - tic,
    }
    atomic_write_text(out / "table.md", format_table(results))
    atomic_write_json(out / "results.json", results)
    log.info("wrote %s in %.0f s", out / "table.md", results["wall_time_s"])
    return results
