"""Distribution heads (tensor -> Distribution), priors as modules, and KL helpers."""

from plausible.distributions.heads import (
    HEADS,
    BernoulliHead,
    ContinuousBernoulliHead,
    DiagonalGaussianHead,
    DistributionHead,
    GaussianLikelihood,
    LaplaceLikelihood,
    make_likelihood,
)
from plausible.distributions.kl import kl_per_dimension
from plausible.distributions.mixture import (
    GaussianMixtureHead,
    approximate_mode,
    gaussian_mixture,
    mixture_parts,
    tempered,
    top_hypotheses,
)
from plausible.distributions.priors import StandardNormalPrior

__all__ = [
    "HEADS",
    "BernoulliHead",
    "ContinuousBernoulliHead",
    "DiagonalGaussianHead",
    "DistributionHead",
    "GaussianLikelihood",
    "GaussianMixtureHead",
    "LaplaceLikelihood",
    "StandardNormalPrior",
    "approximate_mode",
    "gaussian_mixture",
    "kl_per_dimension",
    "make_likelihood",
    "mixture_parts",
    "tempered",
    "top_hypotheses",
]
