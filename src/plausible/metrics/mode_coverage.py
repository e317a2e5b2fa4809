"""How sampled futures spread over the known modes of the law of the future.

A data set that knows its law (:class:`~plausible.data.sequences.FutureLaw`) says which modes
are possible after each history and with what probabilities. K sampled futures are scored by the
share of the possible modes that some future lies on (coverage), the share of the futures that
lie on a mode, and the total variation between their share per mode and the mode probabilities.
The law's own sampler sets the reference: its expected coverage is exact
(:func:`expected_coverage`), and its total variation from K draws is not zero (the floor any
sampler meets with K draws).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from plausible.data.sequences import FutureLaw, draw_mode_means

__all__ = ["expected_coverage", "expected_coverage_values", "law_draws", "mode_statistics"]


def expected_coverage_values(probs: Tensor, num_samples: int) -> Tensor:
    """``(B,)`` expected coverage of K exact draws per example (see :func:`expected_coverage`)."""
    possible = probs > 0
    reached = torch.where(possible, 1.0 - (1.0 - probs.double()) ** num_samples, 0.0)
    return reached.sum(-1) / possible.sum(-1)


def expected_coverage(probs: Tensor, num_samples: int) -> float:
    """Mode coverage of K exact draws from the law: what the ground-truth sampler scores.

    Per example, ``mean over modes with p_m > 0 of 1 - (1 - p_m)^K``, the chance that at least one
    of K independent draws takes mode m; then the mean over examples.

    Args:
        probs: ``(B, M)`` mode probabilities of each example.
        num_samples: K.
    """
    return float(expected_coverage_values(probs, num_samples).mean())


def law_draws(
    law: FutureLaw,
    x: Tensor,
    num_samples: int,
    *,
    mean: bool,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``(K, B, T, D)`` futures of the law: exact draws, or with ``mean`` the drawn modes' means.

    The means are the noise-free futures, what a model gives for ``sample(..., mean=True)``.
    """
    if not mean:
        return law.sample(x, num_samples, generator=generator)
    return draw_mode_means(law, x, num_samples, generator)


def mode_statistics(law: FutureLaw, x: Tensor, futures: Tensor) -> dict[str, Tensor]:
    """How K futures of each history spread over the law's modes.

    A future is *on* mode m when m is its nearest mode (``law.assign_modes``), m has positive
    probability, and the future lies within ``law.tolerance`` (L2 over the flattened future) of
    m's mean. Only futures on a mode count for it: being nearest is not enough, or a sampler
    whose futures scatter far from every mode would reach all of them with garbage.

    Args:
        law: The law of the future given the history.
        x: ``(B, T_obs, D)`` histories.
        futures: ``(K, B, T, D)`` futures.

    Returns:
        ``{"coverage"``: share of the modes with positive probability that some future is on,
        ``"on_mode_rate"``: share of the futures that are on a mode,
        ``"mode_tv"``: total variation between the futures' distribution over the M modes plus
        one outcome "off every mode" and the law's (which gives "off" no mass):
        ``1/2 (sum_m |n_m / K - p_m| + n_off / K)``, where ``n_m`` counts the futures on mode m
        and ``n_off`` those on none``}``, each ``(B,)``.
    """
    probs = law.mode_probs(x).double()
    modes = law.assign_modes(x, futures)  # (K, B)
    k, m = futures.shape[0], probs.shape[1]
    possible = probs > 0
    rows = torch.arange(len(x))
    nearest = law.mode_means(x)[rows, modes]  # (K, B, T, D)
    dist = (futures.double() - nearest.double()).flatten(2).norm(dim=-1)
    on_mode = (dist <= law.tolerance) & possible[rows, modes]  # (K, B)
    counts = (nn.functional.one_hot(modes, m).double() * on_mode[..., None]).sum(0)  # (B, M)
    off = k - counts.sum(-1)
    return {
        "coverage": ((counts > 0) & possible).sum(-1) / possible.sum(-1),
        "on_mode_rate": on_mode.double().mean(0),
        "mode_tv": 0.5 * ((counts / k - probs).abs().sum(-1) + off / k),
    }
