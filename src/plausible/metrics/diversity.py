"""Diversity of many samples: APD and the CRPS, and how the suite draws samples from any model."""

from __future__ import annotations

import logging
import math
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, MixtureSameFamily, Normal

from plausible.data.task_data import TaskData
from plausible.distributions.mixture import tempered
from plausible.metrics.suite import (
    NotApplicableError,
    conditional,
    held_out_inputs,
    options,
    suite_metric,
    summary,
)
from plausible.models.protocols import (
    ConditionalDensityModel,
    ConditionalLatentModel,
    ConditionalModel,
    LatentVariableModel,
)

__all__ = [
    "Output",
    "average_pairwise_distance",
    "crps_ensemble",
    "crps_gaussian",
    "draw_samples",
    "like_the_data",
    "paired_samples",
]

log = logging.getLogger(__name__)

Output = Literal["mean", "mode", "sample"]
_OUTPUTS: dict[str, Output] = {"mean": "mean", "mode": "mode", "sample": "sample"}


def average_pairwise_distance(samples: Tensor, *, chunk_size: int = 256) -> Tensor:
    """Average pairwise distance (APD) between the samples drawn for each input.

    ``APD = 1 / (S (S - 1)) sum_{i != j} ||y_i - y_j||_2``, the diversity measure of
    Aliakbarian et al. (2020) and later multi-hypothesis work; 0 when all samples agree.

    Args:
        samples: ``(S, B, ...)`` with the sample axis first; trailing axes are flattened.
        chunk_size: Inputs per chunk of the ``(B, S, S)`` distance computation.

    Returns:
        ``(B,)`` APD per input, in the units of the samples.

    References:
        Aliakbarian, S., Saleh, F. S., Salzmann, M., Petersson, L. and Gould, S. "A Stochastic
        Conditioning Scheme for Diverse Human Motion Prediction." CVPR 2020.
    """
    if samples.dim() < 2:
        raise ValueError(f"samples must be (S, B, ...), got shape {tuple(samples.shape)}")
    s = samples.shape[0]
    if s < 2:
        raise ValueError(f"the APD needs at least 2 samples per input, got S = {s}")
    by_input = samples.flatten(2).transpose(0, 1)  # (B, S, D)
    if not by_input.is_floating_point():
        by_input = by_input.float()
    out = []
    for start in range(0, by_input.shape[0], chunk_size):
        block = by_input[start : start + chunk_size]
        out.append(torch.cdist(block, block).sum((-1, -2)) / (s * (s - 1)))
    return torch.cat(out)


def crps_gaussian(loc: Tensor, scale: Tensor, target: Tensor) -> Tensor:
    """Closed-form CRPS of a Gaussian forecast, elementwise (Gneiting et al., 2005).

    ``CRPS(N(mu, s^2), y) = s [z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi)]`` with
    ``z = (y - mu) / s``; it equals ``E|Y - y| - 1/2 E|Y - Y'|`` for ``Y, Y' ~ N(mu, s^2)``.

    Args:
        loc: Forecast means.
        scale: Forecast standard deviations (> 0); broadcast with ``loc`` and ``target``.
        target: Observations.

    Returns:
        CRPS in the units of ``target``, broadcast shape; lower is better.
    """
    z = (target - loc) / scale
    std = Normal(torch.zeros_like(z), torch.ones_like(z))
    return scale * (
        z * (2.0 * std.cdf(z) - 1.0) + 2.0 * std.log_prob(z).exp() - 1.0 / math.sqrt(math.pi)
    )


def crps_ensemble(samples: Tensor, target: Tensor, *, fair: bool = False) -> Tensor:
    """CRPS of a sample (ensemble) forecast, averaged over output dimensions.

    Per dimension, ``CRPS = mean_i |y_i - y| - 1/2 mean_{i,j} |y_i - y_j|``, the CRPS of the
    empirical distribution of the samples. With ``fair=True`` the second term averages over
    ``i != j`` only (divides by ``S (S - 1)``), an unbiased estimate of the forecast
    distribution's CRPS (Ferro, 2014); in one dimension it then equals the energy score. The
    pairwise term is computed from sorted samples in ``O(S log S)``.

    Args:
        samples: ``(S, B, ...)`` draws, sample axis first.
        target: ``(B, ...)`` observations.
        fair: Use the unbiased (fair) estimator.

    Returns:
        ``(B,)`` CRPS averaged over the trailing dimensions, in target units.

    References:
        Gneiting, T. and Raftery, A. E. "Strictly Proper Scoring Rules, Prediction, and
        Estimation." JASA 102(477), 2007.
    """
    if samples.shape[1:] != target.shape or samples.dim() < 2:
        raise ValueError(
            f"crps_ensemble expects samples (S, B, ...) and target (B, ...); got "
            f"{tuple(samples.shape)} and {tuple(target.shape)} (put the sample axis first)"
        )
    s = samples.shape[0]
    if fair and s < 2:
        raise ValueError("the fair CRPS needs at least 2 samples per input")
    flat = samples.flatten(2).double()  # (S, B, D)
    y = target.flatten(1).double()
    to_target = (flat - y).abs().mean(0)
    ordered = flat.sort(dim=0).values
    # sum_{i,j} |x_i - x_j| = 2 sum_i (2i - S - 1) x_(i) for sorted x, i = 1..S
    weights = 2.0 * torch.arange(1, s + 1, dtype=torch.float64, device=flat.device) - s - 1
    pair_sum = 2.0 * (weights.view(-1, 1, 1) * ordered).sum(0)
    spread = pair_sum / (s * (s - 1) if fair else s * s)
    return (to_target - 0.5 * spread).mean(-1)


