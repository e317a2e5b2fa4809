"""Inverse problems for mixture density networks: Bishop's sine, a two-link arm, pose lifting.

Every task here is generated (seeded, no downloads), knows the true solution set of each test input,
and compares the model it evaluates with a least-squares network of the same size, trained inside
``evaluate`` on the same data (settings in the recipe's ``[evaluation.baseline]`` table).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, MixtureSameFamily

from plausible.data.toy import (
    SMALL_SKELETON,
    PoseData,
    TwoLinkArm,
    sine_branches,
    sine_curve,
    sine_data,
)
from plausible.distributions.mixture import (
    approximate_mode,
    gaussian_mixture,
    mixture_parts,
    top_hypotheses,
)
from plausible.metrics.hypotheses import (
    best_of_k_error,
    branch_coverage,
    energy_score,
    expected_error,
    prediction_error,
)
from plausible.metrics.mixture import (
    interval_coverage,
    mixture_diagnostics,
    mixture_modes,
    probability_integral_transform,
)
from plausible.models.mdn import GaussianRegression
from plausible.registry import TASKS
from plausible.tasks.base import Task, TaskData

__all__ = ["ForwardSine", "InverseSine", "PoseLifting", "RobotArm"]

log = logging.getLogger(__name__)


def _estimate(values: Tensor, scale: float = 1.0, **extra: Any) -> dict[str, Any]:
    v = values.double().reshape(-1) * scale
    stderr = float(v.std() / math.sqrt(len(v))) if len(v) > 1 else math.nan
    return {"mean": float(v.mean()), "stderr": stderr, **extra}


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


class _InverseProblem(Task):
    """Shared evaluation: likelihood, hypotheses, coverage, calibration, least-squares baseline.

    Subclasses set the tolerance and error units, build the splits (``x``, ``y`` and, in the test
    split, the true ``solutions`` ``(N, M, D)`` with ``solutions_valid`` ``(N, M)``) and draw
    their figures.
    """

    default_objective = "mdn_nll"
    #: Distance within which a hypothesis counts as finding a true solution (target units).
    default_tolerance: float = 0.1
    #: ``None``: Euclidean error over the target; ``3``: mean per-joint error (MPJPE).
    joint_dim: int | None = None
    #: Errors are multiplied by this for reporting, in ``error_unit``.
    error_scale: float = 1.0
    error_unit: str = "target units"
    #: Find the mixture's true modes (fixed-point iteration) for targets up to this dimension.
    max_mode_dim: int = 2
    #: Modes less dense than this fraction of the densest one are not reported.
    min_mode_density_ratio: float = 0.01
    #: Also report branch coverage over the test inputs with exactly two solutions.
    two_solution_coverage: bool = False
    #: A point prediction is a valid answer when :meth:`answer_residual` is at most this.
    answer_tolerance: float = 0.02
    #: Trainer settings of the least-squares baseline; ``[evaluation.baseline]`` overrides them.
    baseline_defaults: ClassVar[dict[str, Any]] = {"epochs": 300, "batch_size": 100, "lr": 5e-3}

    def __init__(self) -> None:
        # key -> (the data it was trained on, model, seconds); reused only for that same data.
        self._baseline_cache: dict[str, tuple[TaskData, nn.Module, float]] = {}
        self._settings: dict[str, Any] = {}

    def model_kwargs(self, data: TaskData) -> dict[str, Any]:
        return {"x_dim": int(data.info["x_dim"]), "y_dim": int(data.info["y_dim"])}

    # -- the least-squares baseline ----------------------------------------------------------
    def least_squares(
        self,
        model: nn.Module,
        data: TaskData,
        *,
        split: dict[str, Tensor] | None = None,
        key: str = "main",
    ) -> tuple[nn.Module, float] | None:
        """The least-squares network of the same size as ``model``, trained once and cached.

        Returns:
            The trained :class:`GaussianRegression` and its training time in seconds, or ``None``
            when ``[evaluation] baseline = false`` or ``model`` is itself a regression network.
        """
        table = self._settings.get("baseline", {})
        if table is False or (isinstance(model, GaussianRegression) and key == "main"):
            return None
        cached = self._baseline_cache.get(key)
        if cached is not None and cached[0] is data:
            return cached[1], cached[2]
        from plausible.training import ConfiguredObjective, Trainer, TrainerConfig

        cfg = {**self.baseline_defaults, **(table if isinstance(table, dict) else {})}
        hidden = tuple(cfg.pop("hidden_dims", getattr(model, "hidden_dims", (32, 32))))
        activation = cfg.pop("activation", getattr(model, "activation", "tanh"))
        scale = cfg.pop("scale", "homoscedastic")
        train = split if split is not None else data.train
        val = None if split is not None else data.val
        x_dim, y_dim = train["x"].shape[-1], train["y"].shape[-1]
        # The baseline's own seed stream, so building it does not shift anything else.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(cfg.get("seed", 0)))
            baseline = GaussianRegression(
                x_dim, y_dim, hidden_dims=hidden, activation=activation, scale=scale
            )
            try:
                config = TrainerConfig(
                    **{
                        "progress": False,
                        "tensorboard": "off",
                        "log_every": 10**9,
                        "device": str(_device(model)),
                        **cfg,
                    }
                )
            except TypeError as err:
                raise ValueError(
                    f"[evaluation.baseline] takes trainer settings (epochs, batch_size, lr, ...) "
                    f"plus hidden_dims, activation and scale; {err}"
                ) from None
            trainer = Trainer(baseline, ConfiguredObjective("gaussian_nll"), config)
            tic = time.perf_counter()
            trainer.fit(
                {"x": train["x"], "y": train["y"]},
                None if val is None else {"x": val["x"], "y": val["y"]},
            )
            seconds = time.perf_counter() - tic
        baseline.eval()
        log.info("trained the least-squares baseline (%s) in %.1f s", key, seconds)
        self._baseline_cache[key] = (data, baseline, seconds)
        return baseline, seconds

    # -- evaluation ------------------------------------------------------------------------------
    def _score(
        self, model: nn.Module, data: TaskData, *, num_samples: int, tolerance: float, seed: int
    ) -> dict[str, Any]:
        device = _device(model)
        x, y = data.test["x"].to(device), data.test["y"].to(device)
        model.eval()
        with (
            torch.no_grad(),
            torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
        ):
            torch.manual_seed(seed)
            p_y: Distribution = model(x)
            nll = -p_y.log_prob(y)
            hypotheses, _ = top_hypotheses(p_y)
            samples = p_y.sample((num_samples,))
            mean = p_y.mean
            mode = approximate_mode(p_y) if isinstance(p_y, MixtureSameFamily) else mean
        jd, sc = self.joint_dim, self.error_scale
        # Errors are measured where the solutions live (for pose lifting: 3-D poses, not depths).
        truth = data.test.get("truth", data.test["y"]).to(device)
        hyp_e, samples_e = self.to_answer(x, hypotheses), self.to_answer(x, samples)
        mean_e, mode_e = self.to_answer(x, mean), self.to_answer(x, mode)
        out: dict[str, Any] = {
            "test_nll": _estimate(nll),
            "num_hypotheses": int(hypotheses.shape[0]),
            "best_of_k_error": _estimate(best_of_k_error(hyp_e, truth, joint_dim=jd), sc),
            "best_of_samples_error": _estimate(
                best_of_k_error(samples_e, truth, joint_dim=jd), sc, num_samples=num_samples
            ),
            "expected_error": _estimate(
                expected_error(samples_e, truth, joint_dim=jd), sc, num_samples=num_samples
            ),
            "mean_error": _estimate(prediction_error(mean_e, truth, joint_dim=jd), sc),
            "mode_error": _estimate(prediction_error(mode_e, truth, joint_dim=jd), sc),
            "energy_score": _estimate(energy_score(samples, y), sc, num_samples=num_samples),
        }
        if "solutions" in data.test:
            solutions = data.test["solutions"].to(device)
            valid = data.test["solutions_valid"].to(device)
            coverage = branch_coverage(hyp_e, solutions, valid, tolerance=tolerance, joint_dim=jd)
            out["branch_coverage"] = coverage.fraction()
            if self.two_solution_coverage:
                two = valid.sum(-1) == 2
                out["branch_coverage_two_solutions"] = coverage.fraction(two)
        for name, point in (("mode", mode), ("mean", mean)):
            residual = self.answer_residual(x, point)
            out[f"{name}_is_valid"] = float((residual <= self.answer_tolerance).double().mean())
        if y.shape[-1] == 1:
            pit = probability_integral_transform(p_y, y)
            sorted_pit = pit.double().sort().values
            uniform = torch.arange(1, len(pit) + 1, dtype=torch.float64, device=device) / len(pit)
            out["pit_ks_distance"] = float((sorted_pit - uniform).abs().max())
            out["interval_coverage"] = interval_coverage(pit)
        if isinstance(p_y, MixtureSameFamily):
            out["mixture"] = mixture_diagnostics(p_y, y)
            if y.shape[-1] <= self.max_mode_dim:
                out["modes"] = self._mode_scores(p_y, x, data, tolerance)
        return out

    def _mode_scores(
        self, p_y: MixtureSameFamily, x: Tensor, data: TaskData, tolerance: float
    ) -> dict[str, Any]:
        """The modes of each predicted mixture (fixed-point iteration; those at least
        ``min_mode_density_ratio`` as dense as the densest) scored as answers."""
        log_w, loc, scale = mixture_parts(p_y)
        with torch.no_grad():  # the search runs in float64
            modes = mixture_modes(
                gaussian_mixture(log_w.double(), loc.double(), scale.double()),
                min_density_ratio=self.min_mode_density_ratio,
            )
        loc = modes.loc.to(x.dtype).transpose(0, 1)  # (M, B, D), NaN where padded
        residual = self.answer_residual(x, torch.nan_to_num(loc))
        valid_answer = (residual <= self.answer_tolerance) & modes.valid.T
        out: dict[str, Any] = {
            "mean_count": float(modes.num_modes.double().mean()),
            "max_count": int(modes.num_modes.max()),
            "valid_share": float(valid_answer.sum() / modes.valid.sum().clamp(min=1)),
        }
        if "solutions" in data.test:
            answers = self.to_answer(x, loc)
            coverage = branch_coverage(
                answers,
                data.test["solutions"].to(x.device),
                data.test["solutions_valid"].to(x.device),
                tolerance=tolerance,
                joint_dim=self.joint_dim,
            )
            out["branch_coverage"] = coverage.fraction()
        return out

    def _facts(self, data: TaskData) -> dict[str, Any]:
        """Facts about the test set (not the model) reported next to the metrics."""
        return {}

    def to_answer(self, x: Tensor, prediction: Tensor) -> Tensor:
        """Turn predictions ``(..., B, D)`` for inputs ``x`` ``(B, x_dim)`` into answers.

        Answers live where the test split's ``truth`` and ``solutions`` do; this is the identity
        unless a task says otherwise.
        """
        return prediction

    def answer_residual(self, x: Tensor, prediction: Tensor) -> Tensor:
        """How far each prediction ``(B, D)`` is from answering its input ``x`` ``(B, x_dim)``.

        Zero when the prediction could have produced the input under the task's forward model
        (e.g. the arm's end effector reaches the target); a prediction is a valid answer when this
        is at most ``answer_tolerance``.
        """
        raise NotImplementedError

    def evaluate(
        self, model: nn.Module, data: TaskData, *, settings: dict[str, Any], progress: bool = False
    ) -> dict[str, Any]:
        """Test metrics of ``model`` and, under ``least_squares``, of the least-squares baseline.

        Settings (the recipe's ``[evaluation]`` table): ``num_samples`` (S, default 100) for the
        sample-based metrics, ``tolerance`` for branch coverage (task default otherwise), ``seed``,
        and ``baseline`` (a table of trainer settings, or ``false`` to skip the baseline).

        Returned metrics: ``test_nll`` (nats per example, exact), ``best_of_k_error`` (nearest
        of the K component means), ``best_of_samples_error`` and ``expected_error`` (nearest
        and average of S samples), ``mean_error`` / ``mode_error`` (conditional mean, Bishop's
        approximate mode), ``energy_score`` (S samples), ``branch_coverage`` (share of test
        inputs whose every true solution has a component mean within ``tolerance``),
        ``mode_is_valid`` / ``mean_is_valid`` (share whose point prediction is a valid answer:
        :meth:`answer_residual` at most ``answer_tolerance``), PIT calibration for 1-D targets and
        mixing-weight diagnostics. Errors are in ``error_unit``.
        """
        self._settings = dict(settings)
        num_samples = int(settings.get("num_samples", 100))
        tolerance = float(settings.get("tolerance", self.default_tolerance))
        seed = int(settings.get("seed", 0))
        out: dict[str, Any] = {
            "error_unit": self.error_unit,
            "tolerance": tolerance * self.error_scale,
            "answer_tolerance": self.answer_tolerance,
        }
        out.update(self._facts(data))
        out.update(
            self._score(model, data, num_samples=num_samples, tolerance=tolerance, seed=seed)
        )
        baseline = self.least_squares(model, data)
        if baseline is not None:
            base_model, seconds = baseline
            scores = self._score(
                base_model, data, num_samples=num_samples, tolerance=tolerance, seed=seed
            )
            out["least_squares"] = {**scores, "training_time_s": seconds}
            out["nll_gain_over_least_squares"] = (
                scores["test_nll"]["mean"] - out["test_nll"]["mean"]
            )
        return out

    def _training_curves(self, figures_dir: Path, records: list[dict[str, Any]]) -> dict[str, Path]:
        if not records:
            return {}
        from plausible.viz import training_curves

        try:
            return {
                "training curves": training_curves(records, figures_dir / "training_curves.png")
            }
        except ValueError as err:  # no numeric metrics to draw
            log.warning("no training curves: %s", err)
            return {}


# -- Bishop's sine ------------------------------------------------------------------------------


class _Sine(_InverseProblem):
    """Bishop's toy problem ``x = t + 0.3 sin(2 pi t) + U(-0.1, 0.1)``, ``t ~ U(0, 1)``."""

    direction: Literal["inverse", "forward"] = "inverse"
    default_tolerance = 0.1
    error_unit = "target units"

    def __init__(
        self,
        *,
        num_train: int = 1000,
        num_val: int = 500,
        num_test: int = 2000,
        noise: float = 0.1,
        spacing: Literal["random", "even"] = "random",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if min(num_train, num_val, num_test) < 1:
            raise ValueError(
                f"task sizes must be >= 1, got num_train={num_train}, num_val={num_val}, "
                f"num_test={num_test}"
            )
        self.num_train, self.num_val, self.num_test = num_train, num_val, num_test
        self.noise = float(noise)
        self.spacing = spacing
        self.seed = int(seed)

    def answer_residual(self, x: Tensor, prediction: Tensor) -> Tensor:
        """Distance from the true support ``|x - g(t)| <= noise``, ``t in [0, 1]``."""
        t, v = (prediction, x) if self.direction == "inverse" else (x, prediction)
        outside = (-t).clamp(min=0) + (t - 1).clamp(min=0)
        return ((v - sine_curve(t)).abs() - self.noise).clamp(min=0)[..., 0] + outside[..., 0]

    def _split(self, n: int, seed: int, spacing: Literal["random", "even"]) -> dict[str, Tensor]:
        t, x = sine_data(n, seed=seed, noise=self.noise, spacing=spacing)
        if self.direction == "inverse":
            return {"x": x, "y": t}
        return {"x": t, "y": x}

    def load(self) -> TaskData:
        train = self._split(self.num_train, self.seed, self.spacing)
        val = self._split(self.num_val, self.seed + 1, "random")
        test = self._split(self.num_test, self.seed + 2, "random")
        if self.direction == "inverse":
            test["solutions"], test["solutions_valid"] = sine_branches(test["x"])
        else:
            test["solutions"] = sine_curve(test["x"])[:, None, :]
            test["solutions_valid"] = torch.ones(len(test["x"]), 1, dtype=torch.bool)
        return TaskData(
            train=train,
            val=val,
            test=test,
            info={"x_dim": 1, "y_dim": 1, "problem": f"{self.direction} sine", "noise": self.noise},
        )

    def figures(
        self, model: nn.Module, data: TaskData, figures_dir: Path, *, records: list[dict[str, Any]]
    ) -> dict[str, Path]:
        from plausible.viz.density import FitPanel, fit_figure, mixture_figure, pit_figure

        figures_dir.mkdir(parents=True, exist_ok=True)
        device = _device(model)
        model.eval()
        out: dict[str, Path] = {}
        inverse = self.direction == "inverse"
        xs, ys = data.train["x"], data.train["y"]
        grid = torch.linspace(float(xs.min()), float(xs.max()), 300)[:, None]
        # PRML fig. 5.19: the same points as a forward (t -> x) and an inverse (x -> t) problem.
        baseline = self.least_squares(model, data)
        swapped = {"x": ys, "y": xs}
        swapped_fit = self.least_squares(model, data, split=swapped, key="swapped")
        main = ({"x": xs, "y": ys}, baseline)
        if inverse:
            forward, backward = (swapped, swapped_fit), main
        else:
            forward, backward = main, (swapped, swapped_fit)
        panels = []
        for (split, fitted), title, (xl, yl) in (
            (forward, "forward problem", ("t", "x")),
            (backward, "inverse problem", ("x", "t")),
        ):
            if fitted is None:
                continue
            g = torch.linspace(float(split["x"].min()), float(split["x"].max()), 300)[:, None]
            with torch.no_grad():
                fit_y = fitted[0](g.to(device)).mean.cpu()
            panels.append(
                FitPanel(split["x"], split["y"], g, fit_y, title=title, xlabel=xl, ylabel=yl)
            )
        if panels:
            out["data and least-squares fits (PRML fig. 5.19)"] = fit_figure(
                panels, figures_dir / "least_squares.png"
            )
        with torch.no_grad():
            p_y = model(grid.to(device))
            ty = torch.linspace(float(ys.min()) - 0.05, float(ys.max()) + 0.05, 300)
            density = p_y.log_prob(ty.to(device)[:, None, None]).exp().cpu()
            modes = None
            if isinstance(p_y, MixtureSameFamily):
                log_w, loc, scale = mixture_parts(p_y)
                found = mixture_modes(
                    gaussian_mixture(log_w.double(), loc.double(), scale.double()),
                    min_density_ratio=self.min_mode_density_ratio,
                )
                modes = found.loc[..., 0].cpu()
                probs, locs, mode = (
                    log_w.exp().cpu(),
                    loc[..., 0].cpu(),
                    approximate_mode(p_y).cpu(),
                )
            else:
                mode = p_y.mean.cpu()
                probs, locs = torch.ones_like(mode), mode
            ls_grid = baseline[0](grid.to(device)).mean.cpu() if baseline is not None else None
        xl, yl = ("x", "t") if inverse else ("t", "x")
        out["mixture density network (PRML fig. 5.21)"] = mixture_figure(
            xs,
            ys,
            grid,
            probs,
            locs,
            ty,
            density,
            mode,
            figures_dir / "mdn.png",
            xlabel=xl,
            ylabel=yl,
            least_squares=ls_grid,
            modes=modes,
        )
        pits = {"MDN" if isinstance(p_y, MixtureSameFamily) else "model": self._pit(model, data)}
        if baseline is not None:
            pits["least squares"] = self._pit(baseline[0], data)
        out["calibration (PIT)"] = pit_figure(pits, figures_dir / "calibration.png")
        out.update(self._training_curves(figures_dir, records))
        return out

    @staticmethod
    def _pit(model: nn.Module, data: TaskData) -> Tensor:
        device = _device(model)
        with torch.no_grad():
            p_y = model(data.test["x"].to(device))
            return probability_integral_transform(p_y, data.test["y"].to(device)).cpu()


@TASKS.register("inverse-sine")
class InverseSine(_Sine):
    """Bishop's inverse problem: learn ``t`` from ``x = t + 0.3 sin(2 pi t) + U(-0.1, 0.1)``.

    For ``x`` in about ``(0.41, 0.59)`` three values of ``t`` are valid; least squares averages
    them. The test split carries the noise-free branches as ``solutions``; the default tolerance
    for branch coverage is 0.1 (the noise half-width).

    Args:
        num_train: Training points (1,000 as in Bishop 1994).
        num_val: Validation points (early stopping).
        num_test: Test points.
        noise: Half-width of the uniform noise.
        spacing: ``random`` (``t ~ U(0, 1)``) or ``even`` training inputs.
        seed: Seed of the training split; validation and test use ``seed + 1`` and ``seed + 2``.

    References:
        Bishop, C. M. "Mixture Density Networks." NCRG/94/004, Aston University, 1994.
        Bishop, C. M. "Pattern Recognition and Machine Learning." Springer, 2006, section 5.6.
    """

    direction = "inverse"


@TASKS.register("forward-sine")
class ForwardSine(_Sine):
    """The forward problem, for contrast: learn ``x = t + 0.3 sin(2 pi t) + noise`` from ``t``.

    One answer per input, so least squares is fine here. Arguments as :class:`InverseSine`.
    """

    direction = "forward"


# -- two-link robot arm -------------------------------------------------------------------------


@TASKS.register("robot-arm")
class RobotArm(_InverseProblem):
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
        super().__init__()
        if min(num_train, num_val, num_test) < 1:
            raise ValueError("task sizes must be >= 1")
        self.num_train, self.num_val, self.num_test = num_train, num_val, num_test
        self.noise = float(noise)
        self.seed = int(seed)
        self.arm = TwoLinkArm()

    def _split(self, n: int, seed: int) -> tuple[dict[str, Tensor], Tensor]:
        angles, clean, observed = self.arm.sample(n, seed=seed, noise=self.noise)
        return {"x": observed, "y": angles}, clean

    def load(self) -> TaskData:
        train, _ = self._split(self.num_train, self.seed)
        val, _ = self._split(self.num_val, self.seed + 1)
        test, _ = self._split(self.num_test, self.seed + 2)
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

    def _facts(self, data: TaskData) -> dict[str, Any]:
        count = data.test["solutions_valid"].sum(-1)
        return {
            "share_with_two_solutions": float((count == 2).double().mean()),
            "share_outside_workspace": float((count == 0).double().mean()),
        }

    def figures(
        self, model: nn.Module, data: TaskData, figures_dir: Path, *, records: list[dict[str, Any]]
    ) -> dict[str, Path]:
        from plausible.viz.density import coverage_map, robot_arm_figure, solution_branches_figure

        figures_dir.mkdir(parents=True, exist_ok=True)
        device = _device(model)
        model.eval()
        x = data.test["x"]
        valid = data.test["solutions_valid"]
        solutions = data.test["solutions"]
        with torch.no_grad():
            hyp, weights = top_hypotheses(model(x.to(device)))
        hyp, weights = hyp.cpu(), weights.cpu()
        fitted = self.least_squares(model, data)
        baseline = None if fitted is None else fitted[0]

        def least_squares(inputs: Tensor) -> Tensor | None:
            if baseline is None:
                return None
            with torch.no_grad():
                return baseline(inputs.to(device)).mean.cpu()

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
        with torch.no_grad():
            arc_hyp, arc_w = top_hypotheses(model(arc.to(device)))
        out["joint angles along an arc of targets"] = solution_branches_figure(
            angle,
            arc_solutions,
            arc_valid,
            arc_hyp.cpu().transpose(0, 1),
            arc_w.cpu().T,
            figures_dir / "branches.png",
            least_squares=least_squares(arc),
            param_label=r"\phi",
            target_labels=(r"\theta_1", r"\theta_2"),
            title=f"Targets at radius {radius:.2f}, angle $\\phi$: two branches",
        )
        tolerance = float(self._settings.get("tolerance", self.default_tolerance))
        coverage = branch_coverage(hyp, solutions, valid, tolerance=tolerance)
        out["branch coverage over the workspace"] = coverage_map(
            x,
            coverage.covered,
            count,
            figures_dir / "coverage.png",
            title=f"Branch coverage (tolerance {tolerance:g} rad)",
        )
        out.update(self._training_curves(figures_dir, records))
        return out


# -- pose lifting -------------------------------------------------------------------------------


@TASKS.register("pose-lifting")
class PoseLifting(_InverseProblem):
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
        super().__init__()
        if min(num_train, num_val, num_test) < 1:
            raise ValueError("task sizes must be >= 1")
        self.num_train, self.num_val, self.num_test = num_train, num_val, num_test
        self.noise = float(noise)
        self.seed = int(seed)
        self.skeleton = SMALL_SKELETON

    def _split(self, n: int, seed: int) -> PoseData:
        return PoseData.generate(n, seed=seed, noise=self.noise, skeleton=self.skeleton)

    def load(self) -> TaskData:
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
        joints = self.to_answer(x, prediction).unflatten(-1, (-1, 3))
        joints = torch.cat([torch.zeros_like(joints[..., :1, :]), joints], dim=-2)
        parents = list(self.skeleton.parents[1:])
        bones = (joints[..., 1:, :] - joints[..., parents, :]).norm(dim=-1)
        lengths = torch.tensor(self.skeleton.lengths[1:], dtype=bones.dtype, device=bones.device)
        return (bones - lengths).abs().amax(-1)

    def _facts(self, data: TaskData) -> dict[str, Any]:
        counts = data.test["solutions_valid"].sum(-1)
        return {
            "mean_num_solutions": float(counts.double().mean()),
            "share_with_at_most_5_solutions": float((counts <= 5).double().mean()),
        }

    def figures(
        self, model: nn.Module, data: TaskData, figures_dir: Path, *, records: list[dict[str, Any]]
    ) -> dict[str, Path]:
        from plausible.viz.density import best_of_k_curves, pose_figure

        figures_dir.mkdir(parents=True, exist_ok=True)
        device = _device(model)
        model.eval()
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

        def joints(flat: Tensor) -> Tensor:
            out = flat.unflatten(-1, (-1, 3))
            return torch.cat([torch.zeros_like(out[..., :1, :]), out], dim=-2)

        with torch.no_grad():
            hyp, weights = top_hypotheses(model(xs.to(device)))
        fitted = self.least_squares(model, data)
        ls = None
        if fitted is not None:
            with torch.no_grad():
                ls = joints(self.to_answer(xs, fitted[0](xs.to(device)).mean.cpu()))
        observed = xs.unflatten(-1, (-1, 2))
        inputs2d = torch.cat([torch.zeros_like(observed[:, :1]), observed], dim=1)
        poses = joints(self.to_answer(xs, hyp.cpu())).transpose(0, 1)  # (N, H, J, 3)
        out = {
            "pose hypotheses": pose_figure(
                self.skeleton.parents,
                inputs2d,
                joints(truth[pick]),
                poses,
                weights.cpu().T,
                figures_dir / "poses.png",
                least_squares=ls,
                num_solutions=count[pick],
            )
        }
        sizes = [1, 2, 5, 10, 20, 50, 100]
        curves: dict[str, list[float]] = {}
        subset = slice(0, 1000)
        models = {"MDN samples": model}
        if fitted is not None:
            models["least-squares samples"] = fitted[0]
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            for name, m in models.items():
                samples = m(x[subset].to(device)).sample((max(sizes),)).cpu()
                answers = self.to_answer(x[subset], samples)
                curves[name] = [
                    float(best_of_k_error(answers[:s], truth[subset], joint_dim=3).mean())
                    * self.error_scale
                    for s in sizes
                ]
        out["best-of-S error"] = best_of_k_curves(
            sizes, curves, figures_dir / "best_of_s.png", ylabel="best-of-S MPJPE (mm)"
        )
        out.update(self._training_curves(figures_dir, records))
        return out
