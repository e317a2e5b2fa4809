"""Objectives of Sohn et al. (2015): the CVAE bound, GSNN, their hybrid and the baseline NLL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from plausible.models.protocols import PairedPasses
from plausible.objectives.elbo import kl_term
from plausible.objectives.output import ObjectiveOutput
from plausible.registry import OBJECTIVES

__all__ = [
    "ConditionalLatentOutput",
    "ConditionalOutput",
    "conditional_nll_loss",
    "cvae_loss",
    "gsnn_loss",
    "hybrid_loss",
    "multiscale_nll",
]


class ConditionalOutput(Protocol):
    """A conditional model's prediction: p(y|...) and optional coarse-scale predictions."""

    p_y: Distribution
    p_y_scales: tuple[Distribution, ...]
    y_scales: tuple[Tensor, ...]


class ConditionalLatentOutput(ConditionalOutput, Protocol):
    """What ``CVAE.forward`` returns: prior, recognition (or ``None``), samples and p(y|x,z)."""

    p_z: Distribution
    q_z: Distribution | None
    z: Tensor


def _nll(p_y: Distribution, y: Tensor) -> Tensor:
    """``-log p(y|...)`` per example, averaged over any leading sample dimension: ``(B,)``."""
    log_p = p_y.log_prob(y)
    return -(log_p.mean(0) if log_p.dim() == 2 else log_p)


def multiscale_nll(p_y_scales: Sequence[Distribution], y_scales: Sequence[Tensor]) -> Tensor | None:
    """Summed coarse-scale losses of multi-scale prediction, ``(B,)``; ``None`` without scales."""
    if len(p_y_scales) != len(y_scales):
        raise ValueError(
            f"got {len(p_y_scales)} coarse predictions but {len(y_scales)} coarse targets"
        )
    if not p_y_scales:
        return None
    return torch.stack([_nll(p, t) for p, t in zip(p_y_scales, y_scales, strict=True)]).sum(0)


def _with_scales(
    reconstruction: Tensor, out: ConditionalOutput, terms: dict[str, Tensor]
) -> Tensor:
    coarse = multiscale_nll(out.p_y_scales, out.y_scales)
    if coarse is None:
        return reconstruction
    terms["multiscale"] = coarse
    return reconstruction + coarse


def cvae_loss(
    out: ConditionalLatentOutput, y: Tensor, *, beta: float = 1.0, analytic_kl: bool = True
) -> ObjectiveOutput:
    """Negative CVAE bound ``-(1/L) sum_l log p(y|x,z_l) + beta * KL(q(z|x,y) || p(z|x))``.

    With beta = 1 this is ``-L_CVAE`` of Sohn et al. (2015), an upper bound on ``-log p(y|x)``.

    Args:
        out: Model output with ``z`` drawn from ``q_z`` (``latent="posterior"``).
        y: ``(B, *y_shape)`` targets.
        beta: Weight of the KL term.
        analytic_kl: Use the closed-form KL when one is registered.

    Returns:
        ``loss`` (B,) plus terms ``reconstruction``, ``kl`` and ``elbo`` (the true bound,
        beta = 1, without multi-scale losses) in nats; ``multiscale`` when there are coarse scales.
    """
    if out.q_z is None:
        raise ValueError(
            "cvae_loss needs z drawn from the recognition network q(z|x,y); run the model with "
            "latent='posterior' (gsnn_loss is the objective for z drawn from the prior)"
        )
    reconstruction = _nll(out.p_y, y)
    if analytic_kl:
        kl = kl_term(out.q_z, out.p_z, out.z[0], analytic=True)
    else:
        kl = (out.q_z.log_prob(out.z) - out.p_z.log_prob(out.z)).mean(0)
    terms = {"reconstruction": reconstruction, "kl": kl, "elbo": -(reconstruction + kl)}
    loss = _with_scales(reconstruction, out, terms) + beta * kl
    return ObjectiveOutput(loss=loss, terms=terms)


def gsnn_loss(out: ConditionalLatentOutput, y: Tensor) -> ObjectiveOutput:
    """Negative GSNN objective ``-(1/L) sum_l log p(y|x,z_l)`` with ``z_l ~ p(z|x)``.

    The recognition network is replaced by the prior, so training matches how the model is used
    at test time (Sohn et al., 2015, eq. 5). For L = 1 it is a single-sample estimate of
    ``-E_p(z|x)[log p(y|x,z)]``, an upper bound on ``-log p(y|x)``.

    Returns:
        ``loss`` (B,) and the terms ``reconstruction`` (= loss without multi-scale parts) and
        ``multiscale`` when there are coarse scales.
    """
    if out.q_z is not None:
        raise ValueError(
            "gsnn_loss needs z drawn from the prior network p(z|x); run the model with "
            "latent='prior'"
        )
    reconstruction = _nll(out.p_y, y)
    terms = {"reconstruction": reconstruction}
    return ObjectiveOutput(loss=_with_scales(reconstruction, out, terms), terms=terms)


