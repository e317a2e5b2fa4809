"""What a task is: data splits plus the names of the suite metrics and figures that suit them.

A recipe's ``[task]`` table names a registered task and passes the rest as keyword arguments.
A new problem (a dataset, a conditioning scheme, a toy inverse problem) is one subclass of
:class:`Task` in its own file plus ``@TASKS.register("name")``. A task computes no scores: it
names registered suite metrics (:mod:`plausible.metrics.suite`), which ``runs.evaluate_run``
runs on the test split.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from plausible.data.task_data import TaskData

__all__ = ["BatchTransform", "Task", "TaskData"]

BatchTransform = Callable[[dict[str, Tensor], torch.Generator], dict[str, Tensor]]


class Task:
    """Base class of registered tasks. Subclasses take their recipe table as ``__init__`` kwargs."""

    #: Objective used when a recipe names none.
    default_objective: str = "elbo"
    #: Suite metrics run on the test split after training, in order; the recipe's
    #: ``[evaluation] metrics`` list replaces them.
    metrics: tuple[str, ...] = ()

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

    #: Whether the data's generative factors are known (dSprites), so that disentanglement
    #: metrics and factor-labelled figures apply.
    known_factors: ClassVar[bool] = False
    #: Companion runs whose suite metrics are reported next to the model's (see :meth:`baselines`).
    compared_baselines: ClassVar[tuple[str, ...]] = ()

    def baselines(self, config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Companion runs to train next to the run of ``config``: name -> complete recipe.

        A baseline the task compares against is a run of its own: the runner trains each into
        ``<run>/baseline/<name>`` and hands the models to :meth:`figures` and the evaluation.
        """
        return {}

    def evaluation_defaults(self) -> dict[str, Any]:
        """Defaults of the ``[evaluation]`` table for this task; the recipe's values override.

        Keys are the suite's settings: shared keys at the top, a metric's own keys in a sub-table
        named after it (validated by the metric, see :func:`plausible.metrics.suite.options`).
        """
        return {}

    def figures(
        self,
        model: nn.Module,
        data: TaskData,
        figures_dir: Path,
        *,
        records: list[dict[str, Any]],
        baselines: Mapping[str, nn.Module | None] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> dict[str, Path]:
        """Write figures into ``figures_dir``.

        Args:
            model: The trained model (eval mode).
            data: Its data splits.
            figures_dir: Folder to write PNGs into.
            records: The run's metrics.jsonl rows.
            baselines: The trained companion runs' models by name (``None`` for a missing one).
            settings: The ``[evaluation]`` table the run was evaluated with.
        """
        return {}
