"""W3 mdn-toys: mixture density networks against least squares on three inverse problems.

Protocol (benchmarks.md): Bishop's inverse problem (x = t + 0.3 sin(2 pi t) + U(-0.1, 0.1),
t ~ U(0, 1), learn p(t|x), 1,000 training points, K = 3), two-link robot arm inverse kinematics
(two branches) and synthetic 2-D to 3-D pose lifting. Each problem is trained exactly as its
shipped recipe (mdn-inverse-sine, mdn-robot-arm, mdn-pose-lifting); the least-squares network of
the same size (the recipe's companion run, ``task.baselines(config)["least_squares"]``) is trained
with the same budget and seed in the same process, and its training time is the reference for the
MDN's (a ratio, since these machines are noisy). Both are scored by the task's suite metrics, as
``plausible train`` does. Reported: test NLL (exact, nats per example), best-of-K error (K
component means) and expected error (S = 100 samples), branch coverage (every true solution within
the recipe's tolerance of a component mean), the share of approximate modes that are valid
answers, training wall and CPU time. Pose lifting is also run with Li & Lee's Dirichlet prior
(concentration 2).
"""

from __future__ import annotations

import argparse
import copy
import logging
import statistics
import time
from typing import Any

import torch
from torch import nn

import plausible.metrics  # registers the suite metrics
import plausible.models.mdn
import plausible.objectives.mdn
import plausible.tasks.inverse_problems  # noqa: F401  (registers the tasks)
from benchmarks.common import machine, peak_rss_mb, write_result
from plausible.checkpoint import build_model
from plausible.config import load_recipe, validate_config
from plausible.metrics.suite import run_metrics
from plausible.registry import TASKS
from plausible.reports.evaluation import summary_section
from plausible.runs import evaluation_settings
from plausible.tasks.base import Task, TaskData
from plausible.tasks.inverse_problems.base import LEAST_SQUARES
from plausible.training import ConfiguredObjective, Trainer, TrainerConfig

PROBLEMS = {
    "inverse_sine": "mdn-inverse-sine",
    "robot_arm": "mdn-robot-arm",
    "pose_lifting": "mdn-pose-lifting",
}
#: Reported name -> (suite metric, key) in summary.json's ``test`` section (``None``: the
#: ``nll`` metric, whose values sit at the top). Estimates are reported by their mean.
KEYS: dict[str, tuple[str | None, str]] = {
    "test_nll": (None, "nll"),
    **{
        k: ("answer-errors", k)
        for k in (
            "best_of_k_error",
            "best_of_samples_error",
            "expected_error",
            "mean_error",
            "mode_error",
            "energy_score",
        )
    },
    "branch_coverage": ("branch-coverage", "branch_coverage"),
    "branch_coverage_two_solutions": ("branch-coverage", "branch_coverage_two_solutions"),
    "mode_is_valid": ("valid-answers", "mode_is_valid"),
    "mean_is_valid": ("valid-answers", "mean_is_valid"),
}


def _pick(section: dict[str, Any]) -> dict[str, Any]:
    """The reported numbers of one model's ``test`` section; a skipped metric leaves its out."""
    out: dict[str, Any] = {}
    for name, (metric, key) in KEYS.items():
        value = (section if metric is None else section.get(metric, {})).get(key)
        if value is not None:
            out[name] = value["mean"] if isinstance(value, dict) else value
    return out


def _train(
    cfg: dict[str, Any], task: Task, data: TaskData
) -> tuple[nn.Module, dict[str, Any], float, float]:
    """Build and fit the model of the validated recipe ``cfg`` as ``plausible train`` does.

    Returns:
        The trained model (eval mode), the trainer's fit summary, and the fit's wall and process
        CPU time in seconds.
    """
    model_kwargs = dict(cfg["model"])
    name = model_kwargs.pop("name")
    torch.manual_seed(cfg["training"]["seed"])
    model = build_model(name, {**task.model_kwargs(data), **model_kwargs})
    objective_kwargs = dict(cfg["objective"])
    objective = ConfiguredObjective(objective_kwargs.pop("name"), objective_kwargs)
    trainer = Trainer(model, objective, TrainerConfig(**cfg["training"]))
    wall, cpu = time.perf_counter(), time.process_time()
    fit = trainer.fit(data.train, data.val)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return model.eval(), fit, wall, cpu


def _score(task: Task, cfg: dict[str, Any], model: nn.Module, data: TaskData) -> dict[str, Any]:
    """summary.json's ``test`` section of ``model``: the task's suite metrics on the test split."""
    settings = evaluation_settings(task, cfg, None)
    names = settings.pop("metrics", None) or task.metrics
    return summary_section(run_metrics(names, model, data, settings))


