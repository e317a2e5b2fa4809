"""Quality of forecast sequences by a recurrent real-vs-generated classifier, and how diversity
trades against it as the sampling temperature varies.

The quality score of Aliakbarian et al. (2020): a classifier learns to tell real sequences (a
history followed by its true future) from generated ones (the same history followed by a
model's future) and is scored on held-out pairs. An accuracy of 0.5 means it cannot tell them
apart; 1.0 that every generated sequence gives itself away. The classifier is a small GRU that
reads the whole ``(T_obs + T_pred, D)`` sequence, so a future that does not continue its history
(a wrong turn, a jump, missing noise) is visible to it.

References:
    Aliakbarian, S., Saleh, F. S., Salzmann, M., Petersson, L. and Gould, S. "A Stochastic
    Conditioning Scheme for Diverse Human Motion Prediction." CVPR 2020.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from plausible.data.sequences import FutureLaw
from plausible.data.task_data import TaskData
from plausible.metrics.diversity import Output, average_pairwise_distance, draw_samples
from plausible.metrics.forecasting import (
    held_out_sequences,
    law_generator,
    output_mean,
    sample_futures,
)
from plausible.metrics.mode_coverage import law_draws, mode_statistics
from plausible.metrics.quality import QualityResult, quality_classifier_accuracy
from plausible.metrics.suite import NotApplicableError, options, suite_metric, summary
from plausible.models.protocols import ConditionalLatentModel

__all__ = [
    "SequenceClassifier",
    "forecast_diversity_quality_metric",
    "forecast_diversity_quality_sweep",
    "sequence_quality",
    "sequence_quality_metric",
]

log = logging.getLogger(__name__)


class SequenceClassifier(nn.Module):
    """A GRU over sequences handed in as flattened rows: last hidden state -> one logit.

    Args:
        frame_dim: ``F``, values per step; rows of ``T * F`` values are read as ``(T, F)``.
        hidden_size: Width of the GRU.
    """

    def __init__(self, frame_dim: int, hidden_size: int = 32) -> None:
        super().__init__()
        self.frame_dim = int(frame_dim)
        self.gru = nn.GRU(self.frame_dim, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, 1)

    def forward(self, rows: Tensor) -> Tensor:
        """``(N, T * F)`` rows -> ``(N, 1)`` logits (positive: real)."""
        _, h = self.gru(rows.reshape(len(rows), -1, self.frame_dim))
        return self.out(h[-1])


def _features(sequences: Tensor) -> Tensor:
    """``(N, T, D)`` -> ``(N, T, 2D)``: each frame and its change from the previous frame.

    The change is where a missing or wrong observation noise shows; a small GRU trained for a
    few epochs does not find differences of its inputs by itself.
    """
    steps = sequences.diff(dim=1)
    return torch.cat([sequences, torch.cat([steps[:, :1], steps], 1)], -1)


def sequence_quality(
    x: Tensor,
    y: Tensor,
    generated: Tensor,
    *,
    epochs: int = 15,
    hidden_size: int = 32,
    lr: float = 1e-2,
    seed: int = 0,
) -> QualityResult:
    """Held-out accuracy of a GRU telling ``[x, y]`` from ``[x, generated]``.

    The GRU reads each frame and its change from the previous frame (the first frame repeats
    the first change), each channel standardised by the real sequences' mean and standard
    deviation: affine maps, which change what can be told apart not at all and what the
    classifier learns in a few epochs a lot. Training and scoring are those of
    :func:`~plausible.metrics.quality.quality_classifier_accuracy` with a
    :class:`SequenceClassifier`.

    Args:
        x: ``(N, T_obs, D)`` histories.
        y: ``(N, T_pred, D)`` their true futures.
        generated: ``(N, T_pred, D)`` one generated future per history.
        epochs: Training passes of the classifier.
        hidden_size: Width of its GRU.
        lr: Adam learning rate.
        seed: Seed of its split, initialisation and batches.

    Returns:
        :class:`~plausible.metrics.quality.QualityResult` (0.5 ideal).
    """
    if y.shape != generated.shape or x.shape[0] != y.shape[0] or x.shape[2:] != y.shape[2:]:
        raise ValueError(
            f"sequence_quality expects x (N, T_obs, D) and y, generated (N, T_pred, D); got "
            f"{tuple(x.shape)}, {tuple(y.shape)} and {tuple(generated.shape)}"
        )
    history = x.double().cpu()
    real = _features(torch.cat([history, y.double().cpu()], 1))
    fake = _features(torch.cat([history, generated.double().cpu()], 1))
    loc = real.mean((0, 1))
    scale = real.std((0, 1)).clamp(min=1e-8)
    width = real.shape[-1]
    return quality_classifier_accuracy(
        (real - loc) / scale,
        (fake - loc) / scale,
        epochs=epochs,
        lr=lr,
        seed=seed,
        network=lambda _: SequenceClassifier(width, hidden_size),
    )


@suite_metric(
    "sequence-quality",
    "real-vs-generated GRU classifier on history + future, 0.5 = indistinguishable "
    "(Aliakbarian 2020)",
    directions={"accuracy": "half"},
)
def sequence_quality_metric(
    model: nn.Module, data: TaskData, settings: dict[str, Any]
) -> dict[str, Any]:
    """The ``sequence-quality`` suite metric: :func:`sequence_quality` on the first test cases.

    Each history gets one future ``model.sample(x, 1, mean=...)``; ``output = "sample"`` (the
    default) draws p(y|x), like the data, whose futures carry observation noise.
    """
    opts = options(
        settings,
        "sequence-quality",
        {
            "num_examples": 1000,
            "epochs": 15,
            "hidden_size": 32,
            "lr": 1e-2,
            "seed": 0,
            "output": "sample",
        },
    )
    x, y = held_out_sequences(model, data, int(opts["num_examples"]), "sequence-quality")
    mean, why = output_mean(str(opts["output"]))
    seed = int(opts["seed"])
    generated = torch.cat(sample_futures(model, x, 1, mean=mean, seed=seed), 1)[0]
    result = sequence_quality(
        x,
        y,
        generated,
        epochs=int(opts["epochs"]),
        hidden_size=int(opts["hidden_size"]),
        lr=float(opts["lr"]),
        seed=seed,
    )
    return {
        "accuracy": {"mean": result.accuracy, "stderr": result.stderr},
        "settings": {**opts, "output_choice": why},
        "details": {
            **result.to_dict(),
            "real": "test history followed by its true future",
            "generated": "the same history followed by one model future",
        },
    }


# -- diversity against quality ------------------------------------------------------------------
def forecast_diversity_quality_sweep(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    temperatures: Sequence[float],
    *,
    num_samples: int = 10,
    mean: bool = False,
    seed: int = 0,
    epochs: int = 15,
    hidden_size: int = 32,
    law: FutureLaw | None = None,
) -> list[dict[str, Any]]:
    """Diversity, quality and accuracy of a latent forecaster as its sampling temperature varies.

    At temperature ``T`` the latents are ``z = m + T (z0 - m)`` with ``z0 ~ p(z|x)`` and ``m``
    its mean (:func:`~plausible.metrics.diversity.draw_samples`): ``T = 0`` is the prior mean,
    ``T = 1`` the model. The observation noise of p(y|x,z) is not tempered.

    Args:
        model: A :class:`~plausible.models.protocols.ConditionalLatentModel`.
        x: ``(B, T_obs, D)`` histories.
        y: ``(B, T_pred, D)`` true futures.
        temperatures: Temperatures to visit (>= 0).
        num_samples: K futures per history for the APD and the errors (>= 2).
        mean: Futures as the means of p(y|x,z) (``True``) or draws of it.
        seed: Seed of the draws and of the classifier.
        epochs: Training passes of each quality classifier.
        hidden_size: Width of its GRU.
        law: The law of the future, when known (adds ``coverage`` and ``on_mode_rate``).

    Returns:
        One row per temperature: ``{"temperature", "apd", "apd_stderr", "quality_accuracy",
        "quality_stderr", "best_of_k"`` (ADE of the best of K), ``"expected_error"`` (ADE of
        one future, averaged over the K)``[, "coverage", "on_mode_rate"]}``, means over histories.
    """
    if not isinstance(model, ConditionalLatentModel):
        raise TypeError(f"{type(model).__name__} has no latent z whose temperature could vary")
    if num_samples < 2:
        raise ValueError(f"the APD needs K >= 2 futures per history, got {num_samples}")
    output: Output = "mean" if mean else "sample"
    target = y.double()
    rows = []
    for t in temperatures:
        samples = draw_samples(
            model, x=x, num_samples=num_samples, temperature=float(t), output=output, seed=seed
        ).double()  # (K, B, T, D)
        apd = average_pairwise_distance(samples)
        ade = (samples - target).norm(dim=-1).mean(-1)  # (K, B)
        quality = sequence_quality(
            x, y, samples[0], epochs=epochs, hidden_size=hidden_size, seed=seed
        )
        row: dict[str, Any] = {
            "temperature": float(t),
            "apd": float(apd.mean()),
            "apd_stderr": summary(apd)["stderr"],
            "quality_accuracy": quality.accuracy,
            "quality_stderr": quality.stderr,
            "best_of_k": float(ade.amin(0).mean()),
            "expected_error": float(ade.mean()),
        }
        if law is not None:
            stats = mode_statistics(law, x, samples)
            row.update(
                coverage=float(stats["coverage"].mean()),
                on_mode_rate=float(stats["on_mode_rate"].mean()),
            )
        log.info(
            "temperature %.3g: APD %.4g, quality accuracy %.3f", t, row["apd"], quality.accuracy
        )
        rows.append(row)
    return rows


@suite_metric(
    "forecast-diversity-quality",
    "APD, sequence quality, best-of-K ADE and mode coverage while the latent temperature sweeps",
)
def forecast_diversity_quality_metric(
    model: nn.Module, data: TaskData, settings: dict[str, Any]
) -> dict[str, Any]:
    """The ``forecast-diversity-quality`` suite metric: :func:`forecast_diversity_quality_sweep`.

    Only for conditional latent models (the temperature scales z). With a known law, the details
    hold ``apd_true`` (and ``apd_true_stderr``): the APD of K draws of the law per history (mode
    means for ``output = "mean"``), the diversity a sampler of the true law reaches.
    """
    opts = options(
        settings,
        "forecast-diversity-quality",
        {
            "temperatures": [0.0, 0.5, 1.0, 1.5, 2.0],
            "num_samples": 10,
            "num_examples": 1000,
            "output": "sample",
            "seed": 0,
            "epochs": 15,
            "hidden_size": 32,
        },
    )
    name = "forecast-diversity-quality"
    x, y = held_out_sequences(model, data, int(opts["num_examples"]), name)
    if not isinstance(model, ConditionalLatentModel):
        raise NotApplicableError(
            f"{type(model).__name__} has no latent variable z: the temperature sweep scales "
            "z ~ p(z|x)"
        )
    mean, why = output_mean(str(opts["output"]))
    law = data.info.get("law")
    law = law if isinstance(law, FutureLaw) else None
    k, seed = int(opts["num_samples"]), int(opts["seed"])
    rows = forecast_diversity_quality_sweep(
        model,
        x,
        y,
        [float(t) for t in opts["temperatures"]],
        num_samples=k,
        mean=mean,
        seed=seed,
        epochs=int(opts["epochs"]),
        hidden_size=int(opts["hidden_size"]),
        law=law,
    )
    details: dict[str, Any] = {
        "curve": rows,
        "temperature": "z = m + T (z0 - m), z0 ~ p(z|x), m its mean; observation noise untempered",
        "quality": "held-out accuracy of a GRU telling history + true future from history + "
        "the first generated future (0.5 ideal)",
    }
    if law is not None:
        truth = law_draws(law, x, k, mean=mean, generator=law_generator(seed))
        apd_true = summary(average_pairwise_distance(truth.double()))
        details.update(apd_true=apd_true["mean"], apd_true_stderr=apd_true["stderr"])
    return {"settings": {**opts, "output_choice": why}, "details": details}
