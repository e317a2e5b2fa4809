"""Likelihood estimates of latent-variable models: negative ELBO and importance-sampled NLL.

Both are seeded: example ``i`` draws its latents from its own stream seeded from ``(seed, i)``
(:mod:`plausible.metrics.streams`), so the same seed gives the same numbers whatever the batch
size, the memory budget or the device's chunking.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from plausible.data.task_data import TaskData
from plausible.metrics.latent import active_unit_summary, kl_per_latent_dimension
from plausible.metrics.progress import progress
from plausible.metrics.streams import ExampleDraws, evaluating
from plausible.metrics.suite import NotApplicableError, held_out_inputs
from plausible.models.protocols import LatentVariableModel
from plausible.objectives.elbo import elbo

__all__ = [
    "CPU_ROWS_PER_CHUNK",
    "Estimate",
    "importance_sampled_nll",
    "latent_likelihoods",
    "log_importance_weights",
    "negative_elbo",
    "rows_per_chunk",
    "samples_per_chunk",
]

#: Decoder rows (examples x samples) per call on a CPU. Measured on the W1 decoder with 2 threads:
#: 500 to 1,000 rows decode ~160k samples/s, 14,000 rows (a 512 MiB budget at 100 images) 93k;
#: larger chunks only push the element-wise passes over the outputs out of the CPU's caches.
CPU_ROWS_PER_CHUNK = 1024


def rows_per_chunk(device: torch.device) -> int | None:
    """The cap on decoder rows per call that is fastest on ``device``; ``None``: no cap.

    Accelerators run faster the larger each call, so there only the memory budget limits it.
    """
    return CPU_ROWS_PER_CHUNK if device.type == "cpu" else None


@dataclass
class Estimate:
    """An estimate over a data set: every likelihood the suite reports is one.

    Attributes:
        mean: Average over examples, in nats per example.
        stderr: Standard error of ``mean`` across examples (sample std / sqrt(N)).
        num_samples: Samples per example (K or S).
        num_examples: Examples averaged over.
        proposal: The distribution the samples came from, e.g. ``"q(z|x)"``.
        estimator: What was estimated, e.g. ``"IWAE bound, K=1000"``.
    """

    mean: float
    stderr: float
    num_samples: int
    num_examples: int
    proposal: str
    estimator: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_values(cls, values: Tensor, **fields: Any) -> Estimate:
        """The estimate of per-example ``values`` ``(N,)``: their mean and its standard error."""
        v = values.double()
        stderr = float(v.std(unbiased=True) / math.sqrt(len(v))) if len(v) > 1 else float("nan")
        return cls(mean=float(v.mean()), stderr=stderr, num_examples=len(v), **fields)


def samples_per_chunk(
    batch_size: int,
    num_samples: int,
    floats_per_sample: int,
    memory_budget_mb: float,
    *,
    max_rows: int | None = None,
) -> int:
    """Largest number of importance samples per chunk that keeps activations under the budget.

    Args:
        batch_size: Examples processed together.
        num_samples: K, the total number of samples wanted per example.
        floats_per_sample: Floats held per (sample, example) pair, e.g. decoder widths + output.
        memory_budget_mb: Budget in MiB for those activations.
        max_rows: Also keep ``batch_size * chunk`` at or under this many rows (for speed, see
            :func:`rows_per_chunk`), but never below one sample per chunk.

    Raises:
        ValueError: If even one sample per chunk exceeds the budget, naming the largest batch size
            that fits.
    """
    if batch_size < 1 or num_samples < 1 or floats_per_sample < 1:
        raise ValueError(
            f"batch_size, num_samples and floats_per_sample must be >= 1, got {batch_size}, "
            f"{num_samples} and {floats_per_sample}"
        )
    if not memory_budget_mb > 0:  # also refuses NaN
        raise ValueError(
            f"the memory budget must be a positive number of MiB, not {memory_budget_mb}"
        )
    per_sample = batch_size * floats_per_sample * 4
    fit = int(memory_budget_mb * 2**20 // per_sample)
    if fit < 1:
        largest = int(memory_budget_mb * 2**20 // (floats_per_sample * 4))
        needed = floats_per_sample * 4 / 2**20
        advice = (
            f"use a batch size of at most {largest} or raise the budget"
            if largest >= 1
            else f"raise the budget to at least {needed:.3g} MiB"
        )
        raise ValueError(
            f"a memory budget of {memory_budget_mb} MiB cannot hold one sample for a batch of "
            f"{batch_size} ({floats_per_sample} floats each); {advice}"
        )
    if max_rows is not None:
        fit = min(fit, max(1, max_rows // batch_size))
    return min(fit, num_samples)


def _floats_per_sample(model: nn.Module) -> int:
    # Every layer's output is alive for one (sample, example) pair during decoding; summing
    # the parameter tensors' leading sizes is a cheap, generous proxy for those widths.
    widths = [p.shape[0] for p in model.parameters() if p.dim() >= 1]
    return 2 * sum(widths) + 1


def _latent_model(model: nn.Module, what: str) -> LatentVariableModel:
    if not isinstance(model, LatentVariableModel):
        raise TypeError(
            f"{what} needs a latent-variable model (encode, decode, prior(), latent_dim, "
            f"x_shape, sample; see plausible.models.protocols); {type(model).__name__} is not one"
        )
    return model


def _seed(seed: int | None) -> int:
    # Without a seed, the per-example streams are seeded from the global random stream.
    return int(torch.randint(2**62, ())) if seed is None else int(seed)


def log_importance_weights(
    model: LatentVariableModel, x: Tensor, num_samples: int, *, q_z: Distribution, z: Tensor
) -> Tensor:
    """``log p(x, z_k) - log q(z_k|x)`` for given draws ``z`` ``(K, B, latent_dim)`` of ``q_z``.

    Returns:
        ``(K, B)`` log-weights in nats; ``K = num_samples``.
    """
    if z.shape[0] != num_samples:
        raise ValueError(f"got {z.shape[0]} draws of z for num_samples={num_samples}")
    return model.decode(z).log_prob(x) + model.prior().log_prob(z) - q_z.log_prob(z)


@torch.no_grad()
def importance_sampled_nll(
    model: nn.Module,
    x: Tensor,
    *,
    num_samples: int = 1000,
    batch_size: int = 100,
    memory_budget_mb: float = 512.0,
    seed: int | None = 0,
    progress: Callable[[int], None] | None = None,
) -> Estimate:
    """``-log p(x)`` by importance sampling with the encoder q(z|x) as proposal.

    ``log p(x) ~= logsumexp_k(log p(x, z_k) - log q(z_k|x)) - log K``, the K-sample IWAE bound,
    which approaches ``log p(x)`` from below as K grows. Batches of images and chunks of samples
    are processed together; chunks are combined with a running logsumexp so memory stays within
    ``memory_budget_mb`` whatever K is. On a CPU, chunks are also kept to about a thousand decoder
    rows, which is faster there (see :data:`CPU_ROWS_PER_CHUNK`). The K standard normal draws of
    each example come from its own seeded stream, drawn up front for a batch
    (``batch_size * K * latent_dim`` floats besides the budget).

    Args:
        model: Latent-variable model (:class:`~plausible.models.protocols.LatentVariableModel`).
        x: ``(N, *x_shape)`` data on the model's device (or CPU; moved per batch).
        num_samples: K.
        batch_size: Images per batch.
        memory_budget_mb: Budget for the decoder activations of one chunk.
        seed: Seed of the draws (``None``: seeded from the global random stream). The same seed
            gives the same value for any ``batch_size`` and ``memory_budget_mb``.
        progress: Called with the number of images finished after each batch.

    Returns:
        :class:`Estimate` of the negative log-likelihood in nats per example.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    vae = _latent_model(model, "importance_sampled_nll")
    seed = _seed(seed)
    values = []
    with evaluating(model, seed) as device:
        chunk = samples_per_chunk(
            batch_size,
            num_samples,
            _floats_per_sample(model),
            memory_budget_mb,
            max_rows=rows_per_chunk(device),
        )
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device)
            q_z = vae.encode(xb)
            draws = ExampleDraws(q_z, seed=seed, first=start, num_samples=num_samples)
            total = torch.full((len(xb),), -math.inf, device=device, dtype=torch.float64)
            for k0 in range(0, num_samples, chunk):
                k = min(chunk, num_samples - k0)
                log_w = log_importance_weights(vae, xb, k, q_z=q_z, z=draws.chunk(k0, k)).double()
                total = torch.logaddexp(total, torch.logsumexp(log_w, 0))
            values.append(-(total - math.log(num_samples)).cpu())
            if progress is not None:
                progress(len(xb))
    return Estimate.from_values(
        torch.cat(values),
        num_samples=num_samples,
        proposal="q(z|x)",
        estimator=f"importance sampling (IWAE bound), K={num_samples}",
    )


