"""Posterior diagnostics: KL per latent dimension and active units (Burda et al., 2016)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from plausible.distributions.kl import kl_per_dimension

__all__ = ["ACTIVE_UNIT_THRESHOLD", "active_units", "kl_per_latent_dimension", "posterior_means"]

#: Burda et al. (2016): a unit is active when its posterior mean varies by more than this.
ACTIVE_UNIT_THRESHOLD = 0.01


@torch.no_grad()
def posterior_means(model: nn.Module, x: Tensor, *, batch_size: int = 1000) -> Tensor:
    """``E_q[z|x]`` for every row of ``x``: ``(N, latent_dim)`` on the CPU."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return torch.cat(
            [
                model.encode(x[i : i + batch_size].to(device)).mean.cpu()  # type: ignore[operator]
                for i in range(0, len(x), batch_size)
            ]
        )
    finally:
        model.train(was_training)


@torch.no_grad()
def kl_per_latent_dimension(model: nn.Module, x: Tensor, *, batch_size: int = 1000) -> Tensor:
    """Mean over the data of ``KL(q(z_d|x) || p(z_d))`` for each latent dimension: ``(D,)`` nats."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = None
    try:
        for i in range(0, len(x), batch_size):
            q_z = model.encode(x[i : i + batch_size].to(device))  # type: ignore[operator]
            kl = kl_per_dimension(q_z, model.prior())  # type: ignore[operator]
            s = kl.sum(0).cpu().double()
            total = s if total is None else total + s
    finally:
        model.train(was_training)
    assert total is not None
    return (total / len(x)).float()


def active_units(means: Tensor, *, threshold: float = ACTIVE_UNIT_THRESHOLD) -> tuple[int, Tensor]:
    """Count dimensions whose posterior mean varies across the data.

    A unit u is active when ``Cov_x(E_q[u|x]) > threshold`` (Burda et al., 2016, with 0.01).

    Args:
        means: ``(N, D)`` posterior means.
        threshold: Variance threshold.

    Returns:
        ``(count, variances)`` with ``variances`` of shape ``(D,)``.
    """
    variances = means.double().var(0, unbiased=True).float()
    return int((variances > threshold).sum()), variances