def _observation(p: Any, output: Output) -> Tensor:
    # Lazily computed parameters (a Bernoulli's probs from its logits) are built with grad
    # enabled whatever the caller says; samples are data, so they are detached.
    if output == "mean":
        return p.mean.detach()
    if output == "mode":
        return p.mode.detach()
    if output == "sample":
        return p.sample()
    raise ValueError(f"output must be 'mean', 'mode' or 'sample', got {output!r}")


def _tempered(p_y: Distribution, temperature: float) -> Distribution:
    """p(y|x) at a temperature: a Gaussian mixture by :func:`tempered`, a Gaussian by sqrt(T)."""
    if isinstance(p_y, MixtureSameFamily):
        return tempered(p_y, temperature)
    base = p_y.base_dist if isinstance(p_y, Independent) else p_y
    if isinstance(base, Normal):
        scaled = Normal(base.loc, base.scale * temperature**0.5)
        return Independent(scaled, len(p_y.event_shape)) if p_y.event_shape else scaled
    raise ValueError(
        f"no temperature is defined for a predictive {type(p_y).__name__}; sample at temperature 1"
    )


def _predictive_samples(p_y: Distribution, num_samples: int, *, mean: bool) -> Tensor:
    """``(S, B, ...)`` draws of p(y|x), or with ``mean`` the means of drawn mixture components."""
    if not mean:
        return p_y.sample((num_samples,))
    if isinstance(p_y, MixtureSameFamily):
        k = p_y.mixture_distribution.sample((num_samples,))  # (S, B)
        loc = p_y.component_distribution.mean  # (B, K, ...)
        return loc[torch.arange(loc.shape[0], device=loc.device), k]
    return p_y.mean.expand(num_samples, *p_y.mean.shape).clone()


def _conditional_samples(
    model: nn.Module, x: Tensor, num_samples: int, temperature: float, output: Output
) -> Tensor:
    if isinstance(model, ConditionalLatentModel):
        p_z = model.prior(x)
        z0 = p_z.sample((num_samples,))
        z = p_z.mean + temperature * (z0 - p_z.mean)
        return _observation(model.generate(x, z), output)
    # Without latents, "mean" and "mode" both drop the observation noise (for a mixture: the
    # mean, which is also the mode, of each drawn component).
    mean = output != "sample"
    if temperature == 1.0 and isinstance(model, ConditionalModel):
        return model.sample(x, num_samples, mean=mean)
    if isinstance(model, ConditionalDensityModel):
        if temperature == 0:
            raise ValueError(f"{type(model).__name__} cannot sample at temperature 0")
        return _predictive_samples(
            _tempered(model.predictive(x), temperature), num_samples, mean=mean
        )
    raise TypeError(
        f"{type(model).__name__} cannot sample at temperature {temperature}: it is neither a "
        "conditional latent model nor a conditional density model (plausible.models.protocols)"
    )


