"""Lifting 2-D joints to a 3-D pose when the depth of some limbs is ambiguous (Li & Lee 2019)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from plausible.data.toy import SMALL_SKELETON, PoseData
from plausible.distributions.mixture import top_hypotheses
from plausible.metrics.hypotheses import best_of_k_error
from plausible.models.protocols import ConditionalDensityModel
from plausible.registry import TASKS
from plausible.tasks.base import TaskData
from plausible.tasks.inverse_problems.base import LEAST_SQUARES, InverseProblem, device_of
from plausible.viz.density import best_of_k_curves
from plausible.viz.kinematics import pose_figure

__all__ = ["PoseLifting"]


def _with_root(flat: Tensor) -> Tensor:
    """``(..., 3 J)`` non-root joints -> ``(..., J + 1, 3)`` with the root at the origin."""
    joints = flat.unflatten(-1, (-1, 3))
    return torch.cat([torch.zeros_like(joints[..., :1, :]), joints], dim=-2)


@TASKS.register("pose-lifting")
class PoseLifting(InverseProblem):
    """Lift 2-D joints to a 3-D pose when depth is ambiguous (a synthetic Li & Lee setting).

    Random poses of :data:`~plausible.data.toy.SMALL_SKELETON` (9 joints, root at the origin,
    bone directions uniform on cones) are projected orthographically. Inputs are the 8 non-root
    2-D joints with Gaussian noise; since the camera keeps ``(x, y)``, the targets are the 8
    root-relative joint depths in metres, and a predicted pose is the observed 2-D joints with the
    predicted depths (:meth:`PoseData.lift`). Flipping an arm bone's depth often gives another
    pose of the prior, so a 2-D pose has 1 to 16 answers, enumerated in the test split. Errors are
    MPJPE in mm over the 8 non-root 3-D joints; best-of-K uses the K component means as in Li &
    Lee (2019); branch coverage uses 30 mm.

    Args:
        num_train: Training poses.
        num_val: Validation poses.
        num_test: Test poses.
        noise: Standard deviation of the 2-D joint noise, in metres.
        seed: Seed of the training split; validation and test use ``seed + 1`` and ``seed + 2``.

    References:
        Li, C. and Lee, G. H. "Generating Multiple Hypotheses for 3D Human Pose Estimation with
        Mixture Density Network." CVPR 2019.
    """

    default_tolerance = 0.03
    joint_dim = 3
    error_scale = 1000.0
    error_unit = "mm (MPJPE)"
    baseline_defaults: ClassVar[dict[str, Any]] = {"epochs": 60, "batch_size": 256, "lr": 1e-3}

    def __init__(
        self,
        *,
        num_train: int = 20000,
        num_val: int = 2000,
        num_test: int = 2000,
        noise: float = 0.002,
        seed: int = 0,
    ) -> None:
        self._set_sizes(num_train, num_val, num_test, noise, seed)
        self.skeleton = SMALL_SKELETON

    def _split(self, n: int, seed: int) -> PoseData:
        return PoseData.generate(n, seed=seed, noise=self.noise, skeleton=self.skeleton)

    def generate(self) -> TaskData:
        train, val, test = (
            self._split(self.num_train, self.seed),
            self._split(self.num_val, self.seed + 1),
            self._split(self.num_test, self.seed + 2),
        )
        solutions, valid = self.skeleton.lift_solutions(test.joints2d)
        return TaskData(
            train={"x": train.x, "y": train.depth},
            val={"x": val.x, "y": val.depth},
            test={
                "x": test.x,
                "y": test.depth,
                "truth": test.joints3d[:, 1:].flatten(1),
                "solutions": solutions[:, :, 1:].flatten(2),
                "solutions_valid": valid,
            },
            info={
                "x_dim": train.x.shape[1],
                "y_dim": train.depth.shape[1],
                "joint_names": list(self.skeleton.names),
                "noise": self.noise,
            },
        )

    def to_answer(self, x: Tensor, prediction: Tensor) -> Tensor:
        """3-D poses ``(..., B, 24)``: the observed 2-D joints with the predicted depths."""
        return PoseData.lift(x, prediction)

    def answer_residual(self, x: Tensor, prediction: Tensor) -> Tensor:
        """Largest bone-length error of the lifted pose, in metres (the 2-D joints are given)."""
        joints = _with_root(self.to_answer(x, prediction))
        parents = list(self.skeleton.parents[1:])
        bones = (joints[..., 1:, :] - joints[..., parents, :]).norm(dim=-1)
        lengths = torch.tensor(self.skeleton.lengths[1:], dtype=bones.dtype, device=bones.device)
        return (bones - lengths).abs().amax(-1)

    def problem_figures(
        self,
        model: ConditionalDensityModel,
        data: TaskData,
        figures_dir: Path,
        baselines: Mapping[str, nn.Module | None] | None,
        settings: Mapping[str, Any],
    ) -> dict[str, Path]:
        """Hypotheses for a few ambiguous poses, and best-of-S error against S."""
        device = device_of(model)
        own = self.companion(baselines, LEAST_SQUARES)
        x, truth = data.test["x"], data.test["truth"]
        count = data.test["solutions_valid"].sum(-1)
        pick = torch.cat(
            [
                torch.nonzero(count == 2).flatten()[:1],
                torch.nonzero(count == 4).flatten()[:2],
                torch.nonzero(count == 1).flatten()[:1],
            ]
        )
        xs = x[pick]
        with torch.no_grad():
            hyp, weights = top_hypotheses(model.predictive(xs.to(device)))
        least_squares = None
        if isinstance(own, ConditionalDensityModel):
            with torch.no_grad():
                depth = own.predictive(xs.to(device_of(own))).mean.cpu()
            least_squares = _with_root(self.to_answer(xs, depth))
        observed = xs.unflatten(-1, (-1, 2))
        inputs2d = torch.cat([torch.zeros_like(observed[:, :1]), observed], dim=1)
        poses = _with_root(self.to_answer(xs, hyp.cpu())).transpose(0, 1)  # (N, H, J, 3)
        out = {
            "pose hypotheses": pose_figure(
                self.skeleton.parents,
                inputs2d,
                _with_root(truth[pick]),
                poses,
                weights.cpu().T,
                figures_dir / "poses.png",
                least_squares=least_squares,
                num_solutions=count[pick],
            )
        }
        sizes = [1, 2, 5, 10, 20, 50, 100]
        models: dict[str, ConditionalDensityModel] = {"MDN samples": model}
        if isinstance(own, ConditionalDensityModel):
            models["least-squares samples"] = own
        curves: dict[str, list[float]] = {}
        subset = slice(0, 1000)
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            for name, m in models.items():
                p_y = m.predictive(x[subset].to(device_of(m)))
                answers = self.to_answer(x[subset], p_y.sample((max(sizes),)).cpu())
                curves[name] = [
                    float(best_of_k_error(answers[:s], truth[subset], joint_dim=3).mean())
                    * self.error_scale
                    for s in sizes
                ]
        out["best-of-S error"] = best_of_k_curves(
            sizes, curves, figures_dir / "best_of_s.png", ylabel="best-of-S MPJPE (mm)"
        )
        return out
