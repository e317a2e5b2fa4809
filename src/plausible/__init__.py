"""plausible: deep generative models that predict many plausible answers.

The names below are imported on first use (PEP 562), so that ``import plausible`` and the
command line's ``--help`` do not pay for PyTorch until something needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from plausible._version import __version__

if TYPE_CHECKING:
    from plausible import models, objectives, tasks
    from plausible.config import apply_overrides, load_recipe
    from plausible.distributions import (
        HEADS,
        BernoulliHead,
        DiagonalGaussianHead,
        GaussianLikelihood,
        StandardNormalPrior,
    )
    from plausible.metrics import importance_sampled_nll, negative_elbo
    from plausible.models import (
        CVAE,
        MDN,
        VAE,
        BaselineOutput,
        ConditionalBaseline,
        CVAEOutput,
        GaussianRegression,
        VAEOutput,
    )
    from plausible.models.protocols import (
        CanvasOutput,
        ConditionalDensityModel,
        ConditionalLatentModel,
        ConditionalModel,
        LatentVariableModel,
        OutputCanvasLike,
        RankedHypotheses,
        model_protocols,
    )
    from plausible.objectives import (
        ObjectiveOutput,
        cvae_loss,
        elbo,
        gsnn_loss,
        hybrid_loss,
        iwae_bound,
        mdn_nll,
        multi_sample_elbo,
        predictive_nll,
    )
    from plausible.registry import DATASETS, METRICS, MODELS, OBJECTIVES, TASKS, Registry
    from plausible.runs import load_run, train_run
    from plausible.training import Trainer, TrainerConfig

#: Public name -> the module that defines it (``module:`` for a subpackage itself).
_EXPORTS: dict[str, str] = {
    "CVAE": "plausible.models",
    "DATASETS": "plausible.registry",
    "HEADS": "plausible.distributions",
    "MDN": "plausible.models",
    "METRICS": "plausible.registry",
    "MODELS": "plausible.registry",
    "OBJECTIVES": "plausible.registry",
    "TASKS": "plausible.registry",
    "VAE": "plausible.models",
    "BaselineOutput": "plausible.models",
    "BernoulliHead": "plausible.distributions",
    "CVAEOutput": "plausible.models",
    "CanvasOutput": "plausible.models.protocols",
    "ConditionalBaseline": "plausible.models",
    "ConditionalDensityModel": "plausible.models.protocols",
    "ConditionalLatentModel": "plausible.models.protocols",
    "ConditionalModel": "plausible.models.protocols",
    "DiagonalGaussianHead": "plausible.distributions",
    "GaussianLikelihood": "plausible.distributions",
    "GaussianRegression": "plausible.models",
    "LatentVariableModel": "plausible.models.protocols",
    "ObjectiveOutput": "plausible.objectives",
    "OutputCanvasLike": "plausible.models.protocols",
    "RankedHypotheses": "plausible.models.protocols",
    "Registry": "plausible.registry",
    "StandardNormalPrior": "plausible.distributions",
    "Trainer": "plausible.training",
    "TrainerConfig": "plausible.training",
    "VAEOutput": "plausible.models",
    "apply_overrides": "plausible.config",
    "cvae_loss": "plausible.objectives",
    "elbo": "plausible.objectives",
    "gsnn_loss": "plausible.objectives",
    "hybrid_loss": "plausible.objectives",
    "importance_sampled_nll": "plausible.metrics",
    "iwae_bound": "plausible.objectives",
    "load_recipe": "plausible.config",
    "load_run": "plausible.runs",
    "mdn_nll": "plausible.objectives",
    "multi_sample_elbo": "plausible.objectives",
    "model_protocols": "plausible.models.protocols",
    "models": "plausible.models:",
    "negative_elbo": "plausible.metrics",
    "objectives": "plausible.objectives:",
    "predictive_nll": "plausible.objectives",
    "tasks": "plausible.tasks:",
    "train_run": "plausible.runs",
}

__all__ = [
    "CVAE",
    "DATASETS",
    "HEADS",
    "MDN",
    "METRICS",
    "MODELS",
    "OBJECTIVES",
    "TASKS",
    "VAE",
    "BaselineOutput",
    "BernoulliHead",
    "CVAEOutput",
    "CanvasOutput",
    "ConditionalBaseline",
    "ConditionalDensityModel",
    "ConditionalLatentModel",
    "ConditionalModel",
    "DiagonalGaussianHead",
    "GaussianLikelihood",
    "GaussianRegression",
    "LatentVariableModel",
    "ObjectiveOutput",
    "OutputCanvasLike",
    "RankedHypotheses",
    "Registry",
    "StandardNormalPrior",
    "Trainer",
    "TrainerConfig",
    "VAEOutput",
    "__version__",
    "apply_overrides",
    "cvae_loss",
    "elbo",
    "gsnn_loss",
    "hybrid_loss",
    "importance_sampled_nll",
    "iwae_bound",
    "load_recipe",
    "load_run",
    "mdn_nll",
    "model_protocols",
    "models",
    "multi_sample_elbo",
    "negative_elbo",
    "objectives",
    "predictive_nll",
    "tasks",
    "train_run",
]


def __getattr__(name: str) -> Any:
    try:
        where = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'plausible' has no attribute {name!r}") from None
    module_name, _, _ = where.partition(":")
    module = importlib.import_module(module_name)
    value = module if where.endswith(":") else getattr(module, name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
