"""What a task is: data splits plus the evaluation and figures that suit them.

A recipe's ``[task]`` table names a registered task and passes the rest as keyword arguments.
A new problem (a dataset, a conditioning scheme, a toy inverse problem) is one subclass of
:class:`Task` in its own file plus ``@TASKS.register("name")``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["BatchTransform", "Task", "TaskData"]

BatchTransform = Callable[[dict[str, Tensor], torch.Generator], dict[str, Tensor]]


@dataclass
class TaskData:
    """Each split as a dict of equally long tensors (``"x"``, ``"y"``, ``"label"``...).

    Attributes:
        train: Training split.
        val: Validation split (early stopping, model selection).
        test: Test split (reported metrics only).
        info: Facts about the data that models and figures need (``x_shape``, ``class_names``...).
    """

    train: dict[str, Tensor]
    val: dict[str, Tensor]
    test: dict[str, Tensor]
    info: dict[str, Any] = field(default_factory=dict)


class Task:
    """Base class of registered tasks. Subclasses take their recipe table as ``__init__`` kwargs."""

    #: Objective used when a recipe names none.
    default_objective: str = "elbo"

    def load(self) -> TaskData:
        """Build or read the data splits."""
        raise NotImplementedError

    def model_kwargs(self, data: TaskData) -> dict[str, Any]:
        """Model arguments implied by the data (shapes, class counts); recipe values override."""
        return {}

    def batch_transform(self) -> BatchTransform | None:
        """Per-batch transform applied in training (e.g. dynamic binarisation), or ``None``."""
        return None

    def callbacks(self, data: TaskData) -> Sequence[Any]:
        """Trainer callbacks this task wants (e.g. per-epoch diagnostics); none by default."""
        return ()

    def evaluate(
        self, model: nn.Module, data: TaskData, *, settings: dict[str, Any], progress: bool = False
    ) -> dict[str, Any]:
        """Test-set metrics as a JSON dict; ``settings`` is the recipe's ``[evaluation]`` table."""
        return {}

    def figures(
        self, model: nn.Module, data: TaskData, figures_dir: Path, *, records: list[dict[str, Any]]
    ) -> dict[str, Path]:
        """Write figures into ``figures_dir``; ``records`` are the run's metrics.jsonl rows."""
        return {}
