"""Multi-layer perceptron used as the trunk of encoders, decoders and MDN backbones."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Literal

from torch import Tensor, nn

__all__ = ["MLP", "Activation", "make_activation"]

Activation = Literal["relu", "tanh", "elu", "gelu", "silu", "softplus", "leaky_relu"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
    "leaky_relu": nn.LeakyReLU,
}


def make_activation(name: str) -> nn.Module:
    """Build an activation module by name; unknown names list the valid ones."""
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]()


class MLP(nn.Sequential):
    """Linear layers with an activation between them (none after the last).

    Inputs with more than one feature dimension are flattened, so an image batch
    ``(B, C, H, W)`` can be fed directly when ``in_dim == C * H * W``.

    Args:
        in_dim: Size of the flattened input features.
        out_dim: Size of the output.
        hidden_dims: Widths of the hidden layers; ``()`` gives a single linear map.
        activation: Non-linearity between layers.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden_dims: Sequence[int] = (256, 256),
        activation: Activation = "relu",
    ) -> None:
        widths = [int(in_dim), *map(int, hidden_dims), int(out_dim)]
        if any(w <= 0 for w in widths):
            raise ValueError(f"MLP widths must be positive, got {widths}")
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(make_activation(activation))
        super().__init__(*layers)
        self.in_dim = widths[0]
        self.out_dim = widths[-1]

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """Map ``(..., in_dim)`` (or ``(B, *shape)``, ``prod(shape) == in_dim``) to ``out_dim``."""
        if x.shape[-1] != self.in_dim:
            if x.dim() >= 2 and math.prod(x.shape[1:]) == self.in_dim:
                x = x.flatten(1)
            else:
                raise ValueError(
                    f"MLP expects inputs with {self.in_dim} features, got shape {tuple(x.shape)}"
                )
        return super().forward(x)
