"""Suite metrics of inverse problems whose true solution sets are known, scored where answers live.

An inverse problem's data carry an :class:`AnswerSpace` in ``data.info["answers"]``: how a
prediction becomes an answer (pose lifting scores 3-D poses, not the predicted depths), when an
answer is valid, how errors are measured and in which unit. The metrics below read it and
raise :class:`~plausible.metrics.suite.NotApplicableError` for data without one. The math is in
:mod:`plausible.metrics.hypotheses` (best-of-K, energy score, branch coverage) and
:mod:`plausible.metrics.mixture` (modes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.distributions import MixtureSameFamily

from plausible.data.task_data import TaskData
from plausible.distributions.mixture import approximate_mode, gaussian_mixture, mixture_parts
from plausible.metrics.hypotheses import (
    best_of_k_error,
    branch_coverage,
    energy_score,
    expected_error,
    prediction_error,
)
from plausible.metrics.likelihood import Estimate
from plausible.metrics.mixture import mixture_modes
from plausible.metrics.predictive_checks import density_model, held_out_pair, predict
from plausible.metrics.suite import NotApplicableError, options, suite_metric
from plausible.models.protocols import RankedHypotheses

__all__ = ["AnswerSpace", "answer_space", "solution_counts"]


def _identity(x: Tensor, prediction: Tensor) -> Tensor:
    return prediction


@dataclass(frozen=True)
class AnswerSpace:
    """Where the answers of an inverse problem live and how they are measured.

    Attributes:
        residual: ``(x (B, x_dim), prediction (..., B, D)) -> (..., B)``: how far a prediction
            is from answering its input under the forward model (0: it could have produced it).
        to_answer: ``(x, prediction (..., B, D)) -> answers (..., B, A)``, where the test split's
            ``truth`` and ``solutions`` live; the identity by default.
        tolerance: Default branch-coverage tolerance, in answer units before ``error_scale``.
        answer_tolerance: A prediction is a valid answer when its residual is at most this.
        joint_dim: ``None``: Euclidean error; ``3``: mean per-joint error (MPJPE).
        error_scale: Errors are multiplied by this for reporting, in ``error_unit``.
        error_unit: Unit of the reported errors.
        two_solution_coverage: Also report branch coverage over inputs with two solutions.
        max_mode_dim: Find the mixture's true modes for targets up to this dimension.
        min_mode_density_ratio: Modes less dense than this share of the densest are dropped.
    """

    residual: Callable[[Tensor, Tensor], Tensor]
    to_answer: Callable[[Tensor, Tensor], Tensor] = _identity
    tolerance: float = 0.1
    answer_tolerance: float = 0.02
    joint_dim: int | None = None
    error_scale: float = 1.0
    error_unit: str = "target units"
    two_solution_coverage: bool = False
    max_mode_dim: int = 2
    min_mode_density_ratio: float = 0.01


def answer_space(data: TaskData, metric: str) -> AnswerSpace:
    """The data's :class:`AnswerSpace`, or :class:`NotApplicableError` naming who has one."""
    space = data.info.get("answers")
    if not isinstance(space, AnswerSpace):
        raise NotApplicableError(
            f"{metric} scores inverse problems with known solution sets (the inverse-sine, "
            "forward-sine, robot-arm and pose-lifting tasks); this task's data carry no "
            "info['answers']"
        )
    return space


def _ranked(model: nn.Module, metric: str) -> RankedHypotheses:
    if not isinstance(model, RankedHypotheses):
        raise NotApplicableError(
            f"{metric} scores a model's few ranked answers; {type(model).__name__} offers no "
            "hypotheses(x) (RankedHypotheses)"
        )
    return model


def _solutions(data: TaskData, metric: str, device: torch.device) -> tuple[Tensor, Tensor]:
    if "solutions" not in data.test or "solutions_valid" not in data.test:
        raise NotApplicableError(f"{metric} needs the true solution sets of the test inputs")
    return data.test["solutions"].to(device), data.test["solutions_valid"].to(device)


