"""Training: the trainer, its settings, checkpoints and callbacks."""

from plausible.training.callbacks import Callback
from plausible.training.config import TrainerConfig
from plausible.training.device import resolve_device
from plausible.training.errors import NonFiniteLossError, TrainingInterrupted
from plausible.training.metrics_log import MetricsLog, load_metrics
from plausible.training.objective import ConfiguredObjective
from plausible.training.trainer import Trainer

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
