"""The data splits of a task, as equally long tensors per split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

__all__ = ["TaskData"]


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
