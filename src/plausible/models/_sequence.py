"""What the recurrent forecasters share: sequence checks, the GRU backbone and the likelihood."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from plausible.distributions import make_likelihood
from plausible.distributions.heads import DistributionHead, ScaleMode
from plausible.models._conditional import positive_shape
from plausible.models._validation import apply_head, check_finite, check_tensor
from plausible.nn import SequenceDecoder, SequenceEncoder

__all__ = ["Forecaster", "check_sequence"]


def _sequence_shape(shape: Sequence[int], what: str) -> tuple[int, int]:
    out = positive_shape(shape, what)
    if len(out) != 2:
        raise ValueError(f"{what} must be (T, D): frames and values per frame, got {shape!r}")
    return out[0], out[1]


def check_sequence(
    value: object, shape: tuple[int, int], name: str, where: str, module: nn.Module
) -> Tensor:
    """A finite floating tensor ``(B, T, D)`` on the model's device, else an error that names the
    expected and the given frames."""
    t = check_tensor(value, name, where, module)
    if t.dim() != 3 or tuple(t.shape[1:]) != shape:
        got = f"{t.shape[1]} frames of {t.shape[2]} values" if t.dim() == 3 else f"{t.dim()}-D"
        raise ValueError(
            f"{where} expects {name} of shape (B, T={shape[0]}, D={shape[1]}): {shape[0]} frames "
            f"of {shape[1]} values, got {tuple(t.shape)} ({got}); check that the model's "
            f"{name}_shape matches the data's sequence length and frame size"
        )
    return check_finite(t, name)


class Forecaster(nn.Module):
    """Shared backbone: the history encoder, the frame decoder and the likelihood over y."""

    def _setup(
        self,
        x_shape: Sequence[int],
        y_shape: Sequence[int],
        context_dim: int,
        hidden_size: int,
        num_layers: int,
        likelihood: str,
        likelihood_scale: ScaleMode,
        likelihood_init_scale: float,
        teacher_forcing: float,
        residual: bool,
        step_scale: float | None,
        decoder_steps: bool = False,
    ) -> None:
        self.x_shape = _sequence_shape(x_shape, "x_shape")
        self.y_shape = _sequence_shape(y_shape, "y_shape")
        if self.x_shape[1] != self.y_shape[1]:
            raise ValueError(
                f"past and future frames must have the same size D, got x_shape {self.x_shape} "
                f"and y_shape {self.y_shape}"
            )
        if likelihood not in ("gaussian", "laplace"):
            raise ValueError(f"likelihood must be 'gaussian' or 'laplace', got {likelihood!r}")
        self.hidden_size, d = int(hidden_size), self.y_shape[1]
        self.step_scale = step_scale
        self.condition_encoder = SequenceEncoder(
            d, self.hidden_size, num_layers, step_scale=step_scale
        )
        self.likelihood: DistributionHead = make_likelihood(
            likelihood, self.y_shape, scale=likelihood_scale, init_scale=likelihood_init_scale
        )
        self.num_params = self.likelihood.num_params
        self.decoder = SequenceDecoder(
            d,
            context_dim,
            self.hidden_size,
            self.num_params * d,
            num_layers,
            residual=residual,
            teacher_forcing=teacher_forcing,
            step_scale=step_scale if decoder_steps else None,
        )

    def _decode(self, x: Tensor, context: Tensor, targets: Tensor | None) -> Distribution:
        """p(y | context) for ``context`` ``(..., B, C)``: batch ``(..., B)``, event (T, D)."""
        lead = context.shape[:-1]
        last = x[:, -1].expand(*lead, -1).reshape(-1, x.shape[-1])
        step = (x[:, -1] - x[:, -2]) if x.shape[1] > 1 else torch.zeros_like(x[:, -1])
        step = step.expand(*lead, -1).reshape(-1, x.shape[-1])
        if targets is not None:
            targets = targets.expand(*lead, *self.y_shape).reshape(-1, *self.y_shape)
        raw = self.decoder(
            context.reshape(-1, context.shape[-1]), last, self.y_shape[0], targets, last_step=step
        )
        # (N, T, P * D) -> (..., P * T * D): the head's layout, one block per parameter.
        # An explicit width, not -1, so that an empty batch reshapes too.
        width = self.num_params * self.y_shape[0] * self.y_shape[1]
        raw = raw.unflatten(-1, (self.num_params, -1)).transpose(-3, -2).reshape(*lead, width)
        return apply_head(self.likelihood, raw, "decoder", x=x)

    def _targets(self, y: Tensor) -> Tensor | None:
        """The true frames for teacher forcing: only in training and when it is switched on."""
        return y if self.training and self.decoder.teacher_forcing > 0 else None
