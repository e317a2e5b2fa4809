"""The ``nll`` suite metric: the likelihood estimators that suit the model and the data.

Unconditional data and a latent-variable model get the image likelihoods of
:func:`~plausible.metrics.likelihood.latent_likelihoods` (IS-NLL, negative ELBO, bits/dim, active
units); input-target pairs get the conditional estimators of
:func:`~plausible.metrics.conditional.conditional_likelihoods` (Monte Carlo, importance sampling,
the bound, or the exact value of a density model).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from plausible.data.task_data import TaskData
from plausible.metrics.conditional import CONDITIONAL_DEFAULTS, conditional_likelihoods
from plausible.metrics.likelihood import LATENT_DEFAULTS, latent_likelihoods
from plausible.metrics.suite import conditional, options, suite_metric

__all__ = ["NLL_SHARED", "nll_metric"]

#: Top-level ``[evaluation]`` keys the ``nll`` metric reads (``max_examples`` is the earlier name
#: of ``num_examples``, kept so that saved recipes and run folders still evaluate).
NLL_SHARED = (
    "seed",
    "num_examples",
    "max_examples",
    "num_samples",
    "mc_samples",
    "is_samples",
    "elbo_samples",
    "batch_size",
    "memory_budget_mb",
    "per_example",
    "active_unit_examples",
)

_DEFAULTS: dict[str, Any] = {
    **LATENT_DEFAULTS,
    **CONDITIONAL_DEFAULTS,
    "num_examples": 0,
    "max_examples": 0,
}


@suite_metric(
    "nll",
    "negative log-likelihood: IS-NLL and negative ELBO (VAE), -log p(y|x) (CVAE, GSNN, MDN)",
    directions={
        "nll": "lower",
        "nll_mc": "lower",
        "nll_is": "lower",
        "negative_elbo": "lower",
        "reconstruction": "lower",
        "bits_per_dim": "lower",
        "nll_per_element": "lower",
    },
    shared=NLL_SHARED,
)
def nll_metric(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    """Test-set likelihoods of ``model``: see the module docstring. Settings: :data:`_DEFAULTS`."""
    opts = options(settings, "nll", _DEFAULTS)
    n = int(opts["num_examples"]) or int(opts["max_examples"])
    if not conditional(data):
        return latent_likelihoods(model, data, {**opts, "num_examples": n})
    x, y = data.test["x"][: n or None], data.test["y"][: n or None]
    result = conditional_likelihoods(model, x, y, opts)
    return {**result, "settings": opts}
