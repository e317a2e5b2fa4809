"""Likelihood estimates of latent-variable models: negative ELBO and importance-sampled NLL."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from plausible.objectives.elbo import elbo
from plausible.objectives.iwae import LatentVariableModel, log_importance_weights

__all__ = [
    "CPU_ROWS_PER_CHUNK",
    "Estimate",
    "importance_sampled_nll",
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
    """A Monte-Carlo estimate over a data set.

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


@torch.no_grad()
def importance_sampled_nll(
    model: LatentVariableModel,
    x: Tensor,
    *,
    num_samples: int = 1000,
    batch_size: int = 100,
    memory_budget_mb: float = 512.0,
    progress: Callable[[int], None] | None = None,
) -> Estimate:
    """``-log p(x)`` by importance sampling with the encoder q(z|x) as proposal.

    ``log p(x) ~= logsumexp_k(log p(x, z_k) - log q(z_k|x)) - log K``, the K-sample IWAE bound,
    which approaches ``log p(x)`` from below as K grows. Batches of images and chunks of samples
    are processed together; chunks are combined with a running logsumexp so memory stays within
    ``memory_budget_mb`` whatever K is. On a CPU, chunks are also kept to about a thousand decoder
    rows, which is faster there (see :data:`CPU_ROWS_PER_CHUNK`).

    Args:
        model: Latent-variable model with ``encode``, ``decode`` and ``prior``.
        x: ``(N, *x_shape)`` data on the model's device (or CPU; moved per batch).
        num_samples: K.
        batch_size: Images per batch.
        memory_budget_mb: Budget for the decoder activations of one chunk.
        progress: Called with the number of images finished after each batch.

    Returns:
        :class:`Estimate` of the negative log-likelihood in nats per example.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    module: nn.Module = model  # type: ignore[assignment]
    device = next(module.parameters()).device
    chunk = samples_per_chunk(
        batch_size,
        num_samples,
        _floats_per_sample(module),
        memory_budget_mb,
        max_rows=rows_per_chunk(device),
    )
    was_training = module.training
    module.eval()
    values = []
    try:
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device)
            q_z = model.encode(xb)
            total = torch.full((len(xb),), -math.inf, device=device, dtype=torch.float64)
            for k0 in range(0, num_samples, chunk):
                k = min(chunk, num_samples - k0)
                log_w = log_importance_weights(model, xb, k, q_z=q_z).double()
                total = torch.logaddexp(total, torch.logsumexp(log_w, 0))
            values.append(-(total - math.log(num_samples)).cpu())
            if progress is not None:
                progress(len(xb))
    finally:
        module.train(was_training)
    return Estimate.from_values(
        torch.cat(values),
        num_samples=num_samples,
        proposal="q(z|x)",
        estimator=f"importance sampling (IWAE bound), K={num_samples}",
    )


@torch.no_grad()
def negative_elbo(model: nn.Module, x: Tensor, *, batch_size: int = 500) -> dict[str, Estimate]:
    """Single-sample negative ELBO with analytic KL, and its reconstruction and KL parts.

    Returns:
        ``{"negative_elbo", "reconstruction", "kl"}`` estimates in nats per example; the first is
        an upper bound on the NLL.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    parts: dict[str, list[Tensor]] = {"negative_elbo": [], "reconstruction": [], "kl": []}
    try:
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device)
            out = elbo(model(xb), xb)
            parts["negative_elbo"].append(-out.terms["elbo"].cpu())
            parts["reconstruction"].append(out.terms["reconstruction"].cpu())
            parts["kl"].append(out.terms["kl"].cpu())
    finally:
        model.train(was_training)
    return {
        k: Estimate.from_values(
            torch.cat(v),
            num_samples=1,
            proposal="q(z|x)",
            estimator="single-sample ELBO, analytic KL",
        )
        for k, v in parts.items()
    }