@torch.no_grad()
def draw_samples(
    model: nn.Module,
    *,
    num_samples: int,
    x: Tensor | None = None,
    num_groups: int = 1,
    temperature: float = 1.0,
    output: Output = "mean",
    seed: int = 0,
) -> Tensor:
    """S samples for each input (conditional models) or for each of ``num_groups`` groups.

    The temperature scales the latent noise: ``z = m + T (z0 - m)`` with ``z0`` from the prior
    and ``m`` its mean (``T = 1`` is the model, ``T = 0`` its prior mean). Models without latents
    temper their predictive density instead: a Gaussian mixture by
    :func:`~plausible.distributions.mixture.tempered` (weights ``softmax(logits / T)``, scales
    ``sqrt(T)``), a Gaussian by scales ``sqrt(T)``.

    Args:
        model: A :class:`~plausible.models.protocols.LatentVariableModel` (unconditional), a
            :class:`~plausible.models.protocols.ConditionalLatentModel` or a
            :class:`~plausible.models.protocols.ConditionalDensityModel`.
        num_samples: S.
        x: ``(B, ...)`` inputs of a conditional model; ``None`` for an unconditional one.
        num_groups: B for an unconditional model.
        temperature: T >= 0.
        output: What to return from the observation model p(.|z): its ``mean``, its ``mode``
            (e.g. binary pixels for a Bernoulli) or a ``sample``. A model without latents
            returns draws of p(y|x) for ``sample``, and otherwise the mean of each drawn mixture
            component (its prediction, for a single Gaussian).
        seed: Seed of the draws (the global RNG is restored afterwards).

    Returns:
        ``(S, B, ...)`` samples on the CPU.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            if x is not None:
                return (
                    _conditional_samples(model, x.to(device), num_samples, temperature, output)
                    .detach()
                    .cpu()
                )
            if not isinstance(model, LatentVariableModel):
                raise TypeError(
                    f"{type(model).__name__} cannot sample without an input x: it is not a "
                    "latent-variable model (prior(), decode(z))"
                )
            p_z = model.prior()
            z0 = p_z.sample((num_samples, num_groups))
            z = p_z.mean + temperature * (z0 - p_z.mean)
            return _observation(model.decode(z), output).cpu()
    finally:
        model.train(was_training)


# -- samples for the suite metrics ----------------------------------------------------------------
def like_the_data(real: Tensor, output: str) -> tuple[Output, str]:
    """Resolve ``output = "auto"``: compare generated with real examples like with like.

    Binary real data (every value 0 or 1) are compared with draws from p(x|z), since the means
    of a perfect Bernoulli model are grey and any classifier tells them from real binary images;
    other data with the means of p(x|z). Any other value is returned as given.

    Returns:
        The output to draw and a sentence that says why (for the result's settings).
    """
    if output in _OUTPUTS:
        return _OUTPUTS[output], "as set"
    if output != "auto":
        raise ValueError(f"output must be auto, mean, mode or sample, got {output!r}")
    if bool(((real == 0) | (real == 1)).all()):
        return "sample", "auto: the real examples are binary, so draws from p(x|z) are compared"
    return "mean", "auto: the real examples are not binary, so the means of p(x|z) are compared"


def paired_samples(
    model: nn.Module,
    data: TaskData,
    *,
    num_samples: int,
    n: int,
    output: Output,
    seed: int,
    temperature: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """``(S, B, ...)`` samples and the matching real examples ``(B, ...)`` (targets or images).

    Conditional tasks draw S samples for each of the first ``n`` test inputs; unconditional ones
    draw ``n`` groups of S from the prior and pair them with the first ``n`` test images.
    """
    if conditional(data):
        x, y = data.test["x"][: n or None], data.test["y"][: n or None]
        if not isinstance(model, ConditionalModel):
            raise NotApplicableError(
                f"{type(model).__name__} is not a conditional model: it cannot sample y given x"
            )
        samples = draw_samples(
            model, x=x, num_samples=num_samples, temperature=temperature, output=output, seed=seed
        )
        return samples.reshape(num_samples, len(y), *y.shape[1:]), y
    if not isinstance(model, LatentVariableModel):
        raise NotApplicableError(
            f"{type(model).__name__} is not a latent-variable model: unconditional sampling "
            "needs prior() and decode(z)"
        )
    real = held_out_inputs(data, n)
    samples = draw_samples(
        model,
        num_samples=num_samples,
        num_groups=len(real),
        temperature=temperature,
        output=output,
        seed=seed,
    )
    return samples, real


@suite_metric(
    "apd",
    "diversity: average pairwise distance between S samples per input (Aliakbarian 2020)",
)
def apd_metric(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    """The ``apd`` suite metric: :func:`average_pairwise_distance` of S samples per input."""
    opts = options(
        settings, "apd", {"num_samples": 10, "num_examples": 500, "output": "mean", "seed": 0}
    )
    samples, _ = paired_samples(
        model,
        data,
        num_samples=int(opts["num_samples"]),
        n=int(opts["num_examples"]),
        output=opts["output"],
        seed=int(opts["seed"]),
    )
    values = average_pairwise_distance(samples)
    groups = "inputs" if conditional(data) else "independent groups of prior samples"
    return {
        "apd": summary(values),
        "settings": opts,
        "details": {"groups": groups, "units": "L2 distance in output units"},
    }
