"""Objectives as free functions returning per-example losses in nats."""

from plausible.objectives.cvae import cvae_loss, gsnn_loss, hybrid_loss
from plausible.objectives.elbo import capacity_penalty, elbo, free_bits_penalty, kl_term
from plausible.objectives.iwae import iwae_bound, log_importance_weights, multi_sample_elbo
from plausible.objectives.mdn import mdn_nll, predictive_nll
from plausible.objectives.output import ObjectiveOutput
from plausible.objectives.schedules import Schedule, resolve_schedules

__all__ = [
    "ObjectiveOutput",
    "Schedule",
    "capacity_penalty",
    "cvae_loss",
    "elbo",
    "free_bits_penalty",
    "gsnn_loss",
    "hybrid_loss",
    "iwae_bound",
    "kl_term",
    "log_importance_weights",
    "mdn_nll",
    "multi_sample_elbo",
    "predictive_nll",
    "resolve_schedules",
]
