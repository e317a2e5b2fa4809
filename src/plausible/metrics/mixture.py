"""Gaussian-mixture predictions: weight diagnostics, modes by fixed-point iteration, calibration."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, MixtureSameFamily, Normal

from plausible.distributions.mixture import mixture_parts

__all__ = [
    "MixtureModes",
    "component_usage",
    "dead_components",
    "interval_coverage",
    "mixing_entropy",
    "mixture_diagnostics",
    "mixture_modes",
    "pit_histogram",
    "probability_integral_transform",
    "responsibilities",
]


# -- mixing-weight diagnostics ---------------------------------------------------------------------


def mixing_entropy(p_y: MixtureSameFamily) -> Tensor:
    """Entropy of the mixing weights, ``-sum_k pi_k log pi_k``, in nats: ``(B,)``.

    0 when one component takes all the weight, ``log K`` when the weights are equal.
    """
    log_probs, _, _ = mixture_parts(p_y)
    return -(log_probs.exp() * log_probs).sum(-1)


def responsibilities(p_y: MixtureSameFamily, y: Tensor) -> Tensor:
    """Posterior component probabilities ``p(k | x, y)`` for targets ``(B, D)``: ``(B, K)``."""
    log_probs, _, _ = mixture_parts(p_y)
    joint = log_probs + p_y.component_distribution.log_prob(y.unsqueeze(-2))
    return torch.softmax(joint, dim=-1)


def component_usage(p_y: MixtureSameFamily, y: Tensor | None = None) -> dict[str, Tensor]:
    """How much each component is used over a data set (the batch of ``p_y``).

    Args:
        p_y: Mixture with batch shape ``(N,)``, e.g. an MDN applied to a whole test set.
        y: ``(N, D)`` targets; when given, also the mean responsibility of each component.

    Returns:
        ``mean_weight`` ``(K,)`` (average ``pi_k(x)``), ``argmax_share`` ``(K,)`` (fraction of
        inputs where ``k`` is the heaviest component) and, with ``y``, ``mean_responsibility``.
    """
    log_probs, _, _ = mixture_parts(p_y)
    flat = log_probs.reshape(-1, log_probs.shape[-1])
    k = flat.shape[-1]
    out = {
        "mean_weight": flat.exp().mean(0),
        "argmax_share": torch.bincount(flat.argmax(-1), minlength=k).to(flat.dtype) / flat.shape[0],
    }
    if y is not None:
        out["mean_responsibility"] = responsibilities(p_y, y).reshape(-1, k).mean(0)
    return out


def dead_components(mean_weight: Tensor, threshold: float = 1e-3) -> list[int]:
    """Indices of components whose average weight is below ``threshold`` (never used)."""
    return [int(i) for i in torch.nonzero(mean_weight < threshold).flatten()]


def mixture_diagnostics(
    p_y: MixtureSameFamily, y: Tensor | None = None, *, dead_threshold: float = 1e-3
) -> dict[str, Any]:
    """JSON-ready summary of the mixing weights over a data set.

    Returns:
        ``mixing_entropy`` (mean, nats) with its maximum ``log K``, ``effective_components``
        (mean ``exp(entropy)``), per-component ``mean_weight``, ``argmax_share`` (and
        ``mean_responsibility`` with ``y``), and ``dead_components`` (mean weight below
        ``dead_threshold``).
    """
    entropy = mixing_entropy(p_y)
    usage = component_usage(p_y, y)
    k = usage["mean_weight"].shape[0]
    out: dict[str, Any] = {
        "mixing_entropy": float(entropy.mean()),
        "max_mixing_entropy": math.log(k),
        "effective_components": float(entropy.exp().mean()),
        "dead_components": dead_components(usage["mean_weight"], dead_threshold),
        "dead_threshold": dead_threshold,
    }
    for name, value in usage.items():
        out[name] = [round(float(v), 6) for v in value]
    return out


# -- modes -----------------------------------------------------------------------------------------


@dataclass
class MixtureModes:
    """The modes found for each mixture in a batch, densest first.

    Attributes:
        loc: ``(B, M, D)`` mode locations, NaN where ``valid`` is false.
        log_prob: ``(B, M)`` log-density at each mode, ``-inf`` where ``valid`` is false.
        valid: ``(B, M)`` which slots hold a mode.
        converged: ``(B,)`` whether every start of that mixture converged within ``max_iter``.
    """

    loc: Tensor
    log_prob: Tensor
    valid: Tensor
    converged: Tensor

    @property
    def num_modes(self) -> Tensor:
        """``(B,)`` number of distinct modes."""
        return self.valid.sum(-1)


def _starting_points(
    log_probs: Tensor, loc: Tensor, scale: Tensor, num_samples: int, seed: int
) -> Tensor:
    """Component means, midpoints of all pairs of means, draws from the mixture: ``(S, B, D)``."""
    k = loc.shape[-2]
    starts = [loc.movedim(-2, 0)]
    if k > 1:
        i, j = torch.triu_indices(k, k, offset=1, device=loc.device)
        starts.append(((loc[..., i, :] + loc[..., j, :]) / 2).movedim(-2, 0))
    if num_samples > 0:
        gen = torch.Generator(device=loc.device).manual_seed(seed)
        probs = log_probs.exp().reshape(-1, k)
        comp = torch.multinomial(probs, num_samples, replacement=True, generator=gen)
        comp = comp.T.reshape(num_samples, *loc.shape[:-2])  # (S, B)
        index = comp[..., None, None].expand(*comp.shape, 1, loc.shape[-1])
        mu = loc.unsqueeze(0).expand(num_samples, *loc.shape).gather(-2, index).squeeze(-2)
        sd = scale.unsqueeze(0).expand(num_samples, *scale.shape).gather(-2, index).squeeze(-2)
        noise = torch.randn(mu.shape, generator=gen, device=loc.device, dtype=loc.dtype)
        starts.append(mu + sd * noise)
    return torch.cat(starts, dim=0)


def mixture_modes(
    p_y: MixtureSameFamily,
    *,
    num_samples: int = 16,
    max_iter: int = 1000,
    tol: float = 1e-7,
    merge_tol: float = 0.1,
    check_maximum: bool = True,
    min_density_ratio: float = 0.0,
    seed: int = 0,
) -> MixtureModes:
    """Modes of diagonal Gaussian mixtures by fixed-point iteration (Carreira-Perpinan, 2000).

    Setting the gradient of ``p(y)`` to zero gives the fixed point
    ``y = (sum_k r_k(y) S_k^-1)^-1 sum_k r_k(y) S_k^-1 mu_k`` with responsibilities
    ``r_k(y) = p(k | y)``, computed in log space. It is iterated from every component mean, every
    midpoint of two means and ``num_samples`` draws from the mixture: a mixture can have more
    modes than components (two components can have three modes), so the means alone may miss
    some. Converged points closer than ``merge_tol`` times the smallest component scale are
    merged; with ``check_maximum`` the ones whose Hessian of ``log p`` is not negative definite
    (saddles) are dropped.

    Args:
        p_y: Mixture with batch shape ``(B,)`` and event shape ``(D,)``.
        num_samples: Extra random starts drawn from the mixture (seeded by ``seed``).
        max_iter: Most iterations.
        tol: Stop when no start moves by more than ``tol`` times the smallest component scale.
        merge_tol: Merge distance, in units of the smallest component scale.
        check_maximum: Drop stationary points that are not local maxima (costs ``O(D^2)`` each).
        min_density_ratio: Drop modes whose density is below this fraction of the densest mode's
            (0 keeps all; a component with negligible weight far from the others makes a mode
            of negligible density).
        seed: Seed of the random starts.

    Returns:
        :class:`MixtureModes`, densest mode first.

    References:
        Carreira-Perpinan, M. A. "Mode-finding for mixtures of Gaussian distributions." IEEE
        TPAMI 22(11), 2000.
    """
    log_w, loc, scale = mixture_parts(p_y)
    if loc.dim() != 3:
        raise ValueError(
            f"mixture_modes expects batch shape (B,), got loc of shape {tuple(loc.shape)}"
        )
    scale = scale.expand_as(loc)
    precision = scale.pow(-2)  # (B, K, D)
    unit = scale.amin(dim=(-2, -1))  # (B,) smallest scale, the unit of tol and merge_tol
    components = p_y.component_distribution
    y = _starting_points(log_w, loc, scale, num_samples, seed)  # (S, B, D)
    converged = torch.zeros(y.shape[1], dtype=torch.bool, device=y.device)
    for _ in range(max_iter):
        log_r = torch.log_softmax(log_w + components.log_prob(y.unsqueeze(-2)), dim=-1)  # (S, B, K)
        weight = log_r.exp().unsqueeze(-1) * precision  # (S, B, K, D)
        new = (weight * loc).sum(-2) / weight.sum(-2)
        step = ((new - y).abs().amax(-1) / unit).amax(0)  # (B,)
        y = new
        converged = step < tol
        if bool(converged.all()):
            break
    log_prob = p_y.log_prob(y)  # (S, B)
    keep = torch.isfinite(log_prob)
    if check_maximum:
        log_r = torch.log_softmax(log_w + components.log_prob(y.unsqueeze(-2)), dim=-1)
        r = log_r.exp()  # (S, B, K)
        g = (loc - y.unsqueeze(-2)) * precision  # (S, B, K, D)
        hessian = torch.einsum("sbk,sbki,sbkj->sbij", r, g, g)
        hessian = hessian - torch.diag_embed((r.unsqueeze(-1) * precision).sum(-2))
        mean_g = (r.unsqueeze(-1) * g).sum(-2)
        hessian = hessian - mean_g.unsqueeze(-1) * mean_g.unsqueeze(-2)
        keep &= torch.linalg.eigvalsh(hessian).amax(-1) < 0
    if min_density_ratio > 0:
        best = torch.where(keep, log_prob, -math.inf).amax(0, keepdim=True)
        keep &= log_prob >= best + math.log(min_density_ratio)
    # Densest first, then greedily drop points within merge distance of a kept one.
    order = torch.where(keep, log_prob, -math.inf).argsort(dim=0, descending=True)
    y = y.gather(0, order.unsqueeze(-1).expand_as(y)).transpose(0, 1)  # (B, S, D)
    log_prob = log_prob.gather(0, order).T
    keep = keep.gather(0, order).T
    distance = torch.cdist(y, y) / unit[:, None, None]
    valid = torch.zeros_like(keep)
    for j in range(keep.shape[1]):
        close = (distance[:, j, :j] <= merge_tol) & valid[:, :j]
        valid[:, j] = keep[:, j] & ~close.any(-1)
    num = max(int(valid.sum(-1).max()), 1)
    order = torch.sort((~valid).to(torch.int8), dim=1, stable=True).indices[:, :num]
    valid = valid.gather(1, order)
    y = y.gather(1, order.unsqueeze(-1).expand(-1, -1, y.shape[-1]))
    log_prob = log_prob.gather(1, order)
    return MixtureModes(
        loc=torch.where(valid.unsqueeze(-1), y, math.nan),
        log_prob=torch.where(valid, log_prob, -math.inf),
        valid=valid,
        converged=converged,
    )


# -- calibration of 1-D predictions ------------------------------------------------------------


def probability_integral_transform(p_y: Distribution, y: Tensor) -> Tensor:
    """``F(y | x)``, the predictive CDF at the target, for 1-D targets: ``(B,)`` in ``[0, 1]``.

    Calibrated predictions give uniformly distributed values. Works for Gaussian mixtures (an
    MDN) and for ``Independent(Normal, 1)`` (a regression baseline).

    Args:
        p_y: Batch ``(B,)``, event ``(1,)``.
        y: ``(B, 1)`` targets.
    """
    if tuple(p_y.event_shape) != (1,) or y.shape[-1:] != (1,):
        raise ValueError(
            f"the PIT here is for 1-D targets (event shape (1,)); got event shape "
            f"{tuple(p_y.event_shape)} and targets {tuple(y.shape)}: use energy_score for "
            "multivariate targets"
        )
    if isinstance(p_y, MixtureSameFamily):
        log_w, loc, scale = mixture_parts(p_y)
        cdf = Normal(loc[..., 0], scale[..., 0]).cdf(y)  # (B, K) with y (B, 1) broadcast
        return (log_w.exp() * cdf).sum(-1)
    if isinstance(p_y, Independent) and isinstance(p_y.base_dist, Normal):
        return p_y.base_dist.cdf(y)[..., 0]
    raise TypeError(f"no CDF for {type(p_y).__name__}; expected a Gaussian mixture or Gaussian")


def pit_histogram(pit: Tensor, num_bins: int = 10) -> Tensor:
    """Density histogram of PIT values on ``[0, 1]``: ``(num_bins,)``, all 1.0 if calibrated."""
    counts = torch.histc(pit.double().clamp(0, 1), bins=num_bins, min=0.0, max=1.0)
    return counts * num_bins / max(pit.numel(), 1)


def interval_coverage(
    pit: Tensor, levels: Sequence[float] = (0.5, 0.8, 0.9, 0.95)
) -> dict[str, float]:
    """Fraction of targets inside the central ``level`` predictive interval, for each level.

    The central interval ``[F^-1((1 - l)/2), F^-1((1 + l)/2)]`` holds ``y`` exactly when its PIT
    value is in ``[(1 - l)/2, (1 + l)/2]``, so no quantile has to be inverted. A calibrated model
    covers a fraction ``l``.
    """
    out = {}
    for level in levels:
        if not 0 < level < 1:
            raise ValueError(f"interval levels must be in (0, 1), got {level}")
        lo, hi = (1 - level) / 2, (1 + level) / 2
        out[f"{level:g}"] = float(((pit >= lo) & (pit <= hi)).double().mean())
    return out
