"""The optimiser and learning-rate schedule a :class:`TrainerConfig` asks for."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from plausible.training.config import TrainerConfig

__all__ = ["build_optimizer", "build_scheduler"]


def build_optimizer(model: nn.Module, config: TrainerConfig) -> torch.optim.Optimizer:
    """Adam or AdamW over the trainable parameters, fused where every parameter allows it."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt_cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    # The fused kernel updates every parameter in one pass; on CPU the default per-tensor
    # loop took a quarter of a W1 step. Same arithmetic, so results match to rounding.
    fused = all(
        p.dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16)
        and p.device.type in ("cpu", "cuda")
        for p in params
    )
    return opt_cls(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused or None)


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainerConfig, *, total_steps: int | None = None
) -> Any:
    """The schedule of ``config.lr_schedule``, or ``None`` for a constant rate.

    Args:
        optimizer: The optimiser whose rate it sets.
        config: Trainer settings.
        total_steps: Steps of the whole run; cosine needs it, so without it cosine gives
            ``None`` (the trainer builds it again once it knows the data).
    """
    if config.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=0.5, patience=max(config.early_stopping_patience // 2, 1)
        )
    if config.lr_schedule == "cosine" and total_steps is not None:
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    return None
