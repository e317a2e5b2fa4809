"""An MLP on two inputs whose first layer is split, so a broadcast input is encoded only once."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from plausible.nn.mlp import MLP, Activation, make_activation

__all__ = ["JointMLP"]


class JointMLP(nn.Module):
    """An MLP on ``concat(a, b)`` whose first layer is split into one map per input.

    ``b`` may carry extra leading dimensions (e.g. ``(S, B, D)`` latent samples against ``(B, A)``
    inputs): the first layer broadcasts, so the ``a`` part is computed once, not once per sample.

    Args:
        a_dim: Features of the first input.
        b_dim: Features of the second input.
        out_dim: Output size.
        hidden_dims: Hidden widths; ``()`` gives a single (split) linear map.
        activation: Non-linearity between layers.
    """

    def __init__(
        self,
        a_dim: int,
        b_dim: int,
        out_dim: int,
        hidden_dims: Sequence[int] = (500, 500),
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        hidden = [int(h) for h in hidden_dims]
        first = hidden[0] if hidden else int(out_dim)
        self.a_dim, self.b_dim, self.out_dim = int(a_dim), int(b_dim), int(out_dim)
        self.a_map = nn.Linear(self.a_dim, first)
        self.b_map = nn.Linear(self.b_dim, first, bias=False)
        self.rest: nn.Module = (
            nn.Sequential(make_activation(activation), MLP(first, out_dim, hidden[1:], activation))
            if hidden
            else nn.Identity()
        )

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """``a``: ``(..., a_dim)``, ``b``: ``(..., b_dim)`` broadcastable -> ``(..., out_dim)``."""
        return self.rest(self.a_map(a) + self.b_map(b))
