"""Branching trajectories: a straight 2-D history, then one of several turns with known odds.

Every path moves at a constant speed along a heading. The history (``t_obs`` points, noise-free)
fixes the start, the speed and the heading; the heading is one of ``num_contexts`` evenly spaced
directions (the *context*). The future turns by one of the mode angles over ``turn_steps`` steps
and goes on straight, with i.i.d. ``N(0, noise^2)`` on every coordinate of every future point.
The mode probabilities depend on the context (the base probabilities rolled by the context's
index), so a forecaster must read the history to know which turns are likely.

Because the history is noise-free, the law of the future given the history is a function of the
history alone: :class:`BranchingLaw` recovers the velocity from the last two points and the context
from the heading, and gives the exact mode probabilities, mode paths, draws and density.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from plausible.data.sequences import GaussianModesLaw

__all__ = ["BranchingLaw", "make_branching"]

#: Turn of each mode relative to the heading, degrees (positive: to the left).
TURNS = (45.0, 0.0, -45.0)
MODE_NAMES = ("left", "straight", "right")
PROBS = (0.6, 0.3, 0.1)


class BranchingLaw(GaussianModesLaw):
    """The exact law of a branching future given its history.

    Args:
        t_pred: Future points.
        num_contexts: Evenly spaced headings; context ``c`` points at ``2 pi c / C + offset``.
        probs: Base mode probabilities; context ``c`` uses them rolled by ``c`` places.
        turns: Mode turn angles, degrees.
        turn_steps: Steps over which the heading turns (linearly) to its new direction.
        noise: Standard deviation of each future coordinate.
        heading_offset: Angle of context 0, degrees (off the axes, so no heading is special).
        mode_names: Names of the modes.
    """

    def __init__(
        self,
        t_pred: int = 20,
        *,
        num_contexts: int = 4,
        probs: Sequence[float] = PROBS,
        turns: Sequence[float] = TURNS,
        turn_steps: int = 5,
        noise: float = 0.02,
        heading_offset: float = 15.0,
        mode_names: Sequence[str] = MODE_NAMES,
    ) -> None:
        if len(probs) != len(turns) or len(mode_names) != len(turns):
            raise ValueError(
                f"probs ({len(probs)}), turns ({len(turns)}) and mode_names ({len(mode_names)}) "
                "must name the same modes"
            )
        p = torch.tensor([float(v) for v in probs], dtype=torch.float64)
        if (p < 0).any() or abs(float(p.sum()) - 1.0) > 1e-9:
            raise ValueError(f"probs must be non-negative and sum to 1, got {list(probs)}")
        if min(t_pred, num_contexts, turn_steps) < 1:
            raise ValueError(
                f"t_pred, num_contexts and turn_steps must be >= 1, got {t_pred}, "
                f"{num_contexts} and {turn_steps}"
            )
        super().__init__((t_pred, 2), noise, mode_names)
        self.t_pred, self.num_contexts, self.turn_steps = (
            int(t_pred),
            int(num_contexts),
            int(turn_steps),
        )
        self.probs = p
        self.turns = torch.tensor([math.radians(float(t)) for t in turns], dtype=torch.float64)
        self.heading_offset = math.radians(float(heading_offset))

    def context_headings(self) -> Tensor:
        """``(C,)`` heading of each context, radians."""
        c = torch.arange(self.num_contexts, dtype=torch.float64)
        return 2 * math.pi * c / self.num_contexts + self.heading_offset

    def context_probs(self) -> Tensor:
        """``(C, M)``: the base probabilities rolled by each context's index."""
        return torch.stack([self.probs.roll(c) for c in range(self.num_contexts)])

    def context(self, x: Tensor) -> Tensor:
        """``(B,)`` context of each history: the nearest of the headings to its last step."""
        step = (x[:, -1] - x[:, -2]).double()
        heading = torch.atan2(step[:, 1], step[:, 0])
        sector = 2 * math.pi / self.num_contexts
        return torch.round((heading - self.heading_offset) / sector).long() % self.num_contexts

    def mode_probs(self, x: Tensor) -> Tensor:
        """``(B, M)`` mode probabilities, set by each history's context."""
        return self.context_probs()[self.context(x)].to(x.device)

    def mode_means(self, x: Tensor) -> Tensor:
        """``(B, M, T_pred, 2)``: from the last point, turn by each mode's angle, then straight."""
        if x.dim() != 3 or x.shape[-1] != 2 or x.shape[1] < 2:
            raise ValueError(f"branching histories are (B, T_obs >= 2, 2), got {tuple(x.shape)}")
        step = (x[:, -1] - x[:, -2]).double()  # (B, 2): speed and heading
        t = torch.arange(1, self.t_pred + 1, dtype=torch.float64)
        # The heading reaches its turn linearly over turn_steps steps.
        angle = self.turns[:, None] * (t / self.turn_steps).clamp(max=1.0)  # (M, T)
        cos, sin = torch.cos(angle), torch.sin(angle)
        vx, vy = step[:, 0, None, None], step[:, 1, None, None]
        moves = torch.stack([cos * vx - sin * vy, sin * vx + cos * vy], -1)  # (B, M, T, 2)
        means = x[:, -1, None, None].double() + moves.cumsum(2)
        return means.to(x.dtype)

    def describe(self) -> dict[str, Any]:
        """The law's parameters, for a run's metadata."""
        return {
            "num_contexts": self.num_contexts,
            "probs": self.probs.tolist(),
            "turns_degrees": [round(math.degrees(float(t)), 6) for t in self.turns],
            "turn_steps": self.turn_steps,
            "noise": self.noise,
            "mode_names": list(self.mode_names),
        }


