"""plausible: deep generative models that predict many plausible answers."""

__version__ = "0.1.0"

from plausible import models, objectives, tasks
from plausible.config import apply_overrides, load_recipe
from plausible.distributions import (
    BernoulliHead,
    DiagonalGaussianHead,
    GaussianLikelihood,
    StandardNormalPrior,
)
from plausible.metrics import importance_sampled_nll, negative_elbo
from plausible.models import VAE
from plausible.objectives import ObjectiveOutput, elbo, iwae_bound
from plausible.registry import DATASETS, MODELS, OBJECTIVES, TASKS
from plausible.runs import load_run, train_run
from plausible.training import Trainer, TrainerConfig

__all__ = [
    "DATASETS",
    "MODELS",
    "OBJECTIVES",
    "TASKS",
    "VAE",
    "BernoulliHead",
    "DiagonalGaussianHead",
    "GaussianLikelihood",
    "ObjectiveOutput",
    "StandardNormalPrior",
    "Trainer",
    "TrainerConfig",
    "__version__",
    "apply_overrides",
    "elbo",
    "importance_sampled_nll",
    "iwae_bound",
    "load_recipe",
    "load_run",
    "models",
    "negative_elbo",
    "objectives",
    "tasks",
    "train_run",
]
