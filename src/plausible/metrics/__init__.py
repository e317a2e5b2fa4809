"""Metrics that say exactly what they estimate and with what; importing registers the suite's.

:mod:`plausible.metrics.suite` holds the plumbing (registry, settings, runner); every registered
suite metric sits next to its mathematics in the modules imported below.
"""

from plausible.metrics import (  # noqa: F401  (modules that only register suite metrics)
    forecast_collapse,
    forecasting,
    inverse_problems,
    nll,
    predictive_checks,
    saliency,
    segmentation,
    sequence_quality,
    suite,
)
from plausible.metrics.collapse import CollapseMonitor, collapse_diagnostics, mutual_information
from plausible.metrics.conditional import conditional_negative_elbo, conditional_nll
from plausible.metrics.disentanglement import beta_vae_score, dci, factor_vae_score, mig
from plausible.metrics.diversity import (
    average_pairwise_distance,
    crps_ensemble,
    crps_gaussian,
    draw_samples,
)
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
from plausible.metrics.quality import diversity_quality_sweep, quality_classifier_accuracy
from plausible.metrics.sample_quality import frechet_distance, precision_recall
from plausible.metrics.suite import NotApplicableError, run_metrics

__all__ = [
    "BranchCoverage",
    "CollapseMonitor",
    "Estimate",
    "MixtureModes",
    "NotApplicableError",
    "active_units",
    "average_pairwise_distance",
    "best_of_k_error",
    "beta_vae_score",
    "branch_coverage",
    "collapse_diagnostics",
    "component_usage",
    "conditional_negative_elbo",
    "conditional_nll",
    "crps_ensemble",
    "crps_gaussian",
    "dci",
    "dead_components",
    "diversity_quality_sweep",
    "draw_samples",
    "energy_score",
    "expected_error",
    "factor_vae_score",
    "frechet_distance",
    "importance_sampled_nll",
    "interval_coverage",
    "kl_per_latent_dimension",
    "mig",
    "mixing_entropy",
    "mixture_diagnostics",
    "mixture_modes",
    "mutual_information",
    "negative_elbo",
    "pit_histogram",
    "posterior_means",
    "precision_recall",
    "prediction_error",
    "probability_integral_transform",
    "quality_classifier_accuracy",
    "responsibilities",
    "run_metrics",
    "samples_per_chunk",
]
