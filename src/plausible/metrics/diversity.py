"""Diversity and quality of many samples: APD, the real-vs-generated classifier, CRPS, sweeps."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.distributions import Normal

__all__ = [
    "QualityResult",
    "average_pairwise_distance",
    "crps_ensemble",
    "crps_gaussian",
    "diversity_quality_sweep",
    "draw_samples",
    "quality_classifier_accuracy",
]

log = logging.getLogger(__name__)

Output = Literal["mean", "mode", "sample"]


def average_pairwise_distance(samples: Tensor, *, chunk_size: int = 256) -> Tensor:
    """Average pairwise distance (APD) between the samples drawn for each input.

    ``APD = 1 / (S (S - 1)) sum_{i != j} ||y_i - y_j||_2``, the diversity measure of
    Aliakbarian et al. (2020) and later multi-hypothesis work; 0 when all samples agree.

    Args:
        samples: ``(S, B, ...)`` with the sample axis first; trailing axes are flattened.
        chunk_size: Inputs per chunk of the ``(B, S, S)`` distance computation.

    Returns:
        ``(B,)`` APD per input, in the units of the samples.

    References:
        Aliakbarian, S., Saleh, F. S., Salzmann, M., Petersson, L. and Gould, S. "A Stochastic
        Conditioning Scheme for Diverse Human Motion Prediction." CVPR 2020.
    """
    if samples.dim() < 2:
        raise ValueError(f"samples must be (S, B, ...), got shape {tuple(samples.shape)}")
    s = samples.shape[0]
    if s < 2:
        raise ValueError(f"the APD needs at least 2 samples per input, got S = {s}")
    by_input = samples.flatten(2).transpose(0, 1)  # (B, S, D)
    if not by_input.is_floating_point():
        by_input = by_input.float()
    out = []
    for start in range(0, by_input.shape[0], chunk_size):
        block = by_input[start : start + chunk_size]
        out.append(torch.cdist(block, block).sum((-1, -2)) / (s * (s - 1)))
    return torch.cat(out)


def crps_gaussian(loc: Tensor, scale: Tensor, target: Tensor) -> Tensor:
    """Closed-form CRPS of a Gaussian forecast, elementwise (Gneiting et al., 2005).

    ``CRPS(N(mu, s^2), y) = s [z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi)]`` with
    ``z = (y - mu) / s``; it equals ``E|Y - y| - 1/2 E|Y - Y'|`` for ``Y, Y' ~ N(mu, s^2)``.

    Args:
        loc: Forecast means.
        scale: Forecast standard deviations (> 0); broadcast with ``loc`` and ``target``.
        target: Observations.

    Returns:
        CRPS in the units of ``target``, broadcast shape; lower is better.
    """
    z = (target - loc) / scale
    std = Normal(torch.zeros_like(z), torch.ones_like(z))
    return scale * (
        z * (2.0 * std.cdf(z) - 1.0) + 2.0 * std.log_prob(z).exp() - 1.0 / math.sqrt(math.pi)
    )


def crps_ensemble(samples: Tensor, target: Tensor, *, fair: bool = False) -> Tensor:
    """CRPS of a sample (ensemble) forecast, averaged over output dimensions.

    Per dimension, ``CRPS = mean_i |y_i - y| - 1/2 mean_{i,j} |y_i - y_j|``, the CRPS of the
    empirical distribution of the samples. With ``fair=True`` the second term averages over
    ``i != j`` only (divides by ``S (S - 1)``), an unbiased estimate of the forecast
    distribution's CRPS (Ferro, 2014); in one dimension it then equals the energy score. The
    pairwise term is computed from sorted samples in ``O(S log S)``.

    Args:
        samples: ``(S, B, ...)`` draws, sample axis first.
        target: ``(B, ...)`` observations.
        fair: Use the unbiased (fair) estimator.

    Returns:
        ``(B,)`` CRPS averaged over the trailing dimensions, in target units.

    References:
        Gneiting, T. and Raftery, A. E. "Strictly Proper Scoring Rules, Prediction, and
        Estimation." JASA 102(477), 2007.
    """
    if samples.shape[1:] != target.shape or samples.dim() < 2:
        raise ValueError(
            f"crps_ensemble expects samples (S, B, ...) and target (B, ...); got "
            f"{tuple(samples.shape)} and {tuple(target.shape)} (put the sample axis first)"
        )
    s = samples.shape[0]
    if fair and s < 2:
        raise ValueError("the fair CRPS needs at least 2 samples per input")
    flat = samples.flatten(2).double()  # (S, B, D)
    y = target.flatten(1).double()
    to_target = (flat - y).abs().mean(0)
    ordered = flat.sort(dim=0).values
    # sum_{i,j} |x_i - x_j| = 2 sum_i (2i - S - 1) x_(i) for sorted x, i = 1..S
    weights = 2.0 * torch.arange(1, s + 1, dtype=torch.float64, device=flat.device) - s - 1
    pair_sum = 2.0 * (weights.view(-1, 1, 1) * ordered).sum(0)
    spread = pair_sum / (s * (s - 1) if fair else s * s)
    return (to_target - 0.5 * spread).mean(-1)


@dataclass
class QualityResult:
    """Held-out accuracy of a classifier trained to tell real from generated samples.

    Attributes:
        accuracy: Held-out accuracy; 0.5 means the two are indistinguishable to it, 1.0 that it
            tells every generated sample apart.
        stderr: Binomial standard error of ``accuracy``.
        num_train: Training examples per class.
        num_test: Held-out examples per class.
        train_accuracy: Accuracy on its own training examples (a large gap means overfitting).
        classifier: Description of the classifier.
    """

    accuracy: float
    stderr: float
    num_train: int
    num_test: int
    train_accuracy: float
    classifier: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mlp(in_dim: int, hidden_dims: Sequence[int]) -> nn.Module:
    from plausible.nn import MLP

    return MLP(in_dim, 1, tuple(hidden_dims), "relu")


def quality_classifier_accuracy(
    real: Tensor,
    generated: Tensor,
    *,
    hidden_dims: Sequence[int] = (256,),
    epochs: int = 20,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    test_fraction: float = 0.25,
    seed: int = 0,
) -> QualityResult:
    """The quality measure of Aliakbarian et al. (2020): can a classifier tell fake from real?

    Both sets are flattened to vectors and cut to the same size; a fraction ``test_fraction`` of
    each is held out. An MLP with one logit is trained with binary cross-entropy (Adam) for
    ``epochs`` passes; its held-out accuracy is reported (50% = indistinguishable).

    Args:
        real: ``(N, ...)`` real examples (e.g. test images or targets).
        generated: ``(M, ...)`` model samples with the same trailing shape.
        hidden_dims: Hidden widths of the MLP.
        epochs: Training passes.
        batch_size: Examples per step.
        lr: Adam learning rate.
        weight_decay: L2 penalty.
        test_fraction: Share of each class held out.
        seed: Seed of the split, initialisation and batches.

    Returns:
        :class:`QualityResult`.
    """
    if real.shape[1:] != generated.shape[1:]:
        raise ValueError(
            f"real and generated samples must share their trailing shape; got "
            f"{tuple(real.shape)} and {tuple(generated.shape)}"
        )
    n = min(len(real), len(generated))
    num_test = round(n * test_fraction)
    if num_test < 1 or n - num_test < 1:
        raise ValueError(
            f"need enough examples for both a training and a held-out split: {n} per class with "
            f"test_fraction={test_fraction}"
        )
    gen = torch.Generator().manual_seed(seed)
    a = real[torch.randperm(len(real), generator=gen)[:n]].flatten(1).float().cpu()
    b = generated[torch.randperm(len(generated), generator=gen)[:n]].flatten(1).float().cpu()
    x_train = torch.cat([a[num_test:], b[num_test:]])
    y_train = torch.cat([torch.ones(n - num_test), torch.zeros(n - num_test)])
    x_test = torch.cat([a[:num_test], b[:num_test]])
    y_test = torch.cat([torch.ones(num_test), torch.zeros(num_test)])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _mlp(x_train.shape[1], hidden_dims)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(epochs):
        order = torch.randperm(len(x_train), generator=gen)
        for i in range(0, len(order), batch_size):
            rows = order[i : i + batch_size]
            loss = loss_fn(net(x_train[rows]).squeeze(-1), y_train[rows])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        accuracy = float(((net(x_test).squeeze(-1) > 0).float() == y_test).float().mean())
        train_accuracy = float(((net(x_train).squeeze(-1) > 0).float() == y_train).float().mean())
    return QualityResult(
        accuracy=accuracy,
        stderr=math.sqrt(accuracy * (1 - accuracy) / len(y_test)),
        num_train=n - num_test,
        num_test=num_test,
        train_accuracy=train_accuracy,
        classifier=(
            f"MLP {x_train.shape[1]}-{'-'.join(map(str, hidden_dims))}-1, Adam, {epochs} epochs"
        ),
    )


def _observation(p: Any, output: Output) -> Tensor:
    if output == "mean":
        return p.mean
    if output == "mode":
        return p.mode
    if output == "sample":
        return p.sample()
    raise ValueError(f"output must be 'mean', 'mode' or 'sample', got {output!r}")


@torch.no_grad()
def draw_samples(
    model: nn.Module,
    *,
    num_samples: int,
    x: Tensor | None = None,
    num_groups: int = 1,
    temperature: float = 1.0,
    output: Output = "mean",
    seed: int = 0,
) -> Tensor:
    """S samples for each input (conditional models) or for each of ``num_groups`` groups.

    The temperature scales the latent noise: ``z = m + T (z0 - m)`` with ``z0`` from the prior
    and ``m`` its mean (``T = 1`` is the model, ``T = 0`` its prior mean). Models whose
    ``sample`` takes a ``temperature`` (mixture density networks) use their own definition.

    Args:
        model: An unconditional latent model (``prior()``, ``decode(z)``), a conditional one
            (``prior(x)``, ``generate(x, z)``), or one with ``sample(x, S, temperature=...)``.
        num_samples: S.
        x: ``(B, ...)`` inputs of a conditional model; ``None`` for an unconditional one.
        num_groups: B for an unconditional model.
        temperature: T >= 0.
        output: What to return from the observation model p(.|z): its ``mean``, its ``mode``
            (e.g. binary pixels for a Bernoulli) or a ``sample``.
        seed: Seed of the draws (the global RNG is restored afterwards).

    Returns:
        ``(S, B, ...)`` samples on the CPU.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            if x is None:
                if not (hasattr(model, "prior") and hasattr(model, "decode")):
                    raise TypeError(f"{type(model).__name__} cannot sample without an input x")
                p_z = model.prior()  # type: ignore[operator]
                z0 = p_z.sample((num_samples, num_groups))
                z = p_z.mean + temperature * (z0 - p_z.mean)
                return _observation(model.decode(z), output).cpu()  # type: ignore[operator]
            xd = x.to(device)
            if hasattr(model, "generate") and hasattr(model, "prior"):
                p_z = model.prior(xd)  # type: ignore[operator]
                z0 = p_z.sample((num_samples,))
                z = p_z.mean + temperature * (z0 - p_z.mean)
                return _observation(model.generate(xd, z), output).cpu()  # type: ignore[operator]
            if temperature != 1.0:
                if temperature == 0:
                    raise ValueError(f"{type(model).__name__} cannot sample at temperature 0")
                return model.sample(xd, num_samples, temperature=temperature).cpu()  # type: ignore[operator]
            return model.sample(xd, num_samples).cpu()  # type: ignore[operator]
    finally:
        model.train(was_training)


