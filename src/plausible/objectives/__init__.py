"""Objectives as free functions returning per-example losses in nats."""

from plausible.objectives.elbo import elbo, kl_term
from plausible.objectives.iwae import iwae_bound, log_importance_weights
from plausible.objectives.mdn import mdn_nll, predictive_nll
from plausible.objectives.output import ObjectiveOutput
from plausible.objectives.schedules import Schedule, resolve_schedules

__all__ = [
    "ObjectiveOutput",
    "Schedule",
    "elbo",
    "iwae_bound",
    "kl_term",
    "log_importance_weights",
    "mdn_nll",
    "predictive_nll",
    "resolve_schedules",
]
