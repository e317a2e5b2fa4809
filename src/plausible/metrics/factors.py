"""Known factors and the codes a model gives them: what every disentanglement score uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch
from torch import Tensor, nn

from plausible.metrics.latent import posterior_means
from plausible.models.protocols import LatentVariableModel

__all__ = [
    "GroundTruthData",
    "Representation",
    "check_counts",
    "posterior_mean_representation",
    "represent",
    "seeded_generator",
]

#: Maps a batch of observations ``(N, ...)`` to codes ``(N, D)``.
Representation = Callable[[Tensor], Tensor]


class GroundTruthData(Protocol):
    """Data generated from known, independent, discrete factors (e.g. :class:`~plausible.data.
    dsprites.DSprites`): every metric here samples factors and renders their observations."""

    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]

    def sample_factors(self, num: int, generator: torch.Generator | None = None) -> Tensor:
        """``(num, K)`` integer factor classes, each uniform over its values."""
        ...

    def observations(self, factors: Tensor) -> Tensor:
        """Observations ``(N, ...)`` of ``(N, K)`` factor classes."""
        ...


def posterior_mean_representation(model: nn.Module, *, batch_size: int = 1024) -> Representation:
    """The code used by every published disentanglement score: the mean of q(z|x).

    Args:
        model: A model with ``encode(x) -> q(z|x)``.
        batch_size: Observations encoded at once.

    Returns:
        A function ``(N, ...) -> (N, D)`` that runs in eval mode without gradients, on the
        model's device, and returns CPU tensors.
    """
    if not isinstance(model, LatentVariableModel):
        raise TypeError(
            f"{type(model).__name__} is not a latent-variable model with encode(x) -> q(z|x); "
            "disentanglement scores need an encoder (see plausible.models.protocols)"
        )

    def codes(x: Tensor) -> Tensor:
        return posterior_means(model, x, batch_size=batch_size)

    return codes


def represent(
    ground_truth: GroundTruthData,
    representation: Representation,
    factors: Tensor,
    *,
    chunk: int = 4096,
) -> np.ndarray:
    """Render ``(N, K)`` factors and encode them, a chunk at a time: ``(N, D)`` float64."""
    parts = []
    for i in range(0, len(factors), chunk):
        obs = ground_truth.observations(factors[i : i + chunk])
        parts.append(representation(obs).detach().cpu().double().numpy())
    codes = np.concatenate(parts)
    if codes.ndim != 2 or len(codes) != len(factors):
        raise ValueError(
            f"the representation must map N observations to (N, D) codes; got {codes.shape} "
            f"for N = {len(factors)}"
        )
    return codes


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed`` (the factor draws of every score)."""
    return torch.Generator().manual_seed(int(seed))


def check_counts(**counts: int) -> None:
    """Refuse counts below 1, naming the setting."""
    for name, value in counts.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
