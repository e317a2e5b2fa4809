"""Priors as modules: parameters live in buffers so they follow the model's device and dtype."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Normal

from plausible.distributions.independent import Independent

__all__ = ["StandardNormalPrior"]


class StandardNormalPrior(nn.Module):
    """``N(0, I)`` over ``latent_dim`` dimensions, with batch shape ``()``.

    Args:
        latent_dim: Number of latent dimensions.
    """

    loc: Tensor
    scale: Tensor

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.register_buffer("loc", torch.zeros(int(latent_dim)))
        self.register_buffer("scale", torch.ones(int(latent_dim)))

    def forward(self) -> Distribution:
        return Independent(Normal(self.loc, self.scale), 1)
