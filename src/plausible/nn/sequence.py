"""Recurrent building blocks for sequences ``(B, T, D)``: a GRU encoder and an autoregressive
GRU decoder."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["SequenceDecoder", "SequenceEncoder"]


def _check_frames(x: Tensor, frame_dim: int, name: str, where: str) -> None:
    if x.dim() != 3 or x.shape[-1] != frame_dim:
        raise ValueError(
            f"{where} expects {name} of shape (B, T, D={frame_dim}), got {tuple(x.shape)}"
        )


class SequenceEncoder(nn.Module):
    """A GRU read over a sequence; its last layer's final hidden state summarises it.

    With ``step_scale`` the GRU also reads each frame's change from the previous one, divided by
    ``step_scale`` (a typical change, in data units). Motion is in those changes, and they are
    often far smaller than the frames themselves: a recurrent net that must difference its
    inputs to find a heading learns slowly, one that is given the differences learns fast.

    Args:
        frame_dim: Values per frame, ``D``.
        hidden_size: Width of the GRU, ``H``.
        num_layers: Stacked GRU layers.
        step_scale: Read ``[x_t, (x_t - x_{t-1}) / step_scale]`` (the first change is 0);
            ``None`` reads the frames alone.
    """

    def __init__(
        self,
        frame_dim: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        step_scale: float | None = None,
    ) -> None:
        super().__init__()
        if min(frame_dim, hidden_size, num_layers) < 1:
            raise ValueError(
                f"frame_dim, hidden_size and num_layers must be >= 1, got {frame_dim}, "
                f"{hidden_size}, {num_layers}"
            )
        if step_scale is not None and not step_scale > 0:
            raise ValueError(f"step_scale must be a positive number, got {step_scale}")
        self.frame_dim, self.hidden_size = int(frame_dim), int(hidden_size)
        self.step_scale = None if step_scale is None else float(step_scale)
        width = self.frame_dim * (1 if self.step_scale is None else 2)
        self.gru = nn.GRU(width, self.hidden_size, int(num_layers), batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, T, D)`` -> ``(B, H)``, the final hidden state of the last layer."""
        _check_frames(x, self.frame_dim, "a sequence", "SequenceEncoder")
        if self.step_scale is not None:
            steps = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], 1)
            x = torch.cat([x, steps / self.step_scale], -1)
        return self.gru(x)[1][-1]


