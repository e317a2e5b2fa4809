"""Sample quality by a real-vs-generated classifier, and diversity against quality (sweeps)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from plausible.data.task_data import TaskData
from plausible.metrics.diversity import average_pairwise_distance, like_the_data, paired_samples
from plausible.metrics.hypotheses import best_of_k_error, expected_error
from plausible.metrics.suite import conditional, held_out_inputs, options, suite_metric
from plausible.nn import MLP

__all__ = [
    "QualityResult",
    "diversity_quality_metric",
    "diversity_quality_sweep",
    "quality_classifier_accuracy",
    "quality_metric",
]

log = logging.getLogger(__name__)


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
    network: Callable[[int], nn.Module] | None = None,
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
        network: ``in_dim -> module`` mapping ``(N, in_dim)`` flattened examples to ``(N, 1)``
            logits, in place of the MLP (e.g. a recurrent classifier that unflattens sequences).

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
        net = (network or (lambda d: _mlp(d, hidden_dims)))(x_train.shape[1])
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
            f"MLP {x_train.shape[1]}-{'-'.join(map(str, hidden_dims))}-1"
            if network is None
            else type(net).__name__
        )
        + f", Adam, {epochs} epochs",
    )


def diversity_quality_sweep(
    sample: Callable[[float], Tensor],
    real: Tensor,
    temperatures: Sequence[float],
    *,
    target: Tensor | None = None,
    quality: Callable[[Tensor, Tensor], QualityResult] = quality_classifier_accuracy,
    quality_sample: Callable[[float], Tensor] | None = None,
) -> list[dict[str, Any]]:
    """Diversity as a function of quality while the sampling temperature varies.

    At each temperature ``T``: ``samples = sample(T)`` of shape ``(S, B, ...)``; diversity is the
    mean APD over the B groups; quality is the real-vs-generated classifier's held-out accuracy
    on the first sample of each group against ``real`` (of ``quality_sample(T)`` when given, e.g.
    draws from p(x|z) when ``sample`` gives means and the real data are binary). With
    ``target`` (``(B, ...)``, one per input of a conditional model) the best-of-S and expected
    errors are added.

    Args:
        sample: ``T -> (S, B, ...)`` samples.
        real: ``(N, ...)`` real examples for the quality classifier.
        temperatures: Temperatures to visit.
        target: Optional ground truth per input.
        quality: The quality measure (default :func:`quality_classifier_accuracy`).
        quality_sample: ``T -> (S, B, ...)`` samples for the quality measure; default ``sample``.

    Returns:
        One row per temperature: ``{"temperature", "apd", "quality_accuracy",
        "quality_stderr"[, "best_of_k", "expected_error"]}``.
    """
    rows = []
    for t in temperatures:
        samples = sample(float(t))
        row: dict[str, Any] = {
            "temperature": float(t),
            "apd": float(average_pairwise_distance(samples).mean()),
        }
        shown = samples if quality_sample is None else quality_sample(float(t))
        q = quality(real, shown[0])
        row.update(quality_accuracy=q.accuracy, quality_stderr=q.stderr)
        if target is not None:
            flat, y = samples.flatten(2).float(), target.flatten(1).float().to(samples.device)
            row["best_of_k"] = float(best_of_k_error(flat, y).mean())
            row["expected_error"] = float(expected_error(flat, y).mean())
        log.info("temperature %.3g: APD %.4g, quality accuracy %.3f", t, row["apd"], q.accuracy)
        rows.append(row)
    return rows


@suite_metric(
    "quality",
    "real-vs-generated classifier accuracy, 0.5 = indistinguishable (Aliakbarian 2020)",
    directions={"accuracy": "half"},
)
def quality_metric(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    """The ``quality`` suite metric: one sample per test example against the real examples.

    ``output = "auto"`` (the default) compares like with like (:func:`~plausible.metrics.
    diversity.like_the_data`): draws from p(x|z) for binary data, means otherwise; the result's
    settings say which was used and why.
    """
    opts = options(
        settings,
        "quality",
        {"num_examples": 2000, "output": "auto", "seed": 0, "epochs": 20, "hidden_dims": [256]},
    )
    n, seed = int(opts["num_examples"]), int(opts["seed"])
    output, why = like_the_data(_real(data, n), opts["output"])
    samples, real = paired_samples(model, data, num_samples=1, n=n, output=output, seed=seed)
    result = quality_classifier_accuracy(
        real,
        samples[0],
        epochs=int(opts["epochs"]),
        hidden_dims=tuple(opts["hidden_dims"]),
        seed=seed,
    )
    return {
        "accuracy": {"mean": result.accuracy, "stderr": result.stderr},
        "settings": {**opts, "output": output, "output_choice": why},
        "details": result.to_dict(),
    }


def _real(data: TaskData, n: int) -> Tensor:
    """The real examples generated ones are compared with: test targets, else test inputs."""
    return data.test["y"][: n or None] if conditional(data) else held_out_inputs(data, n)


@suite_metric(
    "diversity-quality", "APD against real-vs-generated accuracy while the temperature sweeps"
)
def diversity_quality_metric(
    model: nn.Module, data: TaskData, settings: dict[str, Any]
) -> dict[str, Any]:
    """The ``diversity-quality`` suite metric: :func:`diversity_quality_sweep` over temperatures.

    Diversity (APD) is measured on ``diversity_output`` (default the means of p(x|z), so that
    it is the spread of the latent code, not pixel noise); quality on ``output`` (default
    ``auto``, like with like as in the ``quality`` metric), both from the same latent draws.
    """
    opts = options(
        settings,
        "diversity-quality",
        {
            "temperatures": [0.25, 0.5, 0.75, 1.0, 1.25, 1.5],
            "num_samples": 10,
            "num_examples": 1000,
            "output": "auto",
            "diversity_output": "mean",
            "seed": 0,
            "epochs": 20,
        },
    )
    n, s, seed = int(opts["num_examples"]), int(opts["num_samples"]), int(opts["seed"])
    target = data.test["y"][: n or None] if conditional(data) else None
    output, why = like_the_data(_real(data, n), opts["output"])
    diversity_output, _ = like_the_data(_real(data, n), opts["diversity_output"])
    real = _real(data, n)

    def draw(t: float, kind: Any) -> Tensor:
        return paired_samples(
            model, data, num_samples=s, n=n, output=kind, seed=seed, temperature=t
        )[0]

    def quality(a: Tensor, b: Tensor) -> QualityResult:
        return quality_classifier_accuracy(a, b, epochs=int(opts["epochs"]), seed=seed)

    rows = diversity_quality_sweep(
        lambda t: draw(t, diversity_output),
        real,
        opts["temperatures"],
        target=target,
        quality=quality,
        quality_sample=None if output == diversity_output else (lambda t: draw(t, output)),
    )
    return {
        "settings": {**opts, "output": output, "output_choice": why},
        "details": {"curve": rows},
    }
