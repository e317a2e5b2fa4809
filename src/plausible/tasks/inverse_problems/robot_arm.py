"""Inverse kinematics of a two-link robot arm: elbow-up and elbow-down solutions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from plausible.data.toy import TwoLinkArm
from plausible.distributions.mixture import top_hypotheses
from plausible.metrics.hypotheses import branch_coverage
from plausible.models.protocols import ConditionalDensityModel
from plausible.registry import TASKS
from plausible.tasks.base import TaskData
from plausible.tasks.inverse_problems.base import (
    LEAST_SQUARES,
    InverseProblem,
    device_of,
    mean_prediction,
)
from plausible.viz.density import coverage_map
from plausible.viz.kinematics import robot_arm_figure, solution_branches_figure

__all__ = ["RobotArm"]


@TASKS.register("robot-arm")
class RobotArm(InverseProblem):
    """Inverse kinematics of a two-link arm: learn joint angles from the end-effector position.

    Inputs are end-effector positions with Gaussian noise, targets the joint angles
    ``(theta1, theta2)`` in radians, drawn uniformly over the joint ranges of
    :class:`~plausible.data.toy.TwoLinkArm` (links 0.8 and 0.2). Most positions have an
    elbow-up and an elbow-down solution. Branch coverage uses a tolerance of 0.1 rad (Euclidean in
    joint space) and is also reported over the positions with two solutions.

    Args:
        num_train: Training examples.
        num_val: Validation examples.
        num_test: Test examples.
        noise: Standard deviation of the position noise.
        seed: Seed of the training split; validation and test use ``seed + 1`` and ``seed + 2``.

    References:
        Bishop, C. M. "Mixture Density Networks." NCRG/94/004, Aston University, 1994.
    """

    default_tolerance = 0.1
    error_unit = "rad"
    two_solution_coverage = True

    def __init__(
        self,
        *,
        num_train: int = 4000,
        num_val: int = 1000,
        num_test: int = 2000,
        noise: float = 0.005,
        seed: int = 0,
    ) -> None:
        self._set_sizes(num_train, num_val, num_test, noise, seed)
        self.arm = TwoLinkArm()

    def _split(self, n: int, seed: int) -> dict[str, Tensor]:
        angles, _, observed = self.arm.sample(n, seed=seed, noise=self.noise)
        return {"x": observed, "y": angles}

    def generate(self) -> TaskData:
        train = self._split(self.num_train, self.seed)
        val = self._split(self.num_val, self.seed + 1)
        test = self._split(self.num_test, self.seed + 2)
        # The true solutions of what the model sees: the observed position's inverse kinematics.
        test["solutions"], test["solutions_valid"] = self.arm.inverse(test["x"])
        return TaskData(
            train=train,
            val=val,
            test=test,
            info={"x_dim": 2, "y_dim": 2, "lengths": list(self.arm.lengths), "noise": self.noise},
        )

    def answer_residual(self, x: Tensor, prediction: Tensor) -> Tensor:
        """End-effector distance from the target plus any excursion outside the joint ranges."""
        arm = self.arm
        lo = torch.tensor([arm.shoulder_range[0], arm.elbow_range[0]], device=x.device)
        hi = torch.tensor([arm.shoulder_range[1], arm.elbow_range[1]], device=x.device)
        outside = ((lo - prediction).clamp(min=0) + (prediction - hi).clamp(min=0)).sum(-1)
        return (arm.forward(prediction) - x).norm(dim=-1) + outside

    def problem_figures(
        self,
        model: ConditionalDensityModel,
        data: TaskData,
        figures_dir: Path,
        baselines: Mapping[str, nn.Module | None] | None,
        settings: Mapping[str, Any],
    ) -> dict[str, Path]:
        """Arms for a few targets (after PRML figure 5.18), the two branches along an arc of
        targets, and branch coverage over the workspace."""
        device = device_of(model)
        own = self.companion(baselines, LEAST_SQUARES)
        x, valid, solutions = data.test["x"], data.test["solutions_valid"], data.test["solutions"]

        def ranked(inputs: Tensor) -> tuple[Tensor, Tensor]:
            with torch.no_grad():
                hyp, weights = top_hypotheses(model.predictive(inputs.to(device)))
            return hyp.cpu(), weights.cpu()

        def least_squares(inputs: Tensor) -> Tensor | None:
            return None if own is None else mean_prediction(own, inputs)

        hyp, weights = ranked(x)
        # Four positions with two clearly different solutions and two with one.
        count = valid.sum(-1)
        apart = (solutions[:, 0, 1] - solutions[:, 1, 1]).abs() > 1.0
        pick = torch.cat(
            [
                torch.nonzero((count == 2) & apart).flatten()[:4],
                torch.nonzero(count == 1).flatten()[:2],
            ]
        )
        out = {
            "robot arm solutions (PRML fig. 5.18)": robot_arm_figure(
                self.arm.lengths,
                x[pick],
                solutions[pick],
                valid[pick],
                hyp[:, pick].transpose(0, 1),
                weights[:, pick].T,
                figures_dir / "robot_arm.png",
                least_squares=least_squares(x[pick]),
            )
        }
        # Targets along an arc through the middle of the workspace: the two branches in joint
        # space, what the MDN's kernels follow and where least squares lands (between them).
        lengths = self.arm.lengths
        angle = torch.linspace(0.15, 1.45, 300)
        radius = 0.5 * (math.sqrt(lengths[0] ** 2 + lengths[1] ** 2) + sum(lengths))
        arc = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], -1)
        arc_solutions, arc_valid = self.arm.inverse(arc)
        arc_hyp, arc_w = ranked(arc)
        out["joint angles along an arc of targets"] = solution_branches_figure(
            angle,
            arc_solutions,
            arc_valid,
            arc_hyp.transpose(0, 1),
            arc_w.T,
            figures_dir / "branches.png",
            least_squares=least_squares(arc),
            param_label=r"\phi",
            target_labels=(r"\theta_1", r"\theta_2"),
            title=f"Targets at radius {radius:.2f}, angle $\\phi$: two branches",
        )
        tolerance = float(settings.get("tolerance", self.default_tolerance))
        coverage = branch_coverage(hyp, solutions, valid, tolerance=tolerance)
        out["branch coverage over the workspace"] = coverage_map(
            x,
            coverage.covered,
            count,
            figures_dir / "coverage.png",
            title=f"Branch coverage (tolerance {tolerance:g} rad)",
        )
        return out
