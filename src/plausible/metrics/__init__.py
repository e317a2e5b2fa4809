"""Metrics that say exactly what they estimate and with what."""

from plausible.metrics.latent import active_units, kl_per_latent_dimension, posterior_means
from plausible.metrics.likelihood import (
    Estimate,
    importance_sampled_nll,
    negative_elbo,
    samples_per_chunk,
)

__all__ = [
    "Estimate",
    "active_units",
    "importance_sampled_nll",
    "kl_per_latent_dimension",
    "negative_elbo",
    "posterior_means",
    "samples_per_chunk",
]
