"""Metrics that say exactly what they estimate and with what."""

from plausible.metrics.hypotheses import (
    BranchCoverage,
    best_of_k_error,
    branch_coverage,
    energy_score,
    expected_error,
    prediction_error,
)
from plausible.metrics.latent import active_units, kl_per_latent_dimension, posterior_means
from plausible.metrics.likelihood import (
    Estimate,
    importance_sampled_nll,
    negative_elbo,
    samples_per_chunk,
)
from plausible.metrics.mixture import (
    MixtureModes,
    component_usage,
    dead_components,
    interval_coverage,
    mixing_entropy,
    mixture_diagnostics,
    mixture_modes,
    pit_histogram,
    probability_integral_transform,
    responsibilities,
)

__all__ = [
    "BranchCoverage",
    "Estimate",
    "MixtureModes",
    "active_units",
    "best_of_k_error",
    "branch_coverage",
    "component_usage",
    "dead_components",
    "energy_score",
    "expected_error",
    "importance_sampled_nll",
    "interval_coverage",
    "kl_per_latent_dimension",
    "mixing_entropy",
    "mixture_diagnostics",
    "mixture_modes",
    "negative_elbo",
    "pit_histogram",
    "posterior_means",
    "prediction_error",
    "probability_integral_transform",
    "responsibilities",
    "samples_per_chunk",
]
