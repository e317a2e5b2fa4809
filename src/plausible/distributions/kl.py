"""KL helpers on top of ``torch.distributions.kl`` (pairs are added with ``register_kl``)."""

from __future__ import annotations

from torch import Tensor
from torch.distributions import Distribution, Independent, kl_divergence

__all__ = ["kl_per_dimension"]


def kl_per_dimension(q: Distribution, p: Distribution) -> Tensor:
    """KL divergence per event element of two ``Independent`` distributions with factorised bases.

    Args:
        q: ``Independent`` distribution, batch shape ``(...)``, event shape ``(D,)``.
        p: ``Independent`` distribution with ``q``'s event shape; its batch shape broadcasts.

    Returns:
        ``(..., D)`` KL in nats; summing the last axis gives ``kl_divergence(q, p)``.
    """
    if not (isinstance(q, Independent) and isinstance(p, Independent)):
        raise TypeError(
            "kl_per_dimension needs two Independent distributions, got "
            f"{type(q).__name__} and {type(p).__name__}"
        )
    if q.event_shape != p.event_shape:
        raise ValueError(f"event shapes differ: {tuple(q.event_shape)} vs {tuple(p.event_shape)}")
    return kl_divergence(q.base_dist, p.base_dist)
