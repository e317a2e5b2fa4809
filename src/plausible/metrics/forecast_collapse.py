"""Posterior collapse of a conditional latent forecaster: KL per dimension, active units, and
whether its futures depend on z at all.

The ``collapse`` metric diagnoses unconditional VAEs through q(z|x) and p(z). A conditional model
has q(z|x,y) and a prior p(z|x) that depends on the history, so here the KL is taken to that
prior, active units are counted over the histories and futures, and the generator is probed
directly: at a fixed history, do the futures ``E[y|x,z]`` move when z moves?
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from plausible.data.sequences import FutureLaw
from plausible.data.task_data import TaskData
from plausible.distributions.kl import kl_per_dimension
from plausible.metrics.forecasting import held_out_sequences, model_device, ratio_summary
from plausible.metrics.latent import ACTIVE_UNIT_THRESHOLD, active_units
from plausible.metrics.suite import NotApplicableError, options, suite_metric, summary
from plausible.models.protocols import ConditionalLatentModel

__all__ = [
    "conditional_posterior_statistics",
    "forecast_collapse_metric",
    "law_spread",
    "output_sensitivity",
]

#: Histories processed at once.
_CHUNK = 64


def _latent(model: nn.Module) -> ConditionalLatentModel:
    if not isinstance(model, ConditionalLatentModel):
        raise TypeError(
            f"{type(model).__name__} is not a conditional latent model (prior(x), "
            "recognize(x, y), generate(x, z); see plausible.models.protocols)"
        )
    return model


@torch.no_grad()
def conditional_posterior_statistics(model: nn.Module, x: Tensor, y: Tensor) -> dict[str, Tensor]:
    """KL(q(z|x,y) || p(z|x)) per latent dimension and the means of both, for every example.

    Args:
        model: A :class:`~plausible.models.protocols.ConditionalLatentModel` with a recognition
            network (``has_recognition``) whose q and p are ``Independent`` over z.
        x: ``(B, *x_shape)`` inputs.
        y: ``(B, *y_shape)`` targets.

    Returns:
        ``{"kl"``: ``(B, Z)`` nats, ``"posterior_mean"``: ``(B, Z)`` ``E_q[z]``,
        ``"prior_mean"``: ``(B, Z)`` ``E_p[z|x]``}`` on the CPU in float64.
    """
    latent = _latent(model)
    if not latent.has_recognition:
        raise ValueError(f"{type(model).__name__} has no recognition network q(z|x,y)")
    device = model_device(model)
    parts: dict[str, list[Tensor]] = {"kl": [], "posterior_mean": [], "prior_mean": []}
    for start in range(0, len(x), _CHUNK):
        xc, yc = x[start : start + _CHUNK].to(device), y[start : start + _CHUNK].to(device)
        q_z, p_z = latent.recognize(xc, yc), latent.prior(xc)
        parts["kl"].append(kl_per_dimension(q_z, p_z))
        parts["posterior_mean"].append(q_z.mean)
        parts["prior_mean"].append(p_z.mean)
    return {k: torch.cat(v).to("cpu", torch.float64) for k, v in parts.items()}


@torch.no_grad()
def output_sensitivity(model: nn.Module, x: Tensor, *, num_samples: int, seed: int) -> Tensor:
    """How much the mean output moves with z at a fixed input.

    For each input, ``S`` draws ``z ~ p(z|x)`` give the means ``E[y|x,z]`` of ``generate(x, z)``;
    their standard deviation across the draws, averaged over the output's elements (frames and
    dimensions of a sequence). A collapsed model, whose generator ignores z, scores 0.

    Args:
        model: A :class:`~plausible.models.protocols.ConditionalLatentModel`.
        x: ``(B, *x_shape)`` inputs.
        num_samples: S >= 2.
        seed: Seed of the draws (the global random stream is restored afterwards).

    Returns:
        ``(B,)`` in output units, float64 on the CPU.
    """
    latent = _latent(model)
    if num_samples < 2:
        raise ValueError(f"output_sensitivity needs S >= 2 draws of z, got {num_samples}")
    device = model_device(model)
    out = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for start in range(0, len(x), _CHUNK):
            xc = x[start : start + _CHUNK].to(device)
            z = latent.prior(xc).sample((num_samples,))
            means = latent.generate(xc, z).mean.double()  # (S, B, *y_shape)
            out.append(means.std(0).flatten(1).mean(-1).cpu())
    return torch.cat(out)


def law_spread(law: FutureLaw, x: Tensor) -> Tensor:
    """The same spread for the law's noise-free futures, exactly: ``(B,)``.

    Per element, the standard deviation of the mode means under the mode probabilities,
    ``sqrt(sum_m p_m (mu_m - sum_j p_j mu_j)^2)``, then averaged over the elements.
    """
    probs = law.mode_probs(x).double()  # (B, M)
    means = law.mode_means(x).double().flatten(2)  # (B, M, T * D)
    centre = (probs[..., None] * means).sum(1, keepdim=True)
    variance = (probs[..., None] * (means - centre) ** 2).sum(1)
    return variance.sqrt().mean(-1)


@suite_metric(
    "forecast-collapse",
    "collapse of a conditional latent forecaster: KL(q(z|x,y)||p(z|x)) per dim, active units, "
    "spread of E[y|x,z] over z",
    directions={"sensitivity_ratio": "one"},
)
def forecast_collapse_metric(
    model: nn.Module, data: TaskData, settings: dict[str, Any]
) -> dict[str, Any]:
    """The ``forecast-collapse`` suite metric on the first test histories.

    Active units follow Burda et al. (2016) with (x, y) in place of x: ``Var(E_q[z_d|x,y]) >
    threshold`` over the examples. Because the prior p(z|x) moves with x, a unit can pass that
    rule while q only copies the prior; ``active_units_beyond_prior`` applies the rule to
    ``E_q[z_d|x,y] - E_p[z_d|x]``, which is zero for a posterior equal to its prior. With a known
    law, ``sensitivity_ratio`` divides the output sensitivity by the law's exact spread (about 1
    for a model whose z chooses the future, 0 for a collapsed one).
    """
    opts = options(
        settings,
        "forecast-collapse",
        {"num_examples": 500, "num_samples": 50, "seed": 0, "threshold": ACTIVE_UNIT_THRESHOLD},
    )
    x, y = held_out_sequences(model, data, int(opts["num_examples"]), "forecast-collapse")
    if not isinstance(model, ConditionalLatentModel):
        raise NotApplicableError(
            f"{type(model).__name__} has no latent variable z: collapse diagnostics need "
            "prior(x), recognize(x, y) and generate(x, z)"
        )
    sensitivity = output_sensitivity(
        model, x, num_samples=int(opts["num_samples"]), seed=int(opts["seed"])
    )
    out: dict[str, Any] = {"output_sensitivity": summary(sensitivity)}
    details: dict[str, Any] = {
        "output_sensitivity": "std over z ~ p(z|x) of E[y|x,z], averaged over frames, "
        "dimensions and histories (output units)",
    }
    law = data.info.get("law")
    if isinstance(law, FutureLaw):
        spread = law_spread(law, x)
        out.update(output_spread_true=summary(spread))
        out.update(sensitivity_ratio=ratio_summary(sensitivity, spread))
        details["output_spread_true"] = "exact std of the law's noise-free futures (mode means)"
    if model.has_recognition:
        threshold = float(opts["threshold"])
        stats = conditional_posterior_statistics(model, x, y)
        count, variances = active_units(stats["posterior_mean"], threshold=threshold)
        beyond, residual = active_units(
            stats["posterior_mean"] - stats["prior_mean"], threshold=threshold
        )
        out.update(
            kl=summary(stats["kl"].sum(-1)), active_units=count, active_units_beyond_prior=beyond
        )
        details.update(
            kl_per_dimension=[round(float(v), 6) for v in stats["kl"].mean(0)],
            active_unit_variances=[round(float(v), 6) for v in variances],
            active_unit_variances_beyond_prior=[round(float(v), 6) for v in residual],
            active_units_rule=f"Var over the test pairs of E_q[z_d|x,y] > {threshold:g} "
            "(Burda et al., 2016, with (x, y) for x)",
            latent_dim=len(variances),
        )
    else:
        details["kl"] = "not measured: the model has no recognition network q(z|x,y)"
    return {**out, "settings": opts, "details": details}
