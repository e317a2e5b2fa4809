"""The evidence lower bound, with beta (beta-VAE), free bits and the capacity objective."""

from __future__ import annotations

from typing import Literal, Protocol

import torch
from torch import Tensor
from torch.distributions import Distribution, kl_divergence

from plausible.distributions.kl import kl_per_dimension
from plausible.objectives.output import ObjectiveOutput
from plausible.registry import OBJECTIVES

__all__ = ["LatentOutput", "Reduction", "capacity_penalty", "elbo", "free_bits_penalty", "kl_term"]

Reduction = Literal["batch", "example"]


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


def _check_mode(name: str, mode: str) -> None:
    if mode not in ("batch", "example"):
        raise ValueError(
            f"{name} must be 'batch' (the published form, on the minibatch average) or "
            f"'example' (on each example), got {mode!r}"
        )


def free_bits_penalty(kl_dims: Tensor, free_bits: float, *, mode: Reduction = "batch") -> Tensor:
    """KL penalty with ``free_bits`` nats per latent dimension left unpenalised.

    ``mode="batch"`` is the form of Kingma et al. (2016, appendix C.8, and their code), which
    floors the minibatch-averaged KL of each dimension ``j``::

        penalty = sum_j max(lambda, (1/B) sum_b KL_bj)

    It is returned per example so that the trainer's batch mean is exactly that penalty: example
    ``b`` contributes ``KL_bj`` for a dimension whose batch mean is at least ``lambda`` and the
    constant ``lambda`` (no gradient) for one below it. A dimension is then free only while the
    batch as a whole uses less than ``lambda`` nats of it; one example's value depends on the
    others in its batch (under data parallelism, on the batch of its process).

    ``mode="example"`` floors each example's KL per dimension,
    ``penalty_b = sum_j max(lambda, KL_bj)``: a dimension is free for every example that uses
    less than ``lambda`` nats of it, so its mean penalty is at least the batch form's.

    Args:
        kl_dims: ``(B, D)`` KL per example and latent dimension, in nats.
        free_bits: ``lambda``, nats per dimension.
        mode: ``batch`` or ``example``.

    Returns:
        ``(B,)`` penalty in nats.
    """
    _check_mode("free_bits_mode", mode)
    if mode == "example":
        return torch.clamp(kl_dims, min=free_bits).sum(-1)
    below = kl_dims.mean(0, keepdim=True) < free_bits
    return torch.where(below, torch.full_like(kl_dims, free_bits), kl_dims).sum(-1)


def capacity_penalty(kl: Tensor, capacity: float, *, mode: Reduction = "batch") -> Tensor:
    """Distance of the KL from a target capacity ``C``, in nats.

    ``mode="batch"`` is the form of Burgess et al. (2018) and their reference implementation,
    ``|(1/B) sum_b KL_b - C|`` on the minibatch-averaged KL. It is returned per example as
    ``sign(mean_KL - C) * (KL_b - C)``, whose batch mean and gradient are exactly that penalty;
    single values may be negative (an example below ``C`` in a batch above it).

    ``mode="example"`` is ``|KL_b - C|`` for each example, which the trainer averages to
    ``(1/B) sum_b |KL_b - C|``: at least the batch form, and it pushes every example towards
    ``C`` rather than the batch's average.

    Args:
        kl: ``(B,)`` KL (or free-bits penalty) per example, in nats.
        capacity: ``C``, in nats.
        mode: ``batch`` or ``example``.

    Returns:
        ``(B,)`` penalty in nats.
    """
    _check_mode("capacity_mode", mode)
    if mode == "example":
        return (kl - capacity).abs()
    # The sign is piecewise constant, so detaching it changes no gradient; it keeps the
    # graph small.
    sign = torch.sign(kl.mean() - capacity).detach()
    return sign * (kl - capacity)


def elbo(
    out: LatentOutput,
    x: Tensor,
    *,
    beta: float = 1.0,
    free_bits: float = 0.0,
    free_bits_mode: Reduction = "batch",
    capacity: float | None = None,
    capacity_mode: Reduction = "batch",
    analytic_kl: bool = True,
) -> ObjectiveOutput:
    """Negative ELBO ``-E_q[log p(x|z)] + beta * KL(q(z|x) || p(z))`` per example.

    beta = 1 is the VAE of Kingma & Welling; beta > 1 is the beta-VAE of Higgins et al. (2017).
    With ``free_bits = lambda > 0`` the KL is replaced by the free-bits penalty of Kingma et al.
    (2016), ``sum_j max(lambda, (1/B) sum_b KL_bj)`` on the minibatch average of each latent
    dimension (``free_bits_mode="example"``: ``sum_j max(lambda, KL_bj)`` per example); see
    :func:`free_bits_penalty`. With ``capacity = C`` the penalty becomes
    ``beta * |(1/B) sum_b KL_b - C|``, the controlled-capacity objective of Burgess et al. (2018),
    where beta plays the role of gamma (``capacity_mode="example"``: ``|KL_b - C|`` per
    example); see :func:`capacity_penalty`. The batch forms are returned per example so that
    the trainer's batch mean equals the published loss, value and gradient.

    Args:
        out: Model output holding ``q_z``, ``p_z``, a reparameterised sample ``z`` and ``p_x``.
        x: ``(B, *x_shape)`` observations.
        beta: Weight of the KL penalty (may follow a schedule in training).
        free_bits: Nats per latent dimension that are free (needs factorised ``q_z`` and ``p_z``).
        free_bits_mode: ``batch`` (published) or ``example``.
        capacity: Target KL in nats for the capacity objective; ``None`` for the plain ELBO.
        capacity_mode: ``batch`` (published) or ``example``.
        analytic_kl: Use the closed-form KL when one is registered.

    Returns:
        ``loss`` (B,) plus terms ``reconstruction`` (-log p(x|z)), ``kl`` and ``elbo``, in nats.
        The ``elbo`` term is the true bound (beta = 1, no free bits) whatever the penalty is.

    References:
        Kingma, D. P. et al. "Improved Variational Inference with Inverse Autoregressive Flow."
        NeurIPS 2016 (free bits: appendix C.8).
        Burgess, C. P. et al. "Understanding disentangling in beta-VAE." 2018.
    """
    # Checked here too, so a bad mode is reported even when its option is off.
    _check_mode("free_bits_mode", free_bits_mode)
    _check_mode("capacity_mode", capacity_mode)
    reconstruction = -out.p_x.log_prob(x)
    if free_bits > 0:
        kl_dims = kl_per_dimension(out.q_z, out.p_z)
        kl = kl_dims.sum(-1)
        penalty = free_bits_penalty(kl_dims, free_bits, mode=free_bits_mode)
    else:
        kl = kl_term(out.q_z, out.p_z, out.z, analytic=analytic_kl)
        penalty = kl
    if capacity is not None:
        penalty = capacity_penalty(penalty, capacity, mode=capacity_mode)
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
    free_bits_mode: Reduction = "batch",
    capacity: float | None = None,
    capacity_mode: Reduction = "batch",
    analytic_kl: bool = True,
) -> ObjectiveOutput:
    """Training adapter: run ``model`` on ``batch["x"]`` and score it with :func:`elbo`."""
    x = batch["x"]
    return elbo(
        model(x),
        x,
        beta=beta,
        free_bits=free_bits,
        free_bits_mode=free_bits_mode,
        capacity=capacity,
        capacity_mode=capacity_mode,
        analytic_kl=analytic_kl,
    )