def make_branching(
    num_examples: int,
    *,
    seed: int = 0,
    t_obs: int = 10,
    t_pred: int = 20,
    speed: tuple[float, float] = (0.04, 0.06),
    start_radius: float = 0.5,
    **law: Any,
) -> dict[str, Any]:
    """Draw branching trajectories from a seed.

    Args:
        num_examples: Paths ``N``.
        seed: Seed of everything drawn.
        t_obs: History points (>= 2: the last two give the velocity).
        t_pred: Future points.
        speed: Range of the uniform speed, data units per step.
        start_radius: Starts are uniform in the disc of this radius around the origin.
        **law: Passed to :class:`BranchingLaw` (``num_contexts``, ``probs``, ``turns``,
            ``turn_steps``, ``noise``, ``heading_offset``, ``mode_names``).

    Returns:
        ``{"x"``: ``(N, t_obs, 2)``, ``"y"``: ``(N, t_pred, 2)`` float32, ``"mode"``: ``(N,)``
        the mode each future was drawn from, ``"context"``: ``(N,)``, ``"law"``: the
        :class:`BranchingLaw``}``.
    """
    if num_examples < 1 or t_obs < 2:
        raise ValueError(f"need num_examples >= 1 and t_obs >= 2, got {num_examples} and {t_obs}")
    if not 0 < speed[0] <= speed[1]:
        raise ValueError(f"speed must be a range 0 < low <= high, got {speed}")
    rule = BranchingLaw(t_pred, **law)
    g = torch.Generator().manual_seed(int(seed))
    n = int(num_examples)
    context = torch.randint(rule.num_contexts, (n,), generator=g)
    heading = rule.context_headings()[context]
    v = speed[0] + (speed[1] - speed[0]) * torch.rand(n, generator=g, dtype=torch.float64)
    radius = start_radius * torch.rand(n, generator=g, dtype=torch.float64).sqrt()
    phi = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    start = torch.stack([radius * torch.cos(phi), radius * torch.sin(phi)], -1)
    velocity = v[:, None] * torch.stack([torch.cos(heading), torch.sin(heading)], -1)
    steps = torch.arange(t_obs, dtype=torch.float64)
    x = (start[:, None] + steps[None, :, None] * velocity[:, None]).float()
    # Draw the mode and the noise from the law itself, so the data follow it exactly.
    probs = rule.mode_probs(x)
    mode = torch.multinomial(probs, 1, generator=g)[:, 0]
    means = rule.mode_means(x)[torch.arange(n), mode]
    y = means + rule.noise * torch.randn(means.shape, generator=g)
    return {"x": x, "y": y.float(), "mode": mode, "context": context, "law": rule}
