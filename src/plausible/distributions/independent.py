"""``Independent`` that also scores an empty batch.

torch's ``Independent`` sums a log-density over its event dimensions by reshaping it to
``(*batch_shape, -1)``, which is ambiguous when the batch holds no example, so ``log_prob``,
``entropy``, the KL divergence and the support check (of a mixture of these, say) raise there.
This subclass reduces over the dimensions instead; the values are the same. Every distribution
plausible builds uses it, so an objective on an empty batch returns an empty loss instead of
failing inside torch.
"""

from __future__ import annotations

from torch import Tensor, distributions
from torch.distributions import constraints, kl_divergence, register_kl

__all__ = ["Independent"]


def _sum_event(value: Tensor, event_dims: int) -> Tensor:
    return value.sum(tuple(range(-event_dims, 0))) if event_dims else value


class _EventSupport(constraints.Constraint):
    """``base`` holds for every element of the last ``event_dims`` dimensions."""

    def __init__(self, base: constraints.Constraint, event_dims: int) -> None:
        self.base = base
        self.event_dims = event_dims
        super().__init__()

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return self.base.is_discrete

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return self.base.event_dim + self.event_dims

    def check(self, value: Tensor) -> Tensor:
        result = self.base.check(value)
        if result.dim() < self.event_dims:
            raise ValueError(
                f"expected a value with at least {self.event_dims} dimensions, got shape "
                f"{tuple(value.shape)}"
            )
        return result.all(tuple(range(-self.event_dims, 0))) if self.event_dims else result


class Independent(distributions.Independent):
    """``torch.distributions.Independent`` whose reductions work for an empty batch."""

    @constraints.dependent_property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        base = self.base_dist.support
        n = self.reinterpreted_batch_ndims
        return _EventSupport(base, n) if n else base

    def log_prob(self, value: Tensor) -> Tensor:
        return _sum_event(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)

    def entropy(self) -> Tensor:
        return _sum_event(self.base_dist.entropy(), self.reinterpreted_batch_ndims)


@register_kl(Independent, Independent)
def _kl_independent_independent(p: Independent, q: Independent) -> Tensor:
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError("KL between Independents of different event ranks")
    return _sum_event(kl_divergence(p.base_dist, q.base_dist), p.reinterpreted_batch_ndims)
