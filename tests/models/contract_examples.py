"""One small example per registered model, for the model contract test.

Add an entry when you register a model: the contract test fails for any registered model
that has no example here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class ContractExample:
    """How to exercise one model.

    Attributes:
        build: Zero-argument constructor; called twice to check that save -> load round-trips.
        batch: A training batch for ``objective``.
        objective: Registered objective name.
        sample: ``model -> samples`` for the sampling check.
        sample_shape: Expected shape of ``sample(model)``.
    """

    build: Callable[[], nn.Module]
    batch: dict[str, Tensor]
    objective: str
    sample: Callable[[nn.Module], Tensor]
    sample_shape: tuple[int, ...]


def _vae_example(**kwargs: object) -> ContractExample:
    from plausible.models import VAE

    g = torch.Generator().manual_seed(1)
    x = (torch.rand(6, 1, 12, 10, generator=g) > 0.5).float()
    return ContractExample(
        build=lambda: VAE((1, 12, 10), latent_dim=3, hidden_dims=(16,), **kwargs),  # type: ignore[arg-type]
        batch={"x": x},
        objective="elbo",
        sample=lambda m: m.sample(4),  # type: ignore[operator]
        sample_shape=(4, 1, 12, 10),
    )


EXAMPLES: dict[str, Callable[[], ContractExample]] = {
    "vae": _vae_example,
    "vae-conv": lambda: _vae_example(architecture="conv", conv_channels=(4, 8)),
    "vae-gaussian-per-dim": lambda: _vae_example(likelihood="gaussian", likelihood_scale="per_dim"),
    "vae-continuous-bernoulli": lambda: _vae_example(likelihood="continuous_bernoulli"),
    "vae-laplace-shared": lambda: _vae_example(likelihood="laplace", likelihood_scale="shared"),
}
