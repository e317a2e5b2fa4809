"""Schedules for objective weights: KL warm-up, cyclical annealing and capacity ramps.

In a recipe any numeric objective argument may be a schedule table instead of a number::

    beta = { schedule = "linear", start = 0.0, end = 1.0, steps = 5000 }
    beta = { schedule = "cyclical", start = 0.0, end = 1.0, period = 2000, ratio = 0.5 }
    capacity = { schedule = "linear", start = 0.0, end = 25.0, steps = 100000 }

Steps count optimiser updates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Schedule", "resolve_schedules"]

Kind = Literal["constant", "linear", "cyclical"]


@dataclass(frozen=True)
class Schedule:
    """A value that changes with the optimisation step.

    Attributes:
        kind: ``constant``; ``linear`` (from ``start`` to ``end`` over ``steps``, then held);
            ``cyclical`` (Fu et al., 2019: within each ``period``, rise linearly from ``start`` to
            ``end`` over the first ``ratio`` of it, then hold).
        start: Value at step 0.
        end: Value reached at the end of the ramp.
        steps: Ramp length for ``linear``.
        period: Cycle length for ``cyclical``.
        ratio: Fraction of each cycle spent rising.
    """

    kind: Kind = "constant"
    start: float = 0.0
    end: float = 1.0
    steps: int = 1
    period: int = 1
    ratio: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in ("constant", "linear", "cyclical"):
            raise ValueError(f"unknown schedule {self.kind!r}; choose constant, linear or cyclical")
        if self.steps < 1 or self.period < 1:
            raise ValueError(
                f"schedule steps and period must be >= 1, got {self.steps}, {self.period}"
            )
        if not 0.0 < self.ratio <= 1.0:
            raise ValueError(f"schedule ratio must be in (0, 1], got {self.ratio}")

    def __call__(self, step: int | None) -> float:
        """Value at optimiser step ``step``; ``None`` gives the final value (``end``)."""
        if self.kind == "constant" or step is None:
            return self.end
        if self.kind == "linear":
            frac = min(step / self.steps, 1.0)
        else:
            frac = min((step % self.period) / (self.period * self.ratio), 1.0)
        return self.start + frac * (self.end - self.start)

    @classmethod
    def from_config(cls, spec: Mapping[str, Any]) -> Schedule:
        """Build from a recipe table such as ``{schedule = "linear", end = 1.0, steps = 100}``."""
        spec = dict(spec)
        kind = spec.pop("schedule", None)
        if kind is None:
            raise ValueError(f"a schedule table needs a 'schedule' key, got {sorted(spec)}")
        if kind == "constant" and "value" in spec:
            spec["end"] = spec.pop("value")
        allowed = {"start", "end", "steps", "period", "ratio"}
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise ValueError(f"unknown schedule keys {unknown}; valid keys: {sorted(allowed)}")
        return cls(kind=kind, **spec)


def resolve_schedules(kwargs: Mapping[str, Any], step: int | None) -> dict[str, Any]:
    """Replace every ``Schedule`` (or schedule table) in ``kwargs`` by its value at ``step``.

    ``step=None`` resolves each schedule to its final value: validation and early stopping
    measure the objective that training is heading to, not the annealed one.
    """
    resolved = {}
    for key, value in kwargs.items():
        if isinstance(value, Mapping):
            value = Schedule.from_config(value)
        resolved[key] = value(step) if isinstance(value, Schedule) else value
    return resolved