def diversity_quality_sweep(
    sample: Callable[[float], Tensor],
    real: Tensor,
    temperatures: Sequence[float],
    *,
    target: Tensor | None = None,
    quality: Callable[[Tensor, Tensor], QualityResult] = quality_classifier_accuracy,
) -> list[dict[str, Any]]:
    """Diversity as a function of quality while the sampling temperature varies.

    At each temperature ``T``: ``samples = sample(T)`` of shape ``(S, B, ...)``; diversity is the
    mean APD over the B groups; quality is the real-vs-generated classifier's held-out accuracy
    on the first sample of each group against ``real``. With ``target`` (``(B, ...)``, one per
    input of a conditional model) the best-of-S and expected errors are added.

    Args:
        sample: ``T -> (S, B, ...)`` samples.
        real: ``(N, ...)`` real examples for the quality classifier.
        temperatures: Temperatures to visit.
        target: Optional ground truth per input.
        quality: The quality measure (default :func:`quality_classifier_accuracy`).

    Returns:
        One row per temperature: ``{"temperature", "apd", "quality_accuracy",
        "quality_stderr"[, "best_of_k", "expected_error"]}``.
    """
    from plausible.metrics.hypotheses import best_of_k_error, expected_error

    rows = []
    for t in temperatures:
        samples = sample(float(t))
        row: dict[str, Any] = {
            "temperature": float(t),
            "apd": float(average_pairwise_distance(samples).mean()),
        }
        q = quality(real, samples[0])
        row.update(quality_accuracy=q.accuracy, quality_stderr=q.stderr)
        if target is not None:
            flat, y = samples.flatten(2).float(), target.flatten(1).float().to(samples.device)
            row["best_of_k"] = float(best_of_k_error(flat, y).mean())
            row["expected_error"] = float(expected_error(flat, y).mean())
        log.info("temperature %.3g: APD %.4g, quality accuracy %.3f", t, row["apd"], q.accuracy)
        rows.append(row)
    return rows
