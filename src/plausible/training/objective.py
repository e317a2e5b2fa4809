"""A registered objective bound to its recipe arguments, with schedules resolved per step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from plausible.objectives.output import ObjectiveOutput
from plausible.objectives.schedules import resolve_schedules
from plausible.registry import OBJECTIVES

__all__ = ["ConfiguredObjective"]


@dataclass
class ConfiguredObjective:
    """Call ``OBJECTIVES[name](model, batch, **kwargs)`` with schedule values for the step.

    Attributes:
        name: Registered objective name (``elbo``, ``iwae``, ...).
        kwargs: Recipe arguments; numbers or schedule tables.
    """

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._fn = OBJECTIVES.get(self.name)

    def __call__(
        self, model: nn.Module, batch: dict[str, Tensor], step: int | None
    ) -> ObjectiveOutput:
        """Score ``batch``; ``step=None`` uses each schedule's final value (validation)."""
        out = self._fn(model, batch, **resolve_schedules(self.kwargs, step))
        if not isinstance(out, ObjectiveOutput):
            raise TypeError(
                f"objective {self.name!r} returned {type(out).__name__}, not ObjectiveOutput"
            )
        return out
