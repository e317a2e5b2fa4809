"""Conditional log-likelihood -log p(y|x): Monte Carlo, importance sampling, bound, exact.

Every estimator is seeded per example (:mod:`plausible.metrics.streams`): the same seed gives the
same numbers whatever the batch size or the memory budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from plausible.metrics.likelihood import Estimate, rows_per_chunk, samples_per_chunk
from plausible.metrics.progress import progress
from plausible.metrics.streams import ExampleDraws, evaluating
from plausible.metrics.suite import NotApplicableError
from plausible.models.protocols import ConditionalDensityModel, ConditionalLatentModel
from plausible.objectives.elbo import kl_term
from plausible.registry import METRICS

__all__ = [
    "CONDITIONAL_DEFAULTS",
    "Proposal",
    "conditional_likelihoods",
    "conditional_log_weights",
    "conditional_negative_elbo",
    "conditional_nll",
    "conditional_nll_values",
    "deterministic_conditional_nll",
    "deterministic_conditional_nll_values",
    "deterministic_nll_estimate",
    "nll_estimate",
]

Proposal = Literal["prior", "posterior"]
_PROPOSALS: dict[str, str] = {"prior": "p(z|x)", "posterior": "q(z|x,y)"}
_ESTIMATORS: dict[str, str] = {
    "prior": "Monte Carlo with the prior network as proposal",
    "posterior": "importance sampling with the recognition network as proposal",
}


def _check_proposal(proposal: str) -> None:
    if proposal not in _PROPOSALS:
        raise ValueError(
            f"proposal must be 'prior' (Monte Carlo) or 'posterior' (importance sampling), got "
            f"{proposal!r}"
        )


def _check_pair(x: Tensor, y: Tensor) -> None:
    if len(x) != len(y):
        raise ValueError(
            f"x and y must hold the same examples: got {len(x)} inputs {tuple(x.shape)} and "
            f"{len(y)} targets {tuple(y.shape)}"
        )
    if len(x) == 0:
        raise ValueError("no examples to evaluate: x and y are empty")


def _latent(model: nn.Module, proposal: str = "prior") -> ConditionalLatentModel:
    if not isinstance(model, ConditionalLatentModel):
        raise TypeError(
            f"{type(model).__name__} is not a conditional latent-variable model (prior(x), "
            "recognize(x, y), generate(x, z); see plausible.models.protocols)"
        )
    if proposal == "posterior" and not model.has_recognition:
        raise ValueError(
            f"this {type(model).__name__} has no recognition network q(z|x,y) "
            "(has_recognition is False): use proposal='prior' (Monte Carlo)"
        )
    return model


def conditional_log_weights(
    model: ConditionalLatentModel,
    x: Tensor,
    y: Tensor,
    num_samples: int,
    *,
    proposal: Proposal = "posterior",
    p_z: Distribution | None = None,
    q_z: Distribution | None = None,
    z: Tensor | None = None,
) -> Tensor:
    """Log-weights whose log-mean-exp over samples estimates ``log p(y|x)``.

    * ``prior`` (Monte Carlo): ``z_s ~ p(z|x)``, weight ``log p(y|x,z_s)``.
    * ``posterior`` (importance sampling): ``z_s ~ q(z|x,y)``, weight
      ``log p(y|x,z_s) + log p(z_s|x) - log q(z_s|x,y)``.

    Args:
        model: Conditional latent-variable model.
        x: ``(B, *x_shape)`` inputs.
        y: ``(B, *y_shape)`` targets.
        num_samples: S.
        proposal: ``prior`` or ``posterior``.
        p_z: p(z|x) if already computed (lets callers reuse it across chunks).
        q_z: q(z|x,y) if already computed.
        z: ``(S, B, latent_dim)`` draws from the proposal; ``None`` draws them here.

    Returns:
        ``(S, B)`` log-weights in nats.
    """
    _check_proposal(proposal)
    p_z = model.prior(x) if p_z is None else p_z
    if proposal == "prior":
        z = p_z.sample((num_samples,)) if z is None else z
        return model.generate(x, z).log_prob(y)
    q_z = model.recognize(x, y) if q_z is None else q_z
    z = q_z.sample((num_samples,)) if z is None else z
    return model.generate(x, z).log_prob(y) + p_z.log_prob(z) - q_z.log_prob(z)


def _floats_per_sample(module: nn.Module, y: Tensor) -> int:
    # Activations alive per (sample, example) pair while generating: generously, twice every
    # layer's width plus a few copies of the output.
    widths = sum(p.shape[0] for p in module.parameters() if p.dim() >= 1)
    return 2 * widths + 4 * y[0].numel() + 1


def _seed(seed: int | None) -> int:
    return int(torch.randint(2**62, ())) if seed is None else int(seed)


@torch.no_grad()
def conditional_nll_values(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    num_samples: int = 1000,
    proposal: Proposal = "posterior",
    batch_size: int = 100,
    memory_budget_mb: float = 256.0,
    seed: int | None = 0,
    progress: Callable[[int], None] | None = None,
) -> Tensor:
    """Per-example ``-log p_hat(y|x)``, ``log p_hat = logsumexp_s(log w_s) - log S``.

    Images are processed ``batch_size`` at a time and their S samples in chunks combined with a
    running logsumexp (in float64), so memory stays within ``memory_budget_mb`` for any S. Each
    example's S draws come from its own stream seeded from ``(seed, index)``, so the values do
    not depend on ``batch_size`` or ``memory_budget_mb``.

    Args:
        model: :class:`~plausible.models.protocols.ConditionalLatentModel`.
        x: ``(N, *x_shape)`` inputs (any device; moved per batch).
        y: ``(N, *y_shape)`` targets.
        num_samples: S, samples per example.
        proposal: ``prior`` (Monte Carlo) or ``posterior`` (importance sampling; needs
            ``has_recognition``).
        batch_size: Examples per batch.
        memory_budget_mb: Budget for the generation network's activations of one chunk.
        seed: Seed of the samples (``None``: seeded from the global random stream).
        progress: Called with the number of examples finished after each batch.

    Returns:
        ``(N,)`` float64 estimates in nats.
    """
    _check_proposal(proposal)
    _check_pair(x, y)
    cvae = _latent(model, proposal)
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    seed = _seed(seed)
    values = []
    with evaluating(model, seed) as device:
        chunk = samples_per_chunk(
            min(batch_size, len(x)),
            num_samples,
            _floats_per_sample(model, y),
            memory_budget_mb,
            max_rows=rows_per_chunk(device),
        )
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device)
            yb = y[start : start + batch_size].to(device)
            p_z = cvae.prior(xb)
            q_z = cvae.recognize(xb, yb) if proposal == "posterior" else None
            draws = ExampleDraws(
                p_z if q_z is None else q_z, seed=seed, first=start, num_samples=num_samples
            )
            total = torch.full((len(xb),), -math.inf, device=device, dtype=torch.float64)
            for s0 in range(0, num_samples, chunk):
                s = min(chunk, num_samples - s0)
                log_w = conditional_log_weights(
                    cvae, xb, yb, s, proposal=proposal, p_z=p_z, q_z=q_z, z=draws.chunk(s0, s)
                ).double()
                total = torch.logaddexp(total, torch.logsumexp(log_w, 0))
            values.append(-(total - math.log(num_samples)).cpu())
            if progress is not None:
                progress(len(xb))
    return torch.cat(values)


def nll_estimate(values: Tensor, *, num_samples: int, proposal: Proposal) -> Estimate:
    """Wrap per-example values of :func:`conditional_nll_values` as a labelled :class:`Estimate`."""
    _check_proposal(proposal)
    return Estimate.from_values(
        values,
        num_samples=num_samples,
        proposal=_PROPOSALS[proposal],
        estimator=f"{_ESTIMATORS[proposal]}, S={num_samples}",
    )


@METRICS.register("conditional-nll")
def conditional_nll(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    num_samples: int = 1000,
    proposal: Proposal = "posterior",
    batch_size: int = 100,
    memory_budget_mb: float = 256.0,
    seed: int | None = 0,
    progress: Callable[[int], None] | None = None,
) -> Estimate:
    """Negative conditional log-likelihood ``-log p(y|x)`` (Sohn et al., 2015, section 4.1).

    ``proposal="prior"`` is the Monte Carlo estimator (samples from p(z|x)); it is consistent but
    needs very many samples when p(z|x) is broad compared with p(z|x,y).
    ``proposal="posterior"`` is importance sampling with q(z|x,y); for every S its expected
    ``log p_hat`` is a lower bound on ``log p(y|x)`` (the S-sample IWAE-style bound), so the
    reported ``-log`` errs high and approaches the truth as S grows. Both share that direction of
    error; at equal S the lower value is the better estimate.

    Args: as :func:`conditional_nll_values`.

    Returns:
        :class:`Estimate` in nats per example, with its standard error across examples, S and the
        proposal.
    """
    values = conditional_nll_values(
        model,
        x,
        y,
        num_samples=num_samples,
        proposal=proposal,
        batch_size=batch_size,
        memory_budget_mb=memory_budget_mb,
        seed=seed,
        progress=progress,
    )
    return nll_estimate(values, num_samples=num_samples, proposal=proposal)


@METRICS.register("conditional-negative-elbo")
@torch.no_grad()
def conditional_negative_elbo(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    num_samples: int = 1,
    batch_size: int = 500,
    seed: int | None = 0,
) -> dict[str, Estimate]:
    """The negative CVAE bound with analytic KL, an *upper bound* on ``-log p(y|x)``.

    ``-(1/L) sum_l log p(y|x,z_l) + KL(q(z|x,y) || p(z|x))`` with ``z_l ~ q(z|x,y)`` drawn from
    per-example streams (the ``elbo`` term of :func:`~plausible.objectives.cvae.cvae_loss`).

    Args:
        model: Conditional latent-variable model with a recognition network.
        x: ``(N, *x_shape)`` inputs.
        y: ``(N, *y_shape)`` targets.
        num_samples: L, samples averaged in the reconstruction term.
        batch_size: Examples per batch.
        seed: Seed of the samples.

    Returns:
        ``{"negative_elbo", "reconstruction", "kl"}`` estimates in nats per example.
    """
    _check_pair(x, y)
    cvae = _latent(model, "posterior")
    seed = _seed(seed)
    parts: dict[str, list[Tensor]] = {"negative_elbo": [], "reconstruction": [], "kl": []}
    with evaluating(model, seed) as device:
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device)
            yb = y[start : start + batch_size].to(device)
            q_z, p_z = cvae.recognize(xb, yb), cvae.prior(xb)
            z = ExampleDraws(q_z, seed=seed, first=start, num_samples=num_samples).chunk(
                0, num_samples
            )
            reconstruction = -cvae.generate(xb, z).log_prob(yb).double().mean(0)
            kl = kl_term(q_z, p_z, z[0], analytic=True).double()
            parts["negative_elbo"].append((reconstruction + kl).cpu())
            parts["reconstruction"].append(reconstruction.cpu())
            parts["kl"].append(kl.cpu())
    estimator = f"negative ELBO (upper bound on -log p(y|x)), L={num_samples}, analytic KL"
    return {
        k: Estimate.from_values(
            torch.cat(v),
            num_samples=num_samples,
            proposal="q(z|x,y)",
            estimator=estimator if k == "negative_elbo" else f"{k} part of the {estimator}",
        )
        for k, v in parts.items()
    }


@torch.no_grad()
def deterministic_conditional_nll_values(
    model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 1000
) -> Tensor:
    """Per-example exact ``-log p(y|x)`` of a model with a predictive density (``predictive(x)``).

    Returns:
        ``(N,)`` float64 values in nats; for Bernoulli outputs the summed cross-entropy.
    """
    _check_pair(x, y)
    if not isinstance(model, ConditionalDensityModel):
        raise TypeError(
            f"{type(model).__name__} has no predictive density p(y|x) (see "
            "plausible.models.protocols.ConditionalDensityModel)"
        )
    values = []
    with evaluating(model, None) as device:
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device)
            yb = y[start : start + batch_size].to(device)
            values.append(-model.predictive(xb).log_prob(yb).double().cpu())
    return torch.cat(values)


def deterministic_nll_estimate(values: Tensor) -> Estimate:
    """Wrap :func:`deterministic_conditional_nll_values` as a labelled :class:`Estimate`."""
    return Estimate.from_values(
        values,
        num_samples=1,
        proposal="none (exact)",
        estimator="exact -log p(y|x) of the deterministic network",
    )


@METRICS.register("deterministic-conditional-nll")
def deterministic_conditional_nll(
    model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 1000
) -> Estimate:
    """Exact ``-log p(y|x)`` of a model with a predictive density (``model.predictive(x)``).

    For Bernoulli outputs it is the cross-entropy of the target pixels, summed per example.

    Returns:
        :class:`Estimate` with ``num_samples=1`` and proposal ``"none (exact)"``.
    """
    values = deterministic_conditional_nll_values(model, x, y, batch_size=batch_size)
    return deterministic_nll_estimate(values)


#: Settings of the conditional estimators, as the ``nll`` metric reads them.
CONDITIONAL_DEFAULTS: dict[str, Any] = {
    "num_samples": 1000,
    "mc_samples": 0,
    "is_samples": 0,
    "elbo_samples": 10,
    "batch_size": 100,
    "memory_budget_mb": 512.0,
    "seed": 0,
    "per_example": False,
}


def conditional_likelihoods(
    model: nn.Module, x: Tensor, y: Tensor, opts: dict[str, Any]
) -> dict[str, Any]:
    """``-log p(y|x)`` on held-out pairs by every estimator that applies to ``model``.

    * A :class:`~plausible.models.protocols.ConditionalLatentModel`: ``nll_mc`` (Monte Carlo,
      prior proposal, S = ``mc_samples`` or ``num_samples``); with a recognition network also
      ``nll_is`` (importance sampling, S = ``is_samples`` or ``num_samples``) and
      ``negative_elbo`` (an upper bound, L = ``elbo_samples``) with its ``reconstruction`` and
      ``kl`` parts. ``nll`` repeats the best honest estimate: IS when the model has a recognition
      network, otherwise Monte Carlo (a GSNN); its ``proposal`` says which.
    * A :class:`~plausible.models.protocols.ConditionalDensityModel`: ``nll``, exact.

    Every result adds ``nll_per_element`` and ``bits_per_dim`` (``nll`` per target value, in nats
    and bits), ``target_values`` and ``num_examples``; with ``per_example`` each estimator's
    per-example values as ``per_example_<key>`` lists (for paired comparisons between models).

    Args:
        model: The model.
        x: ``(N, *x_shape)`` inputs.
        y: ``(N, *y_shape)`` targets.
        opts: Validated settings (:data:`CONDITIONAL_DEFAULTS`).

    Returns:
        The ``nll`` metric's result for this model.
    """
    common: dict[str, Any] = {
        "batch_size": int(opts["batch_size"]),
        "memory_budget_mb": float(opts["memory_budget_mb"]),
        "seed": int(opts["seed"]),
    }
    s = int(opts["num_samples"])
    out: dict[str, Any] = {"num_examples": len(x)}
    values: dict[str, Tensor] = {}
    if isinstance(model, ConditionalLatentModel):
        s_mc = int(opts["mc_samples"]) or s
        with progress(f"-log p(y|x), Monte Carlo, S={s_mc}", len(x)) as advance:
            values["nll_mc"] = conditional_nll_values(
                model, x, y, num_samples=s_mc, proposal="prior", progress=advance, **common
            )
        nll = nll_estimate(values["nll_mc"], num_samples=s_mc, proposal="prior")
        out["nll_mc"] = nll.to_dict()
        if model.has_recognition:
            s_is = int(opts["is_samples"]) or s
            with progress(f"-log p(y|x), importance sampling, S={s_is}", len(x)) as advance:
                values["nll_is"] = conditional_nll_values(
                    model, x, y, num_samples=s_is, proposal="posterior", progress=advance, **common
                )
            nll = nll_estimate(values["nll_is"], num_samples=s_is, proposal="posterior")
            bound = conditional_negative_elbo(
                model, x, y, num_samples=int(opts["elbo_samples"]), seed=common["seed"]
            )
            out["nll_is"] = nll.to_dict()
            out.update({k: v.to_dict() for k, v in bound.items()})
    elif isinstance(model, ConditionalDensityModel):
        values["nll"] = deterministic_conditional_nll_values(model, x, y)
        nll = deterministic_nll_estimate(values["nll"])
    else:
        raise NotApplicableError(
            f"{type(model).__name__} has neither latents (prior(x), recognize, generate) nor a "
            "predictive density p(y|x) to score -log p(y|x) with"
        )
    out["nll"] = nll.to_dict()
    if opts["per_example"]:
        # Per-example values let two models be compared pairwise (the paired standard error).
        for key, t in values.items():
            out[f"per_example_{key}"] = [round(float(v), 4) for v in t]
    target_values = y[0].numel()
    out["nll_per_element"] = nll.mean / target_values
    out["bits_per_dim"] = nll.mean / (target_values * math.log(2))
    out["target_values"] = target_values
    return out
