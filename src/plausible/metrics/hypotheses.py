"""Scores for many predictions per input: best-of-K and expected error, coverage, energy score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from plausible.data.task_data import TaskData
from plausible.metrics.diversity import crps_ensemble, paired_samples
from plausible.metrics.suite import NotApplicableError, conditional, options, suite_metric, summary

__all__ = [
    "BranchCoverage",
    "best_of_k_error",
    "best_of_k_metric",
    "branch_coverage",
    "crps_metric",
    "energy_score",
    "expected_error",
    "prediction_error",
]


def _check(hypotheses: Tensor, target: Tensor, who: str) -> None:
    if hypotheses.dim() != 3 or target.dim() != 2 or hypotheses.shape[1:] != target.shape:
        raise ValueError(
            f"{who} expects hypotheses (S, B, D) and targets (B, D); got "
            f"{tuple(hypotheses.shape)} and {tuple(target.shape)} (put the hypothesis axis first)"
        )


def prediction_error(prediction: Tensor, target: Tensor, *, joint_dim: int | None = None) -> Tensor:
    """Distance between predictions and targets along the last axis.

    Args:
        prediction: ``(..., D)``.
        target: ``(..., D)``, broadcastable against ``prediction``.
        joint_dim: ``None`` for the Euclidean norm over ``D``; ``3`` reads ``D`` as ``J`` joints of
            3 coordinates and returns the mean per-joint Euclidean distance (MPJPE).

    Returns:
        ``(...)`` distances, in target units.
    """
    diff = prediction - target
    if joint_dim is None:
        return diff.norm(dim=-1)
    if diff.shape[-1] % joint_dim:
        raise ValueError(
            f"joint_dim={joint_dim} does not divide the target dimension {diff.shape[-1]}"
        )
    return diff.unflatten(-1, (-1, joint_dim)).norm(dim=-1).mean(-1)


def best_of_k_error(hypotheses: Tensor, target: Tensor, *, joint_dim: int | None = None) -> Tensor:
    """Error of the hypothesis closest to the target (oracle selection): ``(B,)``.

    This is how multi-hypothesis methods are usually scored (Li & Lee 2019 report it as the
    "best hypothesis" MPJPE); it rewards covering the answer, not ranking it.

    Args:
        hypotheses: ``(S, B, D)`` hypotheses or samples, hypothesis axis first.
        target: ``(B, D)``.
        joint_dim: See :func:`prediction_error`.
    """
    _check(hypotheses, target, "best_of_k_error")
    return prediction_error(hypotheses, target, joint_dim=joint_dim).amin(0)


def expected_error(samples: Tensor, target: Tensor, *, joint_dim: int | None = None) -> Tensor:
    """Mean error of the samples, a Monte-Carlo estimate of ``E_{y' ~ p(y|x)} d(y', y)``, (B,)."""
    _check(samples, target, "expected_error")
    return prediction_error(samples, target, joint_dim=joint_dim).mean(0)


def energy_score(samples: Tensor, target: Tensor, *, chunk_size: int = 256) -> Tensor:
    """Energy score ``E||Y - y|| - 1/2 E||Y - Y'||`` (Gneiting & Raftery 2007), lower is better.

    A strictly proper scoring rule for multivariate predictions, estimated without bias from
    ``S >= 2`` samples: ``mean_i ||y_i - y|| - sum_{i != j} ||y_i - y_j|| / (2 S (S - 1))``.

    Args:
        samples: ``(S, B, D)`` draws from the predictive distribution.
        target: ``(B, D)``.
        chunk_size: Inputs per chunk of the ``(B, S, S)`` distance computation.

    Returns:
        ``(B,)`` in target units.

    References:
        Gneiting, T. and Raftery, A. E. "Strictly Proper Scoring Rules, Prediction, and
        Estimation." JASA 102(477), 2007.
    """
    _check(samples, target, "energy_score")
    s = samples.shape[0]
    if s < 2:
        raise ValueError(f"the energy score needs at least 2 samples per input, got {s}")
    to_target = (samples - target).norm(dim=-1).mean(0)
    spread = []
    by_input = samples.transpose(0, 1)  # (B, S, D)
    for start in range(0, by_input.shape[0], chunk_size):
        block = by_input[start : start + chunk_size]
        spread.append(torch.cdist(block, block).sum((-1, -2)) / (2 * s * (s - 1)))
    return to_target - torch.cat(spread)


@dataclass
class BranchCoverage:
    """Whether every true solution of an input has a hypothesis within the tolerance.

    Attributes:
        covered: ``(B,)`` every valid solution is within ``tolerance`` of some hypothesis.
        distance: ``(B, M)`` distance from each true solution to its nearest hypothesis (NaN for
            padding).
        num_solutions: ``(B,)`` number of true solutions.
        tolerance: The tolerance used, in target units.
    """

    covered: Tensor
    distance: Tensor
    num_solutions: Tensor
    tolerance: float

    def fraction(self, mask: Tensor | None = None) -> float:
        """Share of inputs (with at least one solution, and within ``mask``) that are covered."""
        keep = self.num_solutions > 0
        if mask is not None:
            keep &= mask
        if not bool(keep.any()):
            return float("nan")
        return float(self.covered[keep].double().mean())


def branch_coverage(
    hypotheses: Tensor,
    solutions: Tensor,
    valid: Tensor,
    *,
    tolerance: float,
    joint_dim: int | None = None,
) -> BranchCoverage:
    """Branch coverage: does some hypothesis lie within ``tolerance`` of every true solution?

    Args:
        hypotheses: ``(S, B, D)`` hypotheses (component means, modes or samples).
        solutions: ``(B, M, D)`` true solution sets, padded.
        valid: ``(B, M)`` which slots of ``solutions`` are real.
        tolerance: Distance in target units (see :func:`prediction_error` for ``joint_dim``).
        joint_dim: See :func:`prediction_error`.

    Returns:
        :class:`BranchCoverage`.
    """
    if (
        solutions.dim() != 3
        or solutions.shape[0] != hypotheses.shape[1]
        or valid.shape != solutions.shape[:2]
    ):
        raise ValueError(
            f"expected hypotheses (S, B, D), solutions (B, M, D) and valid (B, M); got "
            f"{tuple(hypotheses.shape)}, {tuple(solutions.shape)} and {tuple(valid.shape)}"
        )
    # (S, B, M): error between hypothesis s and solution m of input b.
    dist = prediction_error(hypotheses.unsqueeze(2), solutions.unsqueeze(0), joint_dim=joint_dim)
    nearest = torch.nan_to_num(dist, nan=torch.inf).amin(0)  # (B, M)
    hit = (nearest <= tolerance) | ~valid
    return BranchCoverage(
        covered=hit.all(-1) & valid.any(-1),
        distance=torch.where(valid, nearest, torch.nan),
        num_solutions=valid.sum(-1),
        tolerance=float(tolerance),
    )


# -- suite metrics --------------------------------------------------------------------------------
def _targets(
    model: nn.Module, data: TaskData, opts: dict[str, Any], metric: str
) -> tuple[Tensor, Tensor]:
    """``(S, B, D)`` float64 samples and ``(B, D)`` targets of the first test inputs."""
    if not conditional(data):
        raise NotApplicableError(
            f"{metric} compares S samples with the target of each input, and this task has no "
            "targets y (an unconditional model); use apd, quality or fd"
        )
    samples, y = paired_samples(
        model,
        data,
        num_samples=int(opts["num_samples"]),
        n=int(opts["num_examples"]),
        output=opts["output"],
        seed=int(opts["seed"]),
    )
    return samples.flatten(2).double(), y.flatten(1).double()


@suite_metric(
    "best-of-k",
    "best-of-K (oracle) and expected error of S samples against the target",
    directions={"best_of_k": "lower", "expected_error": "lower"},
)
def best_of_k_metric(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    """The ``best-of-k`` suite metric: :func:`best_of_k_error` and :func:`expected_error`."""
    opts = options(
        settings, "best-of-k", {"num_samples": 10, "num_examples": 0, "output": "mean", "seed": 0}
    )
    samples, y = _targets(model, data, opts, "best-of-K")
    return {
        "best_of_k": summary(best_of_k_error(samples, y)),
        "expected_error": summary(expected_error(samples, y)),
        "settings": opts,
        "details": {"distance": "Euclidean norm over the flattened output"},
    }


@suite_metric(
    "crps",
    "CRPS (per output dimension) and energy score of S samples against the target",
    directions={"crps": "lower", "energy_score": "lower"},
)
def crps_metric(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    """The ``crps`` suite metric: :func:`~plausible.metrics.diversity.crps_ensemble` and
    :func:`energy_score` of S draws per input."""
    opts = options(
        settings,
        "crps",
        {"num_samples": 20, "num_examples": 0, "output": "sample", "seed": 0, "fair": True},
    )
    samples, y = _targets(model, data, opts, "CRPS")
    return {
        "crps": summary(crps_ensemble(samples, y, fair=bool(opts["fair"]))),
        "energy_score": summary(energy_score(samples, y)),
        "settings": opts,
    }
