"""Conditional log-likelihood -log p(y|x): Monte Carlo, importance sampling, bound, exact."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Literal, Protocol

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from plausible.metrics.likelihood import Estimate, rows_per_chunk, samples_per_chunk
from plausible.objectives.cvae import cvae_loss
from plausible.registry import METRICS

__all__ = [
    "ConditionalLatentModel",
    "Proposal",
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


class ConditionalLatentModel(Protocol):
    """A conditional latent-variable model: p(z|x), q(z|x,y) and p(y|x,z)."""

    def prior(self, x: Tensor) -> Distribution: ...
    def recognize(self, x: Tensor, y: Tensor) -> Distribution: ...
    def generate(self, x: Tensor, z: Tensor) -> Distribution: ...


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


def conditional_log_weights(
    model: ConditionalLatentModel,
    x: Tensor,
    y: Tensor,
    num_samples: int,
    *,
    proposal: Proposal = "posterior",
    p_z: Distribution | None = None,
    q_z: Distribution | None = None,
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

    Returns:
        ``(S, B)`` log-weights in nats.
    """
    _check_proposal(proposal)
    p_z = model.prior(x) if p_z is None else p_z
    if proposal == "prior":
        z = p_z.sample((num_samples,))
        return model.generate(x, z).log_prob(y)
    q_z = model.recognize(x, y) if q_z is None else q_z
    z = q_z.sample((num_samples,))
    return model.generate(x, z).log_prob(y) + p_z.log_prob(z) - q_z.log_prob(z)


@contextlib.contextmanager
def _evaluating(module: nn.Module, seed: int | None) -> Iterator[torch.device]:
    """Eval mode and a seeded, forked RNG (the caller's random stream is left untouched)."""
    device = next(module.parameters()).device
    was_training = module.training
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        module.eval()
        try:
            yield device
        finally:
            module.train(was_training)


def _floats_per_sample(module: nn.Module, y: Tensor) -> int:
    # Activations alive per (sample, example) pair while generating: generously, twice every
    # layer's width plus a few copies of the output.
    widths = sum(p.shape[0] for p in module.parameters() if p.dim() >= 1)
    return 2 * widths + 4 * y[0].numel() + 1


@torch.no_grad()
def conditional_nll_values(
    model: ConditionalLatentModel,
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
    running logsumexp (in float64), so memory stays within ``memory_budget_mb`` for any S.

    Args:
        model: Conditional latent-variable model (``prior``, ``recognize``, ``generate``).
        x: ``(N, *x_shape)`` inputs (any device; moved per batch).
        y: ``(N, *y_shape)`` targets.
        num_samples: S, samples per example.
        proposal: ``prior`` (Monte Carlo) or ``posterior`` (importance sampling).
        batch_size: Examples per batch.
        memory_budget_mb: Budget for the generation network's activations of one chunk.
        seed: Seed of the samples (``None``: use and advance the global random state).
        progress: Called with the number of examples finished after each batch.

    Returns:
        ``(N,)`` float64 estimates in nats.
    """
    _check_proposal(proposal)
    _check_pair(x, y)
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    module: nn.Module = model  # type: ignore[assignment]
    values = []
    with _evaluating(module, seed) as device:
        chunk = samples_per_chunk(
            min(batch_size, len(x)),
            num_samples,
            _floats_per_sample(module, y),
            memory_budget_mb,
            max_rows=rows_per_chunk(device),
        )
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device)
            yb = y[start : start + batch_size].to(device)
            p_z = model.prior(xb)
            q_z = model.recognize(xb, yb) if proposal == "posterior" else None
            total = torch.full((len(xb),), -math.inf, device=device, dtype=torch.float64)
            for s0 in range(0, num_samples, chunk):
                s = min(chunk, num_samples - s0)
                log_w = conditional_log_weights(
                    model, xb, yb, s, proposal=proposal, p_z=p_z, q_z=q_z
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


@METRICS.register("conditional_nll")
def conditional_nll(
    model: ConditionalLatentModel,
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


@METRICS.register("conditional_negative_elbo")
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

    Args:
        model: A CVAE (``model(x, y, latent="posterior", num_samples=L)``).
        x: ``(N, *x_shape)`` inputs.
        y: ``(N, *y_shape)`` targets.
        num_samples: L, samples averaged in the reconstruction term.
        batch_size: Examples per batch.
        seed: Seed of the samples.

    Returns:
        ``{"negative_elbo", "reconstruction", "kl"}`` estimates in nats per example.
    """
    _check_pair(x, y)
    parts: dict[str, list[Tensor]] = {"negative_elbo": [], "reconstruction": [], "kl": []}
    with _evaluating(model, seed) as device:
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device)
            yb = y[start : start + batch_size].to(device)
            out = cvae_loss(model(xb, yb, latent="posterior", num_samples=num_samples), yb)
            parts["negative_elbo"].append(-out.terms["elbo"].double().cpu())
            parts["reconstruction"].append(out.terms["reconstruction"].double().cpu())
            parts["kl"].append(out.terms["kl"].double().cpu())
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
    """Per-example exact ``-log p(y|x)`` of a network without latents (``model.predictive(x)``).

    Returns:
        ``(N,)`` float64 values in nats; for Bernoulli outputs the summed cross-entropy.
    """
    _check_pair(x, y)
    values = []
    with _evaluating(model, None) as device:
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device)
            yb = y[start : start + batch_size].to(device)
            p_y = model.predictive(xb)  # type: ignore[operator]
            values.append(-p_y.log_prob(yb).double().cpu())
    return torch.cat(values)


def deterministic_nll_estimate(values: Tensor) -> Estimate:
    """Wrap :func:`deterministic_conditional_nll_values` as a labelled :class:`Estimate`."""
    return Estimate.from_values(
        values,
        num_samples=1,
        proposal="none (exact)",
        estimator="exact -log p(y|x) of the deterministic network",
    )


@METRICS.register("deterministic_conditional_nll")
def deterministic_conditional_nll(
    model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 1000
) -> Estimate:
    """Exact ``-log p(y|x)`` of a network without latents (``model.predictive(x)``).

    For Bernoulli outputs it is the cross-entropy of the target pixels, summed per example.

    Returns:
        :class:`Estimate` with ``num_samples=1`` and proposal ``"none (exact)"``.
    """
    values = deterministic_conditional_nll_values(model, x, y, batch_size=batch_size)
    return deterministic_nll_estimate(values)