def hybrid_loss(
    cvae_out: ConditionalLatentOutput,
    gsnn_out: ConditionalLatentOutput,
    y: Tensor,
    *,
    alpha: float = 0.5,
    beta: float = 1.0,
) -> ObjectiveOutput:
    """``alpha * (-L_CVAE) + (1 - alpha) * (-L_GSNN)`` (Sohn et al., 2015, eq. 6).

    Args:
        cvae_out: Output with z from q(z|x,y).
        gsnn_out: Output with z from p(z|x) (same batch).
        y: ``(B, *y_shape)`` targets.
        alpha: Weight of the CVAE bound, in [0, 1].
        beta: KL weight inside the CVAE bound.

    Returns:
        ``loss`` (B,) and terms ``cvae`` and ``gsnn`` (their losses), ``kl`` and ``elbo``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    c = cvae_loss(cvae_out, y, beta=beta)
    g = gsnn_loss(gsnn_out, y)
    terms = {"cvae": c.loss, "gsnn": g.loss, "kl": c.terms["kl"], "elbo": c.terms["elbo"]}
    return ObjectiveOutput(loss=alpha * c.loss + (1.0 - alpha) * g.loss, terms=terms)


def conditional_nll_loss(out: ConditionalOutput, y: Tensor) -> ObjectiveOutput:
    """``-log p(y|x)`` of a deterministic network (summed cross-entropy for Bernoulli outputs).

    Returns:
        ``loss`` (B,) and the term ``nll`` (without multi-scale parts), in nats.
    """
    nll = _nll(out.p_y, y)
    terms = {"nll": nll}
    return ObjectiveOutput(loss=_with_scales(nll, out, terms), terms=terms)


@OBJECTIVES.register("cvae")
def cvae_objective(
    model: nn.Module, batch: dict[str, Tensor], *, beta: float = 1.0, num_samples: int = 1
) -> ObjectiveOutput:
    """Training adapter: ``model(x, y)`` with z from q(z|x,y), scored by :func:`cvae_loss`."""
    out = model(batch["x"], batch["y"], latent="posterior", num_samples=int(num_samples))
    return cvae_loss(out, batch["y"], beta=beta)


@OBJECTIVES.register("gsnn")
def gsnn_objective(
    model: nn.Module, batch: dict[str, Tensor], *, num_samples: int = 1
) -> ObjectiveOutput:
    """Training adapter: ``model(x, y)`` with z from p(z|x), scored by :func:`gsnn_loss`."""
    out = model(batch["x"], batch["y"], latent="prior", num_samples=int(num_samples))
    return gsnn_loss(out, batch["y"])


@OBJECTIVES.register("hybrid")
def hybrid_objective(
    model: nn.Module,
    batch: dict[str, Tensor],
    *,
    alpha: float = 0.5,
    beta: float = 1.0,
    num_samples: int = 1,
) -> ObjectiveOutput:
    """Training adapter for :func:`hybrid_loss`: z from q and z from p on the same batch.

    A model that offers :class:`~plausible.models.protocols.PairedPasses` is called once and
    shares x's features, p(z|x) and any per-pass randomness (Mix-and-Match units) between its two
    latent draws; any other model is called twice.
    """
    x, y, n = batch["x"], batch["y"], int(num_samples)
    if isinstance(model, PairedPasses):
        cvae_out, gsnn_out = model.forward_pair(x, y, num_samples=n)
    else:
        cvae_out = model(x, y, latent="posterior", num_samples=n)
        gsnn_out = model(x, y, latent="prior", num_samples=n)
    return hybrid_loss(cvae_out, gsnn_out, y, alpha=alpha, beta=beta)


@OBJECTIVES.register("conditional-nll")
def conditional_nll_objective(model: nn.Module, batch: dict[str, Tensor]) -> ObjectiveOutput:
    """Training adapter for the deterministic baseline: :func:`conditional_nll_loss`."""
    return conditional_nll_loss(model(batch["x"], batch["y"]), batch["y"])
