"""Mix-and-Match: a random subset of hidden units carries one signal, the complement another."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["mix_and_match", "sample_units"]


def sample_units(
    shape: Sequence[int],
    size: int,
    rate: float | Tensor,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Draw, for every row, a uniformly random subset of ``round(rate * size)`` of ``size`` units.

    The ranks of i.i.d. uniform scores form a uniform random permutation, so the units ranked
    below ``k`` are a uniform ``k``-subset; rows are independent. A tensor ``rate`` (a curriculum
    held on the device) is rounded on the device, so drawing never waits for the host.

    Args:
        shape: Leading shape, one subset per element, e.g. ``(B,)``.
        size: Number of units ``H``.
        rate: Fraction of the units to select, in ``[0, 1]``.
        generator: Source of randomness; torch's global generator when ``None``.
        device: Where the mask lives (the generator's device when one is given).

    Returns:
        Boolean mask ``(*shape, size)``, ``True`` on the selected units.
    """
    if generator is not None and device is None:
        device = generator.device
    scores = torch.rand((*shape, size), generator=generator, device=device)
    ranks = scores.argsort(-1).argsort(-1)
    if isinstance(rate, Tensor):
        k = torch.round(rate.to(device=ranks.device, dtype=torch.float32) * size)
    else:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be in [0, 1], got {rate}")
        k = torch.tensor(round(rate * size), device=ranks.device)
    return ranks < k


def mix_and_match(
    condition: Tensor,
    data: Tensor,
    rate: float | Tensor,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Mix-and-Match conditioning (Aliakbarian et al., 2020): resample two same-size signals.

    A random subset ``I`` of the ``H`` units, ``|I| = round(rate * H)``, drawn independently for
    every row, takes its values from ``condition``; the complement takes them from ``data``.

    Args:
        condition: ``(..., H)`` representation of the condition.
        data: ``(..., H)`` representation of the other signal (the data or the latent), broadcast
            against ``condition``.
        rate: Fraction of the units that carry the condition.
        generator: Source of randomness; torch's global generator when ``None``.

    Returns:
        ``mixed`` ``(..., H)`` and the boolean ``mask`` ``(..., H)``, ``True`` where ``mixed``
        holds the condition.

    References:
        Aliakbarian, S., Saleh, F. S., Salzmann, M., Petersson, L. and Gould, S. "A Stochastic
        Conditioning Scheme for Diverse Human Motion Prediction." CVPR 2020.
    """
    if condition.shape[-1] != data.shape[-1]:
        raise ValueError(
            f"mix_and_match needs condition and data of the same width H, got "
            f"{tuple(condition.shape)} and {tuple(data.shape)}"
        )
    shape = torch.broadcast_shapes(condition.shape, data.shape)
    mask = sample_units(shape[:-1], shape[-1], rate, generator=generator, device=condition.device)
    return torch.where(mask, condition, data), mask
