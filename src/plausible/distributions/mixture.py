"""Gaussian mixture head (raw outputs -> ``MixtureSameFamily``) and summaries of such mixtures."""

from __future__ import annotations

from typing import Literal, cast

import torch
import torch.nn.functional as F
from torch import Tensor, distributions, nn
from torch.distributions import (
    Categorical,
    Distribution,
    MixtureSameFamily,
    Normal,
    constraints,
)

from plausible.distributions.heads import full_precision
from plausible.distributions.independent import Independent

__all__ = [
    "Covariance",
    "GaussianMixtureHead",
    "approximate_mode",
    "gaussian_mixture",
    "mixture_parts",
    "tempered",
    "top_hypotheses",
]

Covariance = Literal["isotropic", "diagonal"]


def gaussian_mixture(logits: Tensor, loc: Tensor, scale: Tensor) -> MixtureSameFamily:
    """A mixture of diagonal Gaussians from its parameters.

    Args:
        logits: ``(..., K)`` unnormalised log mixing weights.
        loc: ``(..., K, D)`` component means.
        scale: ``(..., K, D)`` positive standard deviations, or broadcastable (``(..., K, 1)``).

    Returns:
        ``MixtureSameFamily`` with batch shape ``(...)`` and event shape ``(D,)``.
    """
    if loc.dim() < 2 or logits.shape[-1] != loc.shape[-2]:
        raise ValueError(
            f"logits (..., K) and loc (..., K, D) disagree on K: got logits "
            f"{tuple(logits.shape)} and loc {tuple(loc.shape)}"
        )
    components = Independent(Normal(loc, scale.expand_as(loc)), 1)
    return _GaussianMixture(Categorical(logits=logits), components)


class _GaussianMixture(MixtureSameFamily):
    """``MixtureSameFamily`` whose support check also takes an empty batch.

    torch checks a value against the components' support with a reshape to ``(..., -1)``, which
    is ambiguous with no example. Gaussian components share their support (all of R^D), so the
    components' own check (plausible's ``Independent``, which reduces over dimensions) serves.
    """

    @constraints.dependent_property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        # Typed Optional by torch; the Gaussian components used here always declare theirs.
        return cast(constraints.Constraint, self.component_distribution.support)


def mixture_parts(p_y: Distribution) -> tuple[Tensor, Tensor, Tensor]:
    """Normalised log weights, means and scales of a diagonal Gaussian mixture.

    Args:
        p_y: ``MixtureSameFamily`` over ``Independent(Normal, 1)`` components, batch ``(...)``.

    Returns:
        ``log_probs`` ``(..., K)`` (``log pi_k``, summing to one in probability), ``loc``
        ``(..., K, D)`` and ``scale`` ``(..., K, D)``.
    """
    if not isinstance(p_y, MixtureSameFamily):
        raise TypeError(
            f"expected a MixtureSameFamily (what an MDN returns), got {type(p_y).__name__}"
        )
    comp = p_y.component_distribution
    if not (
        isinstance(comp, distributions.Independent)
        and isinstance(comp.base_dist, Normal)
        and comp.reinterpreted_batch_ndims == 1
    ):
        raise TypeError(
            "expected mixture components Independent(Normal(loc, scale), 1) (diagonal Gaussians), "
            f"got {comp!r}; build the mixture with gaussian_mixture() or GaussianMixtureHead"
        )
    log_probs = torch.log_softmax(p_y.mixture_distribution.logits, dim=-1)
    return log_probs, comp.base_dist.loc, comp.base_dist.scale