class SequenceDecoder(nn.Module):
    """An autoregressive GRU that unrolls ``T`` future frames from a per-sequence context.

    The context vector (the condition and, in a latent model, the latent) sets the initial hidden
    state through ``tanh(Linear(context))`` and is also fed at every step, so it cannot fade over
    a long horizon. Step ``t`` reads the previous frame, starting from the last observed one,
    and emits ``out_dim`` raw parameters of frame ``t``. With ``residual=True`` the first ``D`` of
    them are a displacement added to the frame read, so the network predicts velocities, and an
    untrained decoder continues the last pose instead of jumping to zero.

    Which previous frame is read:

    - free running (default, and always without ``targets``): the decoder's own previous output
      (its mean, first ``D`` parameters), so given its context the decoder is a deterministic map
      and ``p(y | context)`` factorises over frames around that one path;
    - teacher forcing (``targets`` given, ratio > 0): the true previous frame, chosen with
      probability ``teacher_forcing`` per step and example (scheduled sampling when in (0, 1)).

    Free running is the default because it makes the training density the one sampled from, and
    because teacher forcing can let a latent-variable model ignore its latent: the true first
    future frames already say which of several futures is under way, so the decoder may read the
    mode from them, and at sampling time there is no truth to read (docs/forecasting.md reports
    a case where this did not happen and teacher forcing fitted better).

    With ``step_scale`` the decoder works in units of a typical change between frames: step
    ``t`` also reads the change into the frame it reads, divided by ``step_scale`` (the first
    one is the change into the last observed frame), and with ``residual`` its displacement is
    ``step_scale`` times the network's output. A forecaster must then continue a velocity it is
    given instead of recovering it from absolute frames through its context, and its outputs
    are of order one instead of the size of a step, which is what lets a small GRU place a
    20-step path to a fraction of a step.

    Args:
        frame_dim: Values per frame, ``D``.
        context_dim: Width of the per-sequence context vector.
        hidden_size: Width of the GRU, ``H``.
        out_dim: Raw parameters per frame (default ``D``: the mean alone).
        num_layers: Stacked GRU layers.
        residual: Add the first ``D`` outputs to the frame read (displacement prediction).
        teacher_forcing: Default probability of reading the true previous frame when targets
            are given, in ``[0, 1]``.
        step_scale: Typical change between frames (data units); ``None`` reads frames alone and
            predicts displacements in data units.
    """

    def __init__(
        self,
        frame_dim: int,
        context_dim: int,
        hidden_size: int,
        out_dim: int | None = None,
        num_layers: int = 1,
        *,
        residual: bool = True,
        teacher_forcing: float = 0.0,
        step_scale: float | None = None,
    ) -> None:
        super().__init__()
        out = int(frame_dim if out_dim is None else out_dim)
        if step_scale is not None and not step_scale > 0:
            raise ValueError(f"step_scale must be a positive number, got {step_scale}")
        if min(frame_dim, context_dim, hidden_size, num_layers) < 1 or out < frame_dim:
            raise ValueError(
                f"SequenceDecoder needs positive sizes and out_dim >= frame_dim, got frame_dim="
                f"{frame_dim}, context_dim={context_dim}, hidden_size={hidden_size}, "
                f"out_dim={out}, num_layers={num_layers}"
            )
        self.frame_dim, self.context_dim, self.out_dim = int(frame_dim), int(context_dim), out
        self.hidden_size, self.num_layers = int(hidden_size), int(num_layers)
        self.residual = bool(residual)
        self.teacher_forcing = _ratio(teacher_forcing)
        self.step_scale = None if step_scale is None else float(step_scale)
        reads = self.frame_dim * (1 if self.step_scale is None else 2)
        self.init_hidden = nn.Linear(self.context_dim, self.num_layers * self.hidden_size)
        self.gru = nn.GRU(
            reads + self.context_dim, self.hidden_size, self.num_layers, batch_first=True
        )
        self.readout = nn.Linear(self.hidden_size, out)

    def forward(
        self,
        context: Tensor,
        last_frame: Tensor,
        num_steps: int,
        targets: Tensor | None = None,
        *,
        last_step: Tensor | None = None,
        teacher_forcing: float | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Unroll ``num_steps`` frames.

        Args:
            context: ``(N, context_dim)`` per-sequence context.
            last_frame: ``(N, D)`` last observed frame.
            num_steps: Frames to produce, ``T``.
            targets: ``(N, T, D)`` true future frames, for teacher forcing; ``None`` free-runs.
            last_step: ``(N, D)`` change into the last observed frame (read with
                ``step_scale``; zeros if ``None``).
            teacher_forcing: Probability of reading the true previous frame (default: the one
                given at construction); only used with ``targets``.
            generator: Source of the teacher-forcing coin flips (torch's global one if ``None``).

        Returns:
            ``(N, T, out_dim)`` raw parameters per frame.
        """
        n = context.shape[0]
        if context.shape != (n, self.context_dim) or last_frame.shape != (n, self.frame_dim):
            raise ValueError(
                f"SequenceDecoder expects context (N, {self.context_dim}) and last_frame "
                f"(N, {self.frame_dim}), got {tuple(context.shape)} and {tuple(last_frame.shape)}"
            )
        ratio = self.teacher_forcing if teacher_forcing is None else _ratio(teacher_forcing)
        if targets is not None:
            _check_frames(targets, self.frame_dim, "targets", "SequenceDecoder")
            if targets.shape[:2] != (n, num_steps):
                raise ValueError(
                    f"SequenceDecoder: targets {tuple(targets.shape)} must hold {num_steps} "
                    f"frames for each of the {n} sequences"
                )
        if last_step is None:
            last_step = torch.zeros_like(last_frame)
        elif last_step.shape != last_frame.shape:
            raise ValueError(
                f"SequenceDecoder expects last_step of the shape of last_frame "
                f"{tuple(last_frame.shape)}, got {tuple(last_step.shape)}"
            )
        hidden = torch.tanh(self.init_hidden(context))
        hidden = hidden.reshape(n, self.num_layers, self.hidden_size).transpose(0, 1).contiguous()
        if targets is not None and ratio == 1.0:
            # Every input is known in advance: one call over the whole sequence.
            inputs = torch.cat([last_frame[:, None], targets[:, :-1]], 1)
            steps = torch.cat([last_step[:, None], inputs.diff(dim=1)], 1)
            return self._emit(inputs, steps, context, hidden)[0]
        frame, step, outputs = last_frame, last_step, []
        for t in range(num_steps):
            raw, hidden = self._emit(frame[:, None], step[:, None], context, hidden)
            outputs.append(raw)
            previous, frame = frame, raw[:, 0, : self.frame_dim]
            if targets is not None and ratio > 0.0:
                coin = torch.rand(n, 1, generator=generator, device=frame.device) < ratio
                frame = torch.where(coin, targets[:, t].to(frame.dtype), frame)
            step = frame - previous
        if not outputs:
            return last_frame.new_zeros(n, 0, self.out_dim)
        return torch.cat(outputs, 1)

    def _emit(
        self, frames: Tensor, steps: Tensor, context: Tensor, hidden: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Read ``frames`` and the ``steps`` into them ``(N, T, D)``; return raw outputs
        ``(N, T, out_dim)`` and the state."""
        per_step = context[:, None].expand(-1, frames.shape[1], -1)
        reads = frames.to(per_step.dtype)
        if self.step_scale is not None:
            reads = torch.cat([reads, steps.to(per_step.dtype) / self.step_scale], -1)
        out, hidden = self.gru(torch.cat([reads, per_step], -1), hidden)
        raw = self.readout(out)
        if self.residual:
            move = raw[..., : self.frame_dim]
            if self.step_scale is not None:
                move = move * self.step_scale
            raw = torch.cat([frames + move, raw[..., self.frame_dim :]], -1)
        return raw, hidden


def _ratio(value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"teacher_forcing must be a probability in [0, 1], got {value}")
    return value