def run_once(
    recipe: str, seed: int, *, overrides: dict[str, dict[str, Any]] | None = None, threads: int
) -> dict[str, Any]:
    """Train one recipe and its least-squares companion with ``seed``, score both, time both."""
    config = copy.deepcopy(load_recipe(recipe))
    for table, values in (overrides or {}).items():
        config.setdefault(table, {}).update(values)
    quiet = {"progress": False, "tensorboard": "off", "num_threads": threads, "log_every": 10**9}
    config["training"].update(seed=seed, **quiet)
    # The companion's trainer settings; the same seed as the MDN's.
    config["evaluation"].setdefault("baseline", {}).update(seed=seed, **quiet)
    cfg = validate_config(config)
    task_kwargs = dict(cfg["task"])
    task = TASKS.get(task_kwargs.pop("name"))(**task_kwargs)
    data = task.load()
    model, fit, wall, cpu = _train(cfg, task, data)

    baseline_cpu = time.process_time()
    ls_cfg = validate_config(task.baselines(cfg)[LEAST_SQUARES])
    if ls_cfg["task"] != cfg["task"]:
        raise ValueError(f"the companion's task {ls_cfg['task']} is not the run's {cfg['task']}")
    ls_model, _, ls_wall, _ = _train(ls_cfg, task, data)
    mdn = _score(task, cfg, model, data)
    ls = _score(task, ls_cfg, ls_model, data)
    baseline_cpu = time.process_time() - baseline_cpu  # baseline fit + evaluation of both

    coverage = mdn.get("branch-coverage", {})
    counts = coverage.get("share_by_num_solutions", {})
    weights = mdn.get("mixture-weights", {})
    return {
        "seed": seed,
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "epochs_run": fit["epochs"],
        "mdn": _pick(mdn),
        "least_squares": _pick(ls),
        "nll_gain_over_least_squares": ls["nll"]["mean"] - mdn["nll"]["mean"],
        "mixture": {
            k: weights[k]
            for k in ("mean_weight", "dead_components", "effective_components")
            if k in weights
        },
        "error_unit": mdn["answer-errors"]["error_unit"],
        "tolerance": coverage.get("tolerance"),
        "facts": {
            "share_with_two_solutions": counts.get("2", 0.0),
            "mean_num_solutions": coverage.get("mean_num_solutions"),
        },
        "mdn_train_wall_s": wall,
        "mdn_train_cpu_s": cpu,
        "least_squares_train_wall_s": ls_wall,
        "evaluation_and_baseline_cpu_s": baseline_cpu,
        "train_time_ratio_mdn_over_least_squares": wall / ls_wall,
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over seeds of every number in ``mdn`` / ``least_squares``."""
    out: dict[str, Any] = {}
    for side in ("mdn", "least_squares"):
        out[side] = {}
        for key in runs[0][side]:
            values = [r[side][key] for r in runs]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            out[side][key] = {"mean": statistics.fmean(values), "sd": sd}
    for key in (
        "mdn_train_wall_s",
        "mdn_train_cpu_s",
        "least_squares_train_wall_s",
        "train_time_ratio_mdn_over_least_squares",
        "nll_gain_over_least_squares",
    ):
        out[key] = statistics.fmean(r[key] for r in runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one seed, no Dirichlet variant")
    parser.add_argument("--seeds", type=int, default=3, help="seeds for the sine and the arm")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    seeds = [0] if args.quick else list(range(args.seeds))
    variants: list[tuple[str, str, list[int], dict[str, dict[str, Any]] | None]] = [
        ("inverse_sine", PROBLEMS["inverse_sine"], seeds, None),
        ("robot_arm", PROBLEMS["robot_arm"], seeds, None),
        ("pose_lifting", PROBLEMS["pose_lifting"], [0], None),
    ]
    if not args.quick:
        variants.append(
            (
                "pose_lifting_dirichlet_2",
                PROBLEMS["pose_lifting"],
                [0],
                {"objective": {"dirichlet_concentration": 2.0}},
            )
        )
    problems: dict[str, Any] = {}
    for key, recipe, problem_seeds, overrides in variants:
        runs = []
        for seed in problem_seeds:
            run = run_once(recipe, seed, overrides=overrides, threads=args.threads)
            logging.info(
                "%s seed %d: NLL %.3f vs LS %.3f, best-of-K %.4g %s, coverage %.3f vs %.3f, "
                "train %.1fs (LS %.1fs)",
                key,
                seed,
                run["mdn"]["test_nll"],
                run["least_squares"]["test_nll"],
                run["mdn"]["best_of_k_error"],
                run["error_unit"],
                run["mdn"].get("branch_coverage", float("nan")),
                run["least_squares"].get("branch_coverage", float("nan")),
                run["mdn_train_wall_s"],
                run["least_squares_train_wall_s"],
            )
            runs.append(run)
        problems[key] = {
            "recipe": recipe,
            "overrides": overrides,
            "runs": runs,
            "summary": _summary(runs),
        }
    result = {
        "workload": "W3 mdn-toys" + (" (quick)" if args.quick else ""),
        "protocol": {
            "recipes": PROBLEMS,
            "seeds": {k: [r["seed"] for r in v["runs"]] for k, v in problems.items()},
            "threads": args.threads,
            "nll": "exact -log p(y|x), nats per test example",
            "best_of_k": "nearest of the K component means (least squares: its mean)",
            "expected_error": "mean over S = 100 samples",
            "branch_coverage": "share of test inputs whose every true solution has a component "
            "mean within the recipe's tolerance",
            "timing": "wall and process CPU time of the MDN fit; least squares of the same size "
            "trained with the same budget in the same process is the reference",
        },
        "machine": machine(),
        "peak_rss_mb": peak_rss_mb(),
        "problems": problems,
    }
    path = write_result("w3_mdn_quick" if args.quick else "w3_mdn", result)
    logging.info("-> %s", path)


if __name__ == "__main__":
    main()