@dataclass
class _Pass:
    """One pass of a latent-variable model, what :func:`~plausible.objectives.elbo.elbo` reads."""

    q_z: Distribution
    p_z: Distribution
    z: Tensor
    p_x: Distribution


@torch.no_grad()
def negative_elbo(
    model: nn.Module, x: Tensor, *, batch_size: int = 500, seed: int | None = 0
) -> dict[str, Estimate]:
    """Single-sample negative ELBO with analytic KL, and its reconstruction and KL parts.

    Args:
        model: Latent-variable model.
        x: ``(N, *x_shape)`` observations.
        batch_size: Examples per batch.
        seed: Seed of the per-example draws (as in :func:`importance_sampled_nll`).

    Returns:
        ``{"negative_elbo", "reconstruction", "kl"}`` estimates in nats per example; the first is
        an upper bound on the NLL.
    """
    vae = _latent_model(model, "negative_elbo")
    seed = _seed(seed)
    parts: dict[str, list[Tensor]] = {"negative_elbo": [], "reconstruction": [], "kl": []}
    with evaluating(model, seed) as device:
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device)
            q_z = vae.encode(xb)
            z = ExampleDraws(q_z, seed=seed, first=start, num_samples=1).chunk(0, 1)[0]
            out = elbo(_Pass(q_z=q_z, p_z=vae.prior(), z=z, p_x=vae.decode(z)), xb)
            parts["negative_elbo"].append(-out.terms["elbo"].cpu())
            parts["reconstruction"].append(out.terms["reconstruction"].cpu())
            parts["kl"].append(out.terms["kl"].cpu())
    return {
        k: Estimate.from_values(
            torch.cat(v),
            num_samples=1,
            proposal="q(z|x)",
            estimator="single-sample ELBO, analytic KL"
            if k == "negative_elbo"
            else f"{k} part of the single-sample ELBO, analytic KL",
        )
        for k, v in parts.items()
    }


