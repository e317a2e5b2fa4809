"""Mixture density network loss: negative log-likelihood in log space, optional Dirichlet prior."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution, MixtureSameFamily

from plausible.objectives.output import ObjectiveOutput
from plausible.registry import OBJECTIVES

__all__ = ["mdn_nll", "predictive_nll"]


def _check_target(p_y: Distribution, y: Tensor) -> None:
    expected = tuple(p_y.batch_shape) + tuple(p_y.event_shape)
    if tuple(y.shape) != expected:
        raise ValueError(
            f"targets of shape {tuple(y.shape)} do not match p(y|x) with batch shape "
            f"{tuple(p_y.batch_shape)} and event shape {tuple(p_y.event_shape)}; pass y as "
            f"{expected} (a 1-D target needs a trailing axis: y[:, None])"
        )


def predictive_nll(p_y: Distribution, y: Tensor) -> Tensor:
    """``-log p(y | x)`` per example, in nats.

    Args:
        p_y: Predictive distribution, batch shape ``(B,)``, event shape ``(D,)``.
        y: ``(B, D)`` targets.

    Returns:
        ``(B,)`` negative log-likelihood.
    """
    _check_target(p_y, y)
    return -p_y.log_prob(y)


def mdn_nll(
    p_y: Distribution, y: Tensor, *, dirichlet_concentration: float | None = None
) -> ObjectiveOutput:
    """Negative log-likelihood of a mixture density network, optionally with a Dirichlet prior.

    The likelihood ``log sum_k pi_k N(y; mu_k, sigma_k^2)`` is evaluated as
    ``logsumexp_k(log_softmax(a)_k + log N_k)`` by ``MixtureSameFamily.log_prob``, so it stays
    finite where probability-space implementations underflow to ``log 0`` (far-away targets,
    many output dimensions).

    With ``dirichlet_concentration = lambda`` the loss adds ``-(lambda - 1) sum_k log pi_k``,
    the negative log-density (up to a constant) of a symmetric ``Dirichlet(lambda)`` prior on the
    mixing weights (Li & Lee 2019, who use ``lambda = 2``). ``lambda > 1`` keeps every weight
    away from zero, so one kernel cannot take all the weight.

    Args:
        p_y: ``p(y | x)``, batch shape ``(B,)``, event shape ``(D,)``; a ``MixtureSameFamily``
            when the prior is used.
        y: ``(B, D)`` targets.
        dirichlet_concentration: ``lambda >= 1``, or ``None`` for the plain likelihood.

    Returns:
        ``loss`` ``(B,)`` in nats, with terms ``nll`` (``-log p(y|x)``) and, with the prior,
        ``dirichlet_prior``.

    References:
        Bishop, C. M. "Mixture Density Networks." NCRG/94/004, Aston University, 1994.
        Li, C. and Lee, G. H. "Generating Multiple Hypotheses for 3D Human Pose Estimation with
        Mixture Density Network." CVPR 2019.
    """
    nll = predictive_nll(p_y, y)
    terms = {"nll": nll}
    loss = nll
    if dirichlet_concentration is not None:
        concentration = float(dirichlet_concentration)
        if not concentration >= 1.0:
            raise ValueError(
                f"dirichlet_concentration must be >= 1, got {concentration}: below 1 the prior "
                "rewards log pi_k -> -inf and the loss has no minimum; use 2.0 (Li & Lee) or None"
            )
        if not isinstance(p_y, MixtureSameFamily):
            raise TypeError(
                "the Dirichlet prior acts on mixing weights, but p(y|x) is a "
                f"{type(p_y).__name__}; use an MDN or drop dirichlet_concentration"
            )
        log_pi = torch.log_softmax(p_y.mixture_distribution.logits, dim=-1)
        prior = -(concentration - 1.0) * log_pi.sum(-1)
        terms["dirichlet_prior"] = prior
        loss = nll + prior
    return ObjectiveOutput(loss=loss, terms=terms)


@OBJECTIVES.register("mdn-nll")
def mdn_nll_objective(
    model: torch.nn.Module,
    batch: dict[str, Tensor],
    *,
    dirichlet_concentration: float | None = None,
) -> ObjectiveOutput:
    """Training adapter: score ``model(batch["x"])`` against ``batch["y"]`` with :func:`mdn_nll`."""
    return mdn_nll(model(batch["x"]), batch["y"], dirichlet_concentration=dirichlet_concentration)


@OBJECTIVES.register("gaussian-nll")
def gaussian_nll_objective(model: torch.nn.Module, batch: dict[str, Tensor]) -> ObjectiveOutput:
    """Training adapter for regression baselines: ``-log p(y|x)`` of any model returning ``p(y|x)``.

    For a Gaussian with a learned constant scale this is least squares plus the scale's fit.
    """
    nll = predictive_nll(model(batch["x"]), batch["y"])
    return ObjectiveOutput(loss=nll, terms={"nll": nll})
