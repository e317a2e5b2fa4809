"""Training: the trainer, its settings, checkpoints and callbacks."""

from plausible.training.callbacks import Callback, MetricsLog
from plausible.training.config import TrainerConfig
from plausible.training.objective import ConfiguredObjective
from plausible.training.trainer import (
    NonFiniteLossError,
    Trainer,
    TrainingInterrupted,
    load_metrics,
    resolve_device,
)

__all__ = [
    "Callback",
    "ConfiguredObjective",
    "MetricsLog",
    "NonFiniteLossError",
    "Trainer",
    "TrainerConfig",
    "TrainingInterrupted",
    "load_metrics",
    "resolve_device",
]
