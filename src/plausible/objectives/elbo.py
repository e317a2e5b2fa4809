"""The evidence lower bound, with beta (beta-VAE), free bits and the capacity objective."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor
from torch.distributions import Distribution, kl_divergence

from plausible.distributions.kl import kl_per_dimension
from plausible.objectives.output import ObjectiveOutput
from plausible.registry import OBJECTIVES

__all__ = ["LatentOutput", "elbo", "kl_term"]


class LatentOutput(Protocol):
    """What a latent-variable model's ``forward`` returns (``VAEOutput`` is one)."""

    q_z: Distribution
    p_z: Distribution
    z: Tensor
    p_x: Distribution


def kl_term(q_z: Distribution, p_z: Distribution, z: Tensor, *, analytic: bool = True) -> Tensor:
    """KL(q || p) per example: closed form when registered, else the single-sample estimate.

    Args:
        q_z: Posterior, batch shape ``(B,)``.
        p_z: Prior, batch shape broadcastable to ``(B,)``.
        z: ``(B, D)`` sample from ``q_z`` used by the Monte-Carlo fallback.
        analytic: Use ``kl_divergence`` when a closed form is registered.

    Returns:
        ``(B,)`` KL in nats.
    """
    if analytic:
        try:
            return kl_divergence(q_z, p_z)
        except NotImplementedError:
            pass
    return q_z.log_prob(z) - p_z.log_prob(z)


def elbo(
    out: LatentOutput,
    x: Tensor,
    *,
    beta: float = 1.0,
    free_bits: float = 0.0,
    capacity: float | None = None,
    analytic_kl: bool = True,
) -> ObjectiveOutput:
    """Negative ELBO ``-E_q[log p(x|z)] + beta * KL(q(z|x) || p(z))`` per example.

    beta = 1 is the VAE of Kingma & Welling; beta > 1 is the beta-VAE of Higgins et al. (2017).
    With ``free_bits > 0`` each latent dimension's KL below that many nats is not penalised
    (Kingma et al., 2016). With ``capacity`` set, the penalty is ``beta * |KL - capacity|``,
    the controlled-capacity objective of Burgess et al. (2018), where beta plays the role of gamma.

    Args:
        out: Model output holding ``q_z``, ``p_z``, a reparameterised sample ``z`` and ``p_x``.
        x: ``(B, *x_shape)`` observations.
        beta: Weight of the KL penalty (may follow a schedule in training).
        free_bits: Nats per latent dimension that are free (needs factorised ``q_z`` and ``p_z``).
        capacity: Target KL in nats for the capacity objective; ``None`` for the plain ELBO.
        analytic_kl: Use the closed-form KL when one is registered.

    Returns:
        ``loss`` (B,) plus terms ``reconstruction`` (-log p(x|z)), ``kl`` and ``elbo``, in nats.
        The ``elbo`` term is the true bound (beta = 1, no free bits) whatever the penalty is.
    """
    reconstruction = -out.p_x.log_prob(x)
    if free_bits > 0:
        kl_dims = kl_per_dimension(out.q_z, out.p_z)
        kl = kl_dims.sum(-1)
        penalty = torch.clamp(kl_dims, min=free_bits).sum(-1)
    else:
        kl = kl_term(out.q_z, out.p_z, out.z, analytic=analytic_kl)
        penalty = kl
    if capacity is not None:
        penalty = (penalty - capacity).abs()
    loss = reconstruction + beta * penalty
    return ObjectiveOutput(
        loss=loss,
        terms={"reconstruction": reconstruction, "kl": kl, "elbo": -(reconstruction + kl)},
    )


@OBJECTIVES.register("elbo")
def elbo_objective(
    model: torch.nn.Module,
    batch: dict[str, Tensor],
    *,
    beta: float = 1.0,
    free_bits: float = 0.0,
    capacity: float | None = None,
    analytic_kl: bool = True,
) -> ObjectiveOutput:
    """Training adapter: run ``model`` on ``batch["x"]`` and score it with :func:`elbo`."""
    x = batch["x"]
    return elbo(
        model(x),
        x,
        beta=beta,
        free_bits=free_bits,
        capacity=capacity,  # type: ignore[arg-type]
        analytic_kl=analytic_kl,
    )
