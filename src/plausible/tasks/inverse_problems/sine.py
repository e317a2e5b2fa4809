"""Bishop's sine as an inverse problem (learn t from x) and as the forward problem, for contrast."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.distributions import MixtureSameFamily

from plausible.data.toy import sine_branches, sine_curve, sine_data
from plausible.distributions.mixture import approximate_mode, gaussian_mixture, mixture_parts
from plausible.metrics.mixture import mixture_modes, probability_integral_transform
from plausible.models.protocols import ConditionalDensityModel
from plausible.registry import TASKS
from plausible.tasks.base import TaskData
from plausible.tasks.inverse_problems.base import (
    LEAST_SQUARES,
    InverseProblem,
    device_of,
    least_squares_recipe,
    mean_prediction,
)
from plausible.viz.density import FitPanel, fit_figure, mixture_figure, pit_figure

__all__ = ["ForwardSine", "InverseSine"]

Direction = Literal["inverse", "forward"]


class _Sine(InverseProblem):
    """Bishop's toy problem ``x = t + 0.3 sin(2 pi t) + U(-0.1, 0.1)``, ``t ~ U(0, 1)``."""

    direction: Direction = "inverse"
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
        self._set_sizes(num_train, num_val, num_test, noise, seed)
        self.spacing = spacing

    @property
    def other_direction(self) -> Direction:
        return "forward" if self.direction == "inverse" else "inverse"

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

    def generate(self) -> TaskData:
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

    def baselines(self, config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Least squares in this direction (scored) and in the other one (PRML figure 5.19).

        The other direction's training split is this one's with ``x`` and ``t`` swapped; it is
        fitted without early stopping or best-epoch restore, by its last weights.
        """
        out = super().baselines(config)
        if config.get("evaluation", {}).get("baseline", {}) is not False:
            other = self.other_direction
            out[f"{LEAST_SQUARES}_{other}"] = least_squares_recipe(
                config,
                self.baseline_defaults,
                task={**config["task"], "name": f"{other}-sine"},
                training={"restore_best": False, "early_stopping_patience": 0},
            )
        return out

    def problem_figures(
        self,
        model: ConditionalDensityModel,
        data: TaskData,
        figures_dir: Path,
        baselines: Mapping[str, nn.Module | None] | None,
        settings: Mapping[str, Any],
    ) -> dict[str, Path]:
        """PRML figures 5.19 (least-squares fits) and 5.21 (the MDN), and PIT histograms."""
        out: dict[str, Path] = {}
        own = self.companion(baselines, LEAST_SQUARES)
        other = self.companion(baselines, f"{LEAST_SQUARES}_{self.other_direction}")
        xs, ys = data.train["x"], data.train["y"]
        # PRML fig. 5.19: the same points as a forward (t -> x) and an inverse (x -> t) problem.
        here, swapped = ({"x": xs, "y": ys}, own), ({"x": ys, "y": xs}, other)
        inverse = self.direction == "inverse"
        forward, backward = (swapped, here) if inverse else (here, swapped)
        panels = []
        for (split, fitted), title, (xl, yl) in (
            (forward, "forward problem", ("t", "x")),
            (backward, "inverse problem", ("x", "t")),
        ):
            if fitted is None:
                continue
            g = torch.linspace(float(split["x"].min()), float(split["x"].max()), 300)[:, None]
            fit_y = mean_prediction(fitted, g)
            panels.append(
                FitPanel(split["x"], split["y"], g, fit_y, title=title, xlabel=xl, ylabel=yl)
            )
        if panels:
            out["data and least-squares fits (PRML fig. 5.19)"] = fit_figure(
                panels, figures_dir / "least_squares.png"
            )
        device = device_of(model)
        grid = torch.linspace(float(xs.min()), float(xs.max()), 300)[:, None]
        ty = torch.linspace(float(ys.min()) - 0.05, float(ys.max()) + 0.05, 300)
        modes = None
        with torch.no_grad():
            p_y = model.predictive(grid.to(device))
            density = p_y.log_prob(ty.to(device)[:, None, None]).exp().cpu()
            if isinstance(p_y, MixtureSameFamily):
                log_w, loc, scale = mixture_parts(p_y)
                found = mixture_modes(
                    gaussian_mixture(log_w.double(), loc.double(), scale.double()),
                    min_density_ratio=self.min_mode_density_ratio,
                )
                modes = found.loc[..., 0].cpu()
                probs, locs = log_w.exp().cpu(), loc[..., 0].cpu()
                mode = approximate_mode(p_y).cpu()
            else:
                mode = p_y.mean.cpu()
                probs, locs = torch.ones_like(mode), mode
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
            least_squares=None if own is None else mean_prediction(own, grid),
            modes=modes,
        )
        pits = {"MDN" if isinstance(p_y, MixtureSameFamily) else "model": _pit(model, data)}
        if isinstance(own, ConditionalDensityModel):
            pits["least squares"] = _pit(own, data)
        out["calibration (PIT)"] = pit_figure(pits, figures_dir / "calibration.png")
        return out


def _pit(model: ConditionalDensityModel, data: TaskData) -> Tensor:
    device = device_of(model)
    with torch.no_grad():
        p_y = model.predictive(data.test["x"].to(device))
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
