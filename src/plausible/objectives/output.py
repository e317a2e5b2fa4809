"""The value every objective returns: a per-example loss plus named terms for logging."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

__all__ = ["ObjectiveOutput"]


@dataclass
class ObjectiveOutput:
    """Per-example loss to minimise and the terms it is made of.

    Attributes:
        loss: ``(B,)`` value to minimise, in nats; the trainer averages it over the batch.
        terms: Named ``(B,)`` tensors in nats (``reconstruction``, ``kl``, ``elbo``, ...), logged
            and checked by the NaN guard, which names the term that went non-finite.
    """

    loss: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.loss.dim() != 1:
            raise ValueError(
                f"an objective must return a (B,) loss, got shape {tuple(self.loss.shape)}"
            )