def solution_counts(valid: Tensor) -> dict[str, Any]:
    """Facts about the test set: mean number of true solutions and the share of each count.

    Args:
        valid: ``(N, M)`` which solution slots of each test input are real.
    """
    count = valid.sum(-1)
    values, freq = torch.unique(count, return_counts=True)
    return {
        "mean_num_solutions": float(count.double().mean()),
        "share_by_num_solutions": {
            str(int(v)): float(f) / len(count) for v, f in zip(values, freq, strict=True)
        },
    }


def _estimate(values: Tensor, scale: float, *, num_samples: int, what: str) -> dict[str, Any]:
    return Estimate.from_values(
        values.double() * scale,
        num_samples=num_samples,
        proposal="p(y|x)" if num_samples > 1 else "none (exact)",
        estimator=what,
    ).to_dict()


@suite_metric(
    "answer-errors",
    "errors of the K hypotheses, S samples, mean and mode against the truth, in answer units",
    directions={
        k: "lower"
        for k in (
            "best_of_k_error",
            "best_of_samples_error",
            "expected_error",
            "mean_error",
            "mode_error",
            "energy_score",
        )
    },
    shared=("num_samples", "seed"),
)
def _answer_errors(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    """Best-of-K (the K ranked hypotheses, Li & Lee's "best hypothesis"), best-of-S and
    expected error of S samples, errors of the conditional mean and of Bishop's approximate
    mode, and the energy score of S samples (Gneiting & Raftery 2007, in target units)."""
    space = answer_space(data, "answer-errors")
    density = density_model(model, "answer-errors")
    ranked = _ranked(model, "answer-errors")
    opts = options(settings, "answer-errors", {"num_samples": 100, "seed": 0})
    num_samples = int(opts["num_samples"])
    x, y = held_out_pair(model, data, "answer-errors")
    device = x.device
    with (
        torch.no_grad(),
        torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
    ):
        torch.manual_seed(int(opts["seed"]))
        p_y = density.predictive(x)
        samples = p_y.sample((num_samples,))
        hypotheses, _ = ranked.hypotheses(x)
        mean = p_y.mean
        mode = approximate_mode(p_y) if isinstance(p_y, MixtureSameFamily) else mean
    truth = data.test.get("truth", data.test["y"]).to(device)
    jd, sc, to_answer = space.joint_dim, space.error_scale, space.to_answer
    hyp_a, samples_a = to_answer(x, hypotheses), to_answer(x, samples)
    s = num_samples
    return {
        "best_of_k_error": _estimate(
            best_of_k_error(hyp_a, truth, joint_dim=jd), sc, num_samples=1, what="nearest of K"
        ),
        "best_of_samples_error": _estimate(
            best_of_k_error(samples_a, truth, joint_dim=jd), sc, num_samples=s, what="nearest of S"
        ),
        "expected_error": _estimate(
            expected_error(samples_a, truth, joint_dim=jd), sc, num_samples=s, what="mean of S"
        ),
        "mean_error": _estimate(
            prediction_error(to_answer(x, mean), truth, joint_dim=jd),
            sc,
            num_samples=1,
            what="conditional mean",
        ),
        "mode_error": _estimate(
            prediction_error(to_answer(x, mode), truth, joint_dim=jd),
            sc,
            num_samples=1,
            what="approximate mode",
        ),
        "energy_score": _estimate(
            energy_score(samples, y), sc, num_samples=s, what="energy score (unbiased)"
        ),
        "num_hypotheses": int(hypotheses.shape[0]),
        "error_unit": space.error_unit,
        "settings": opts,
    }


@suite_metric(
    "branch-coverage",
    "share of test inputs whose every true solution has a hypothesis within the tolerance",
    directions={"branch_coverage": "higher", "branch_coverage_two_solutions": "higher"},
    shared=("tolerance",),
)
def _branch_coverage(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    space = answer_space(data, "branch-coverage")
    ranked = _ranked(model, "branch-coverage")
    opts = options(settings, "branch-coverage", {"tolerance": space.tolerance})
    x = data.test["x"].to(next(model.parameters()).device)
    solutions, valid = _solutions(data, "branch-coverage", x.device)
    with torch.no_grad():
        hypotheses, _ = ranked.hypotheses(x)
    coverage = branch_coverage(
        space.to_answer(x, hypotheses),
        solutions,
        valid,
        tolerance=float(opts["tolerance"]),
        joint_dim=space.joint_dim,
    )
    out: dict[str, Any] = {"branch_coverage": coverage.fraction()}
    if space.two_solution_coverage:
        out["branch_coverage_two_solutions"] = coverage.fraction(valid.sum(-1) == 2)
    # The tolerance and the solution counts are facts about the test, reported with the scores.
    out["tolerance"] = float(opts["tolerance"]) * space.error_scale
    out["error_unit"] = space.error_unit
    return {**out, **solution_counts(valid.cpu()), "settings": opts}


@suite_metric(
    "valid-answers",
    "share of test inputs whose approximate mode (or mean) is a valid answer",
    directions={"mode_is_valid": "higher", "mean_is_valid": "higher"},
    shared=(),
)
def _valid_answers(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    space = answer_space(data, "valid-answers")
    density = density_model(model, "valid-answers")
    x, _ = held_out_pair(model, data, "valid-answers")
    p_y = predict(density, x)
    mean = p_y.mean
    mode = approximate_mode(p_y) if isinstance(p_y, MixtureSameFamily) else mean
    out: dict[str, Any] = {}
    for name, point in (("mode", mode), ("mean", mean)):
        valid = space.residual(x, point) <= space.answer_tolerance
        out[f"{name}_is_valid"] = float(valid.double().mean())
    return {**out, "answer_tolerance": space.answer_tolerance}


@suite_metric(
    "mixture-modes",
    "the modes of each predicted mixture (fixed point) as answers: count, validity, coverage",
    directions={"valid_share": "higher", "branch_coverage": "higher"},
    shared=("tolerance",),
)
def _mixture_modes(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    """The modes at least ``min_density_ratio`` as dense as the densest, found in float64."""
    space = answer_space(data, "mixture-modes")
    density = density_model(model, "mixture-modes")
    defaults = {"tolerance": space.tolerance, "min_density_ratio": space.min_mode_density_ratio}
    opts = options(settings, "mixture-modes", defaults)
    x, y = held_out_pair(model, data, "mixture-modes")
    p_y = predict(density, x)
    if not isinstance(p_y, MixtureSameFamily):
        raise NotApplicableError(
            f"{type(model).__name__} predicts no mixture: its mode is its mean"
        )
    if y.shape[-1] > space.max_mode_dim:
        raise NotApplicableError(
            f"modes are searched for targets of at most {space.max_mode_dim} dimensions; these "
            f"have {y.shape[-1]}"
        )
    log_w, loc, scale = mixture_parts(p_y)
    with torch.no_grad():
        modes = mixture_modes(
            gaussian_mixture(log_w.double(), loc.double(), scale.double()),
            min_density_ratio=float(opts["min_density_ratio"]),
        )
    found = modes.loc.to(x.dtype).transpose(0, 1)  # (M, B, D), NaN where padded
    residual = space.residual(x, torch.nan_to_num(found))
    valid_answer = (residual <= space.answer_tolerance) & modes.valid.T
    out: dict[str, Any] = {
        "mean_count": float(modes.num_modes.double().mean()),
        "max_count": int(modes.num_modes.max()),
        "valid_share": float(valid_answer.sum() / modes.valid.sum().clamp(min=1)),
    }
    if "solutions" in data.test:
        solutions, valid = _solutions(data, "mixture-modes", x.device)
        coverage = branch_coverage(
            space.to_answer(x, found),
            solutions,
            valid,
            tolerance=float(opts["tolerance"]),
            joint_dim=space.joint_dim,
        )
        out["branch_coverage"] = coverage.fraction()
    return {**out, "settings": opts}
