"""plausible: deep generative models that predict many plausible answers."""

__version__ = "0.1.0"

from plausible import models, objectives, tasks  # noqa: E402  (importing registers everything)
from plausible.config import apply_overrides, load_recipe  # noqa: E402
from plausible.distributions import (  # noqa: E402
    BernoulliHead,
    DiagonalGaussianHead,
    GaussianLikelihood,
    StandardNormalPrior,
)
from plausible.metrics import importance_sampled_nll, negative_elbo  # noqa: E402
from plausible.models import VAE  # noqa: E402
from plausible.objectives import ObjectiveOutput, elbo, iwae_bound  # noqa: E402
from plausible.registry import DATASETS, MODELS, OBJECTIVES, TASKS  # noqa: E402
from plausible.runs import load_run, train_run  # noqa: E402
from plausible.training import Trainer, TrainerConfig  # noqa: E402

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