@torch.no_grad()
def _reconstruction_error(model: LatentVariableModel, x: Tensor, device: torch.device) -> float:
    """Mean over examples of the summed squared error of ``E[x | z = E[z|x]]``."""
    total = 0.0
    for i in range(0, len(x), 500):
        xb = x[i : i + 500].to(device)
        recon = model.decode(model.encode(xb).mean).mean
        total += float(((recon - xb) ** 2).flatten(1).sum(1).double().sum())
    return total / len(x)


#: Settings of the unconditional likelihoods (the ``nll`` metric adds the conditional ones).
LATENT_DEFAULTS: dict[str, Any] = {
    "num_samples": 1000,
    "batch_size": 100,
    "memory_budget_mb": 512.0,
    "seed": 0,
    "active_unit_examples": 5000,
}


def latent_likelihoods(model: nn.Module, data: TaskData, opts: dict[str, Any]) -> dict[str, Any]:
    """The test-set likelihoods and posterior diagnostics of an unconditional latent model.

    IS-NLL (K = ``num_samples``), the single-sample negative ELBO with its reconstruction and KL
    parts, bits per dimension (IS-NLL / (dims ln 2)), the squared reconstruction error, KL per
    latent dimension and active units (:func:`~plausible.metrics.latent.active_unit_summary`:
    the variance rule of Burda et al., 2016, named in ``active_units_rule``).

    Args:
        model: A :class:`~plausible.models.protocols.LatentVariableModel`.
        data: The task's splits.
        opts: Validated settings (:data:`LATENT_DEFAULTS` plus ``num_examples``).

    Returns:
        The ``nll`` metric's result for this model.
    """
    if not isinstance(model, LatentVariableModel):
        raise NotApplicableError(
            f"{type(model).__name__} is not a latent-variable model (encode, decode, prior()): "
            "the likelihood of unconditional data needs one"
        )
    x = held_out_inputs(data, int(opts["num_examples"]))
    seed = int(opts["seed"])
    bound = negative_elbo(model, x, seed=seed)
    k = int(opts["num_samples"])
    with progress(f"IS-NLL, K={k}", len(x)) as advance:
        nll = importance_sampled_nll(
            model,
            x,
            num_samples=k,
            batch_size=int(opts["batch_size"]),
            memory_budget_mb=float(opts["memory_budget_mb"]),
            seed=seed,
            progress=advance,
        )
    units = active_unit_summary(model, data, num_examples=int(opts["active_unit_examples"]))
    with evaluating(model, None) as device:
        mse = _reconstruction_error(model, x, device)
    dims = math.prod(x.shape[1:])
    return {
        "nll": nll.to_dict(),
        "negative_elbo": bound["negative_elbo"].to_dict(),
        "reconstruction": bound["reconstruction"].to_dict(),
        "kl": bound["kl"].to_dict(),
        "bits_per_dim": nll.mean / (dims * math.log(2)),
        "reconstruction_mse": mse,
        **units,
        "kl_per_dimension": [round(float(v), 6) for v in kl_per_latent_dimension(model, x)],
        "settings": opts,
        "details": {"model": "LatentVariableModel", "num_examples": len(x)},
    }