class GaussianMixtureHead(nn.Module):
    """Map raw network outputs to a mixture of ``K`` Gaussians over a ``D``-dimensional target.

    The raw vector is split into ``K`` mixing logits (softmax weights, kept as logits), ``K * D``
    means (used as they are) and ``K`` (isotropic: one scale per component, as in Bishop 1994
    and Li & Lee 2019) or ``K * D`` (diagonal) raw scales mapped by ``softplus(raw) + min_scale``,
    which is positive, grows linearly instead of exponentially, and never reaches zero.

    Any backbone can feed it: ``nn.Sequential(backbone, nn.Linear(h, head.param_size), head)``
    is a module that returns ``p(y | x)``.

    Args:
        event_dim: Target dimension ``D``.
        num_components: Number of mixture components ``K``.
        covariance: ``isotropic`` (one scale per component) or ``diagonal`` (one per dimension).
        min_scale: Floor on every standard deviation, in target units.

    References:
        Bishop, C. M. "Mixture Density Networks." Technical report NCRG/94/004, Aston
        University, 1994.
    """

    def __init__(
        self,
        event_dim: int,
        num_components: int,
        *,
        covariance: Covariance = "isotropic",
        min_scale: float = 1e-3,
    ) -> None:
        super().__init__()
        if event_dim < 1 or num_components < 1:
            raise ValueError(
                f"event_dim and num_components must be >= 1, got {event_dim} and {num_components}"
            )
        if covariance not in ("isotropic", "diagonal"):
            raise ValueError(f"covariance must be 'isotropic' or 'diagonal', got {covariance!r}")
        if not min_scale > 0:
            raise ValueError(f"min_scale must be > 0 so scales stay positive, got {min_scale}")
        self.event_dim = int(event_dim)
        self.num_components = int(num_components)
        self.covariance = covariance
        self.min_scale = float(min_scale)
        self.event_shape = (self.event_dim,)

    @property
    def scale_size(self) -> int:
        """Raw scale values per component: 1 (isotropic) or ``D`` (diagonal)."""
        return 1 if self.covariance == "isotropic" else self.event_dim

    @property
    def param_size(self) -> int:
        """Raw values the network must produce per example: ``K * (1 + D + scale_size)``."""
        return self.num_components * (1 + self.event_dim + self.scale_size)

    def split(self, params: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(..., param_size)`` -> logits ``(..., K)``, loc ``(..., K, D)``, raw scale
        ``(..., K, 1 or D)``, in float32 or better (see :func:`full_precision`)."""
        params = full_precision(params)
        if params.shape[-1] != self.param_size:
            raise ValueError(
                f"GaussianMixtureHead(K={self.num_components}, D={self.event_dim}, "
                f"{self.covariance}) expects {self.param_size} raw values per example, got shape "
                f"{tuple(params.shape)}; size the layer before the head with head.param_size"
            )
        k, d = self.num_components, self.event_dim
        logits, loc, raw_scale = params.split([k, k * d, k * self.scale_size], dim=-1)
        return (
            logits,
            loc.unflatten(-1, (k, d)),
            raw_scale.unflatten(-1, (k, self.scale_size)),
        )

    def forward(self, params: Tensor) -> MixtureSameFamily:
        """Mixture with batch shape ``params.shape[:-1]`` and event shape ``(D,)``."""
        logits, loc, raw_scale = self.split(params)
        scale = F.softplus(raw_scale) + self.min_scale
        return gaussian_mixture(logits, loc, scale)

    def extra_repr(self) -> str:
        return (
            f"event_dim={self.event_dim}, num_components={self.num_components}, "
            f"covariance={self.covariance!r}, min_scale={self.min_scale}"
        )


def tempered(p_y: MixtureSameFamily, temperature: float) -> MixtureSameFamily:
    """The mixture sampled at a temperature: weights ``softmax(logits / T)``, scales ``sqrt(T)``.

    ``T = 1`` is the model itself; ``T -> 0`` concentrates on the mean of the most probable
    component (Bishop's approximate mode); ``T > 1`` spreads samples out (Ha & Eck, 2018).

    Args:
        p_y: Diagonal Gaussian mixture.
        temperature: ``T > 0``.

    Returns:
        A new mixture with the same batch and event shapes.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    log_probs, loc, scale = mixture_parts(p_y)
    return gaussian_mixture(log_probs / temperature, loc, scale * temperature**0.5)


def approximate_mode(p_y: MixtureSameFamily) -> Tensor:
    """Mean of the component with the largest mixing weight (Bishop 2006, section 5.6).

    Returns:
        ``(..., D)`` for a mixture with batch shape ``(...)``.
    """
    log_probs, loc, _ = mixture_parts(p_y)
    index = log_probs.argmax(-1)[..., None, None].expand(*loc.shape[:-2], 1, loc.shape[-1])
    return loc.gather(-2, index).squeeze(-2)


def top_hypotheses(p_y: Distribution, num_hypotheses: int | None = None) -> tuple[Tensor, Tensor]:
    """Component means ranked by mixing weight, as a set of hypotheses.

    A distribution that is not a mixture gives one hypothesis, its mean, with weight 1, so
    regression baselines can be scored by the same code.

    Args:
        p_y: Distribution with batch shape ``(B,)`` and event shape ``(D,)``.
        num_hypotheses: Keep the ``N`` heaviest components; ``None`` keeps all ``K``.

    Returns:
        ``loc`` ``(N, B, D)`` (hypothesis first, like samples) and ``probs`` ``(N, B)``,
        heaviest first.
    """
    if not isinstance(p_y, MixtureSameFamily):
        mean = p_y.mean
        return mean.unsqueeze(0), torch.ones_like(mean[..., 0]).unsqueeze(0)
    log_probs, loc, _ = mixture_parts(p_y)
    k = log_probs.shape[-1]
    n = k if num_hypotheses is None else int(num_hypotheses)
    if not 1 <= n <= k:
        raise ValueError(f"num_hypotheses must be in [1, {k}] for a {k}-component mixture, got {n}")
    top, index = log_probs.topk(n, dim=-1)
    ranked = loc.gather(-2, index[..., None].expand(*index.shape, loc.shape[-1]))
    return ranked.movedim(-2, 0), top.exp().movedim(-1, 0)
