"""Suite metrics that check a predictive density p(y|x) on the test split: calibration, weights.

Both apply to any :class:`~plausible.models.protocols.ConditionalDensityModel` (a mixture density
network, a Gaussian regression); the math is in :mod:`plausible.metrics.mixture`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, MixtureSameFamily

from plausible.data.task_data import TaskData
from plausible.metrics.mixture import (
    interval_coverage,
    mixture_diagnostics,
    probability_integral_transform,
)
from plausible.metrics.suite import NotApplicableError, options, suite_metric
from plausible.models.protocols import ConditionalDensityModel

__all__ = ["density_model", "held_out_pair", "pit_ks_distance", "predict"]


def density_model(model: nn.Module, metric: str) -> ConditionalDensityModel:
    """``model`` as a conditional density model, or :class:`NotApplicableError` saying why."""
    if not isinstance(model, ConditionalDensityModel):
        raise NotApplicableError(
            f"{metric} scores an exact predictive density p(y|x); {type(model).__name__} is not a "
            "ConditionalDensityModel (an MDN or a regression network is)"
        )
    return model


def held_out_pair(model: nn.Module, data: TaskData, metric: str) -> tuple[Tensor, Tensor]:
    """The test inputs and targets on ``model``'s device, or :class:`NotApplicableError`."""
    if "x" not in data.test or "y" not in data.test:
        raise NotApplicableError(
            f"{metric} needs test inputs 'x' and targets 'y'; the test split holds "
            f"{sorted(data.test)}"
        )
    device = next(model.parameters()).device
    return data.test["x"].to(device), data.test["y"].to(device)


def predict(model: ConditionalDensityModel, x: Tensor) -> Distribution:
    """``p(y|x)`` without gradients."""
    with torch.no_grad():
        return model.predictive(x)


def pit_ks_distance(pit: Tensor) -> float:
    """Kolmogorov-Smirnov distance of PIT values ``(N,)`` from the uniform law on ``[0, 1]``.

    Measured at the upper end of each step of the empirical CDF, ``max_i |u_(i) - i / N|``.
    """
    ordered = pit.double().sort().values
    steps = torch.arange(1, len(ordered) + 1, dtype=torch.float64, device=ordered.device)
    return float((ordered - steps / len(ordered)).abs().max())


@suite_metric(
    "pit-calibration",
    "calibration of 1-D predictive densities: PIT distance from uniform, interval coverage",
    directions={"pit_ks_distance": "lower"},
    shared=(),
)
def _pit_calibration(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    density = density_model(model, "pit-calibration")
    opts = options(settings, "pit-calibration", {"levels": [0.5, 0.8, 0.9, 0.95]})
    x, y = held_out_pair(model, data, "pit-calibration")
    if y.shape[-1:] != (1,) or y.dim() != 2:
        raise NotApplicableError(
            f"the PIT is defined for 1-D targets; these have shape {tuple(y.shape[1:])}: "
            "use answer-errors (energy score) for multivariate targets"
        )
    pit = probability_integral_transform(predict(density, x), y)
    return {
        "pit_ks_distance": pit_ks_distance(pit),
        "interval_coverage": interval_coverage(pit, opts["levels"]),
        "settings": opts,
        "details": {"calibrated": "pit_ks_distance near 0; interval_coverage equal to its level"},
    }


@suite_metric(
    "mixture-weights",
    "mixing weights of a mixture density: entropy, effective and dead components",
    shared=(),
)
def _mixture_weights(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    density = density_model(model, "mixture-weights")
    opts = options(settings, "mixture-weights", {"dead_threshold": 1e-3})
    x, y = held_out_pair(model, data, "mixture-weights")
    p_y = predict(density, x)
    if not isinstance(p_y, MixtureSameFamily):
        raise NotApplicableError(
            f"{type(model).__name__} predicts a {type(p_y).__name__}, not a mixture: no weights"
        )
    stats = mixture_diagnostics(p_y, y, dead_threshold=float(opts["dead_threshold"]))
    return {**stats, "settings": opts}
