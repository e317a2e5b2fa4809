"""Heads that turn a network's raw output into a ``torch.distributions.Distribution``.

A head owns the event shape and knows how many raw parameters it needs per event element
(``num_params``). Networks produce ``(..., num_params * prod(event_shape))`` values; the head
splits them, maps them to valid parameters (logits stay logits, scales go through
``softplus + min_scale``) and returns an ``Independent`` distribution whose batch shape is the
leading ``...``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import (
    Bernoulli,
    ContinuousBernoulli,
    Distribution,
    Laplace,
    Normal,
)

from plausible.distributions.independent import Independent
from plausible.registry import Registry

__all__ = [
    "HEADS",
    "BernoulliHead",
    "ContinuousBernoulliHead",
    "DiagonalGaussianHead",
    "DistributionHead",
    "GaussianLikelihood",
    "LaplaceLikelihood",
    "ScaleMode",
    "full_precision",
    "make_likelihood",
]

ScaleMode = Literal["fixed", "shared", "per_dim"]
HEADS: Registry[type[DistributionHead]] = Registry("likelihood")


def full_precision(params: Tensor) -> Tensor:
    """``params`` in float32 when autocast (mixed precision) produced them in half precision.

    Mixed precision speeds up the networks' matrix products; the densities stay in float32,
    because they sum hundreds of per-element terms: with bfloat16's 8-bit mantissa a
    log-likelihood of a few hundred nats would be off by about a nat. A model converted to half
    precision as a whole (``model.to(torch.bfloat16)``) is left in it.
    """
    low = params.dtype in (torch.float16, torch.bfloat16)
    return params.float() if low and torch.is_autocast_enabled(params.device.type) else params


def _inverse_softplus(y: float) -> float:
    # log(exp(y) - 1), written to stay finite for large y.
    return y + math.log(-math.expm1(-y))


class DistributionHead(nn.Module):
    """Base class: split raw parameters ``(..., P * prod(event_shape))`` into ``P`` tensors.

    Args:
        event_shape: Shape of one observation, e.g. ``(32,)`` or ``(1, 28, 28)``.
    """

    num_params: int = 1

    def __init__(self, event_shape: Sequence[int]) -> None:
        super().__init__()
        self.event_shape = tuple(int(s) for s in event_shape)
        if not self.event_shape or any(s <= 0 for s in self.event_shape):
            raise ValueError(f"event_shape must be non-empty and positive, got {event_shape}")
        self.event_size = math.prod(self.event_shape)

    @property
    def param_size(self) -> int:
        """Number of raw values the network must produce per example."""
        return self.num_params * self.event_size

    def split(self, params: Tensor) -> list[Tensor]:
        """``(..., P * E)`` -> ``P`` tensors of shape ``(..., *event_shape)``, in float32 or
        better (see :func:`full_precision`)."""
        params = full_precision(params)
        if params.shape[-1] != self.param_size:
            raise ValueError(
                f"{type(self).__name__} expects {self.param_size} raw parameters per example "
                f"({self.num_params} x {self.event_shape}), got shape {tuple(params.shape)}"
            )
        return list(
            params.unflatten(-1, (self.num_params, *self.event_shape)).unbind(
                -1 - len(self.event_shape)
            )
        )

    def _independent(self, base: Distribution) -> Distribution:
        return Independent(base, len(self.event_shape))


class DiagonalGaussianHead(DistributionHead):
    """Diagonal Gaussian with input-dependent scale: the usual posterior ``q(z | x)``.

    Args:
        event_shape: Shape of one sample.
        min_scale: Floor added to ``softplus(raw)`` so the scale never reaches zero.
    """

    num_params = 2

    def __init__(self, event_shape: Sequence[int], *, min_scale: float = 1e-4) -> None:
        super().__init__(event_shape)
        self.min_scale = float(min_scale)

    def forward(self, params: Tensor) -> Distribution:
        loc, raw_scale = self.split(params)
        return self._independent(Normal(loc, F.softplus(raw_scale) + self.min_scale))


@HEADS.register("bernoulli")
class BernoulliHead(DistributionHead):
    """Bernoulli over each element, parameterised by logits.

    ``log_prob`` accepts targets in ``[0, 1]`` (argument validation is off), where it is the
    negative binary cross-entropy; that is a proper likelihood only for binary data.
    """

    def forward(self, params: Tensor) -> Distribution:
        (logits,) = self.split(params)
        return self._independent(Bernoulli(logits=logits, validate_args=False))


@HEADS.register("continuous_bernoulli")
class ContinuousBernoulliHead(DistributionHead):
    """Continuous Bernoulli (Loaiza-Ganem & Cunningham, 2019): a normalised density on ``[0, 1]``.

    References:
        Loaiza-Ganem, G. and Cunningham, J. P. "The continuous Bernoulli: fixing a pervasive error
        in variational autoencoders." NeurIPS 2019.
    """

    def forward(self, params: Tensor) -> Distribution:
        (logits,) = self.split(params)
        # Logits are clamped because the normaliser is evaluated in float and loses precision
        # when the probability is within ~1e-7 of 0 or 1.
        return self._independent(ContinuousBernoulli(logits=logits.clamp(-15.0, 15.0)))


class _LocScaleLikelihood(DistributionHead):
    """Location from the network; scale fixed, shared (one learned scalar) or per dimension."""

    family: Any = Normal  # a loc-scale family: Normal or Laplace

    def __init__(
        self,
        event_shape: Sequence[int],
        *,
        scale: ScaleMode = "fixed",
        init_scale: float = 1.0,
        min_scale: float = 1e-3,
    ) -> None:
        super().__init__(event_shape)
        if scale not in ("fixed", "shared", "per_dim"):
            raise ValueError(f"scale must be 'fixed', 'shared' or 'per_dim', got {scale!r}")
        if init_scale <= min_scale:
            raise ValueError(f"init_scale ({init_scale}) must exceed min_scale ({min_scale})")
        self.scale_mode = scale
        self.min_scale = float(min_scale)
        raw = _inverse_softplus(init_scale - min_scale)
        shape = self.event_shape if scale == "per_dim" else ()
        if scale == "fixed":
            self.register_buffer("raw_scale", torch.full(shape, raw))
        else:
            self.raw_scale = nn.Parameter(torch.full(shape, raw))

    @property
    def scale(self) -> Tensor:
        """Current scale, broadcastable to the event shape."""
        return F.softplus(self.raw_scale) + self.min_scale

    def forward(self, params: Tensor) -> Distribution:
        (loc,) = self.split(params)
        return self._independent(self.family(loc, self.scale.to(loc.dtype).expand_as(loc)))


@HEADS.register("gaussian")
class GaussianLikelihood(_LocScaleLikelihood):
    """Gaussian likelihood with a fixed, shared-learned or per-dimension-learned scale.

    Args:
        event_shape: Shape of one observation.
        scale: ``"fixed"`` keeps ``init_scale``; ``"shared"`` learns one scalar;
            ``"per_dim"`` learns one scale per element.
        init_scale: Initial (or fixed) standard deviation, in data units.
        min_scale: Floor on the standard deviation.
    """

    family = Normal


@HEADS.register("laplace")
class LaplaceLikelihood(_LocScaleLikelihood):
    """Laplace likelihood: an L1 reconstruction loss normalised; scales as Gaussian."""

    family = Laplace


def make_likelihood(
    name: str, event_shape: Sequence[int], *, scale: ScaleMode = "fixed", init_scale: float = 1.0
) -> DistributionHead:
    """Build an observation head by registered name (``bernoulli``, ``gaussian``, ...)."""
    cls = HEADS.get(name)
    if issubclass(cls, _LocScaleLikelihood):
        return cls(event_shape, scale=scale, init_scale=init_scale)
    return cls(event_shape)
