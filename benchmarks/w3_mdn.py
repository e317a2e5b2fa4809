"""W3 mdn-toys: mixture density networks against least squares on three inverse problems.

Protocol (benchmarks.md): Bishop's inverse problem (x = t + 0.3 sin(2 pi t) + U(-0.1, 0.1),
t ~ U(0, 1), learn p(t|x), 1,000 training points, K = 3), two-link robot arm inverse kinematics
(two branches) and synthetic 2-D to 3-D pose lifting. Each problem is trained exactly as its
shipped recipe (mdn-inverse-sine, mdn-robot-arm, mdn-pose-lifting); the least-squares network of
the same size is trained with the same budget in the same process, and its training time is the
reference for the MDN's (a ratio, since these machines are noisy). Reported: test NLL (exact,
nats per example), best-of-K error (K component means) and expected error (S = 100 samples),
branch coverage (every true solution within the recipe's tolerance of a component mean), the
share of approximate modes that are valid answers, training wall and CPU time. Pose lifting is
also run with Li & Lee's Dirichlet prior (concentration 2).
"""

from __future__ import annotations

import argparse
import copy
import logging
import statistics
import time
from typing import Any

import torch

import plausible.models.mdn
import plausible.objectives.mdn
import plausible.tasks.mdn_toys  # noqa: F401  (registers the tasks)
from benchmarks.common import machine, peak_rss_mb, write_result
from plausible.checkpoint import build_model
from plausible.config import load_recipe, validate_config
from plausible.registry import TASKS
from plausible.training import ConfiguredObjective, Trainer, TrainerConfig

PROBLEMS = {
    "inverse_sine": "mdn-inverse-sine",
    "robot_arm": "mdn-robot-arm",
    "pose_lifting": "mdn-pose-lifting",
}
KEYS = (
    "test_nll",
    "best_of_k_error",
    "best_of_samples_error",
    "expected_error",
    "mean_error",
    "mode_error",
    "energy_score",
)
FRACTIONS = ("branch_coverage", "branch_coverage_two_solutions", "mode_is_valid", "mean_is_valid")


def _pick(metrics: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: metrics[k]["mean"] for k in KEYS if k in metrics}
    out.update({k: metrics[k] for k in FRACTIONS if k in metrics})
    return out


def run_once(
    recipe: str, seed: int, *, overrides: dict[str, dict[str, Any]] | None = None, threads: int
) -> dict[str, Any]:
    """Train one recipe with ``seed`` (model, batches and baseline), evaluate, time both fits."""
    config = copy.deepcopy(load_recipe(recipe))
    for table, values in (overrides or {}).items():
        config.setdefault(table, {}).update(values)
    config["training"].update(
        seed=seed, progress=False, tensorboard="off", num_threads=threads, log_every=10**9
    )
    config["evaluation"].setdefault("baseline", {}).update(seed=seed, num_threads=threads)
    cfg = validate_config(config)
    task_kwargs = dict(cfg["task"])
    task = TASKS.get(task_kwargs.pop("name"))(**task_kwargs)
    data = task.load()
    model_kwargs = dict(cfg["model"])
    name = model_kwargs.pop("name")
    torch.manual_seed(seed)
    model = build_model(name, {**task.model_kwargs(data), **model_kwargs})
    objective_kwargs = dict(cfg["objective"])
    objective = ConfiguredObjective(objective_kwargs.pop("name"), objective_kwargs)
    trainer = Trainer(model, objective, TrainerConfig(**cfg["training"]))
    wall, cpu = time.perf_counter(), time.process_time()
    fit = trainer.fit(data.train, data.val)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    baseline_cpu = time.process_time()
    metrics = task.evaluate(model.eval(), data, settings=cfg["evaluation"])
    baseline_cpu = time.process_time() - baseline_cpu  # baseline fit + evaluation of both
    ls = metrics["least_squares"]
    return {
        "seed": seed,
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "epochs_run": fit["epochs"],
        "mdn": _pick(metrics),
        "least_squares": _pick(ls),
        "nll_gain_over_least_squares": metrics["nll_gain_over_least_squares"],
        "mixture": {
            k: metrics["mixture"][k]
            for k in ("mean_weight", "dead_components", "effective_components")
        },
        "error_unit": metrics["error_unit"],
        "tolerance": metrics["tolerance"],
        "facts": {
            k: metrics[k]
            for k in ("share_with_two_solutions", "mean_num_solutions")
            if k in metrics
        },
        "mdn_train_wall_s": wall,
        "mdn_train_cpu_s": cpu,
        "least_squares_train_wall_s": ls["training_time_s"],
        "evaluation_and_baseline_cpu_s": baseline_cpu,
        "train_time_ratio_mdn_over_least_squares": wall / ls["training_time_s"],
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
