"""The importance-weighted bound of Burda et al. (2016), vectorised over the K samples."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Distribution

from plausible.models.protocols import LatentVariableModel
from plausible.objectives.output import ObjectiveOutput
from plausible.registry import OBJECTIVES

__all__ = ["iwae_bound", "log_importance_weights", "multi_sample_elbo"]


def log_importance_weights(
    model: LatentVariableModel, x: Tensor, num_samples: int, q_z: Distribution | None = None
) -> Tensor:
    """``log p(x, z_k) - log q(z_k | x)`` for ``K`` samples ``z_k ~ q(z|x)``.

    Args:
        model: Latent-variable model.
        x: ``(B, *x_shape)`` observations.
        num_samples: K, the number of importance samples.
        q_z: The proposal, if already computed (lets callers encode once and draw many chunks).

    Returns:
        ``(K, B)`` log-weights in nats; ``logsumexp(., 0) - log K`` is the K-sample bound.
    """
    q_z = model.encode(x) if q_z is None else q_z
    z = q_z.rsample((num_samples,))
    p_x = model.decode(z)
    return p_x.log_prob(x) + model.prior().log_prob(z) - q_z.log_prob(z)


def iwae_bound(model: LatentVariableModel, x: Tensor, *, num_samples: int = 5) -> ObjectiveOutput:
    """Negative IWAE bound ``-log (1/K) sum_k w_k`` per example; K = 1 is the (MC-KL) ELBO.

    Args:
        model: Latent-variable model with ``encode``, ``decode`` and ``prior``.
        x: ``(B, *x_shape)`` observations.
        num_samples: K >= 1.

    Returns:
        ``loss`` (B,) in nats and the term ``iwae`` (the bound itself, B,).

    References:
        Burda, Y., Grosse, R. and Salakhutdinov, R. "Importance Weighted Autoencoders." ICLR 2016.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    log_w = log_importance_weights(model, x, num_samples)
    bound = torch.logsumexp(log_w, 0) - math.log(num_samples)
    return ObjectiveOutput(loss=-bound, terms={"iwae": bound})


@OBJECTIVES.register("iwae")
def iwae_objective(
    model: torch.nn.Module, batch: dict[str, Tensor], *, num_samples: int = 5
) -> ObjectiveOutput:
    """Training adapter for :func:`iwae_bound` on ``batch["x"]``."""
    if not isinstance(model, LatentVariableModel):
        raise TypeError(
            f"the iwae objective needs a LatentVariableModel (encode, decode, prior), not a "
            f"{type(model).__name__}; choose an objective for its protocol"
        )
    return iwae_bound(model, batch["x"], num_samples=int(num_samples))


def multi_sample_elbo(
    model: LatentVariableModel, x: Tensor, *, num_samples: int = 5
) -> ObjectiveOutput:
    """Negative k-sample ELBO ``-(1/k) sum_i log w_i``, the VAE objective of Burda et al.

    ``w_i = p(x, z_i) / q(z_i|x)`` with ``z_i ~ q(z|x)``. By Jensen's inequality it is never
    below the IWAE bound's ``-log (1/k) sum_i w_i`` on the same draws; k = 1 is that bound.

    Args:
        model: Latent-variable model with ``encode``, ``decode`` and ``prior``.
        x: ``(B, *x_shape)`` observations.
        num_samples: k >= 1.

    Returns:
        ``loss`` (B,) in nats and the term ``elbo`` (the bound itself, B,).

    References:
        Burda, Y., Grosse, R. and Salakhutdinov, R. "Importance Weighted Autoencoders." ICLR 2016.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    bound = log_importance_weights(model, x, num_samples).mean(0)
    return ObjectiveOutput(loss=-bound, terms={"elbo": bound})


@OBJECTIVES.register("multi-sample-elbo")
def multi_sample_elbo_objective(
    model: torch.nn.Module, batch: dict[str, Tensor], *, num_samples: int = 5
) -> ObjectiveOutput:
    """Training adapter for :func:`multi_sample_elbo` on ``batch["x"]``."""
    if not isinstance(model, LatentVariableModel):
        raise TypeError(
            f"the multi-sample-elbo objective needs a LatentVariableModel (encode, decode, "
            f"prior), not a {type(model).__name__}"
        )
    return multi_sample_elbo(model, batch["x"], num_samples=int(num_samples))
