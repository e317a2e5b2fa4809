"""Diverse forecasts of sequences: APD, best-of-K ADE/FDE, multimodal ADE/FDE and mode coverage.

The distances follow the evaluation of DLow (Yuan & Kitani, 2020), which later work such as
BeLFusion (Barquero et al., 2023) reuses. For K sampled futures ``y_k`` of shape ``(T, D)`` and
the true future ``y``:

- APD: the mean L2 distance between two different samples, each flattened to ``T * D`` values;
- ADE: ``min_k mean_t ||y_k,t - y_t||_2`` (L2 of the ``D`` values of frame t);
- FDE: ``min_k ||y_k,T - y_T||_2`` (the last frame); ADE and FDE take their minima separately;
- MMADE / MMFDE: the ADE / FDE against each future of the test cases whose last observed frame
  lies within ``multimodal_threshold`` of this case's (itself included), averaged over them.

When the data know the law of the future (:class:`~plausible.data.sequences.FutureLaw`), the
``forecast`` metric also compares the samples with the law: APD against the APD of K draws of
the law, the share of the law's modes that the K samples reach (and the exact value the law's
own sampler reaches, :func:`expected_coverage`), the share of samples on a mode, and the
distance between the share of samples per mode and the mode probabilities.

References:
    Yuan, Y. and Kitani, K. "DLow: Diversifying Latent Flows for Diverse Human Motion
    Prediction." ECCV 2020.
    Barquero, G., Escalera, S. and Palmero, C. "BeLFusion: Latent Diffusion for Behavior-Driven
    Human Motion Prediction." ICCV 2023.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import Tensor, nn

from plausible.data.sequences import FutureLaw
from plausible.data.task_data import TaskData
from plausible.metrics.diversity import average_pairwise_distance
from plausible.metrics.mode_coverage import expected_coverage_values, law_draws, mode_statistics
from plausible.metrics.suite import NotApplicableError, options, suite_metric, summary
from plausible.models.protocols import ConditionalModel

__all__ = [
    "ade_fde",
    "forecast_metric",
    "forecast_scores",
    "held_out_sequences",
    "law_generator",
    "model_device",
    "multimodal_errors",
    "multimodal_groups",
    "output_mean",
    "ratio_summary",
    "sample_futures",
]

#: Test cases whose futures are drawn at once (bounds memory at K * chunk * T * D floats).
_CHUNK = 64
#: Added to the seed of the law's reference draws (a golden-ratio constant, nothing special).
_LAW_STREAM = 0x9E3779B97F4A7C15


# -- distances ------------------------------------------------------------------------------------
def _check_futures(samples: Tensor, target: Tensor, who: str) -> None:
    if samples.dim() != 4 or target.dim() != 3 or samples.shape[1:] != target.shape:
        raise ValueError(
            f"{who} expects samples (K, B, T, D) and futures (B, T, D); got "
            f"{tuple(samples.shape)} and {tuple(target.shape)} (put the sample axis first)"
        )


def ade_fde(samples: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Best-of-K average and final displacement errors.

    Args:
        samples: ``(K, B, T, D)`` sampled futures.
        target: ``(B, T, D)`` true futures.

    Returns:
        ``(ade, fde)``, each ``(B,)`` in data units: ``min_k mean_t ||y_k,t - y_t||`` and
        ``min_k ||y_k,T - y_T||`` (the minima are taken separately, as in DLow).
    """
    _check_futures(samples, target, "ade_fde")
    dist = (samples - target).norm(dim=-1)  # (K, B, T)
    return dist.mean(-1).amin(0), dist[..., -1].amin(0)


def multimodal_groups(last_observed: Tensor, threshold: float) -> Tensor:
    """Which test cases share their futures for MMADE / MMFDE.

    Args:
        last_observed: ``(N, D)`` last observed frame of each case (flattened pose).
        threshold: Cases ``j`` with ``||last_j - last_i||_2 < threshold`` join case i's group.

    Returns:
        ``(N, N)`` boolean: row i holds the cases whose futures are plausible for case i; every
        case belongs to its own group.
    """
    if last_observed.dim() != 2:
        raise ValueError(f"last_observed must be (N, D), got {tuple(last_observed.shape)}")
    if threshold < 0:
        raise ValueError(f"multimodal_threshold must be >= 0, got {threshold}")
    frames = last_observed.double()
    rows = []
    for start in range(0, len(frames), 1024):
        # The direct difference, not the matrix-product shortcut, so equal frames get 0 exactly.
        dist = torch.cdist(
            frames[start : start + 1024], frames, compute_mode="donot_use_mm_for_euclid_dist"
        )
        rows.append(dist < threshold)
    groups = torch.cat(rows)
    groups.fill_diagonal_(True)
    return groups


def multimodal_errors(samples: Tensor, futures: Tensor, groups: Tensor) -> tuple[Tensor, Tensor]:
    """Multimodal ADE and FDE: best-of-K errors averaged over each case's group of futures.

    Args:
        samples: ``(K, B, T, D)`` sampled futures of B cases.
        futures: ``(N, T, D)`` true futures of all N test cases.
        groups: ``(B, N)`` boolean, the futures that count for each of the B cases (a block of
            rows of :func:`multimodal_groups`).

    Returns:
        ``(mmade, mmfde)``, each ``(B,)`` in data units.
    """
    if samples.dim() != 4 or futures.shape[1:] != samples.shape[2:]:
        raise ValueError(
            f"multimodal_errors expects samples (K, B, T, D) and futures (N, T, D); got "
            f"{tuple(samples.shape)} and {tuple(futures.shape)}"
        )
    if groups.shape != (samples.shape[1], futures.shape[0]):
        raise ValueError(
            f"groups must be (B, N) = ({samples.shape[1]}, {futures.shape[0]}), got "
            f"{tuple(groups.shape)}"
        )
    ade, fde = [], []
    for b in range(samples.shape[1]):
        gt = futures[groups[b]]  # (G, T, D)
        dist = (samples[:, b, None] - gt).norm(dim=-1)  # (K, G, T)
        ade.append(dist.mean(-1).amin(0).mean())
        fde.append(dist[..., -1].amin(0).mean())
    return torch.stack(ade), torch.stack(fde)


def law_generator(seed: int) -> torch.Generator:
    """The seeded stream of the law's reference draws.

    It differs from the model's stream of the same seed: the law's own sampler draws from that
    one, and would otherwise repeat the reference's draws exactly (a ratio of 1 with no error).
    """
    return torch.Generator().manual_seed((int(seed) + _LAW_STREAM) % 2**64)


def ratio_summary(numerator: Tensor, denominator: Tensor) -> dict[str, float]:
    """``mean(a) / mean(b)`` over examples, with its delta-method standard error.

    ``se = std(a - R b) / (sqrt(n) mean(b))``: paired per-example values, so what a and b share
    (the difficulty of each input) cancels.
    """
    a, b = numerator.double(), denominator.double()
    ratio = float(a.mean() / b.mean())
    n = len(a)
    stderr = float((a - ratio * b).std() / (math.sqrt(n) * b.mean())) if n > 1 else math.nan
    return {"mean": ratio, "stderr": stderr}


# -- samples and scores ---------------------------------------------------------------------------
def model_device(model: nn.Module) -> torch.device:
    """Where the model's tensors live (the CPU for a model with none, such as a law's sampler)."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


@torch.no_grad()
def sample_futures(
    model: nn.Module, x: Tensor, num_samples: int, *, mean: bool, seed: int
) -> list[Tensor]:
    """K futures of each history, drawn in chunks of the histories from one seeded stream.

    Args:
        model: A :class:`~plausible.models.protocols.ConditionalModel` (parameters optional).
        x: ``(B, T_obs, D)`` histories.
        num_samples: K.
        mean: Passed to ``model.sample``.
        seed: Seed of the global random stream, which is restored afterwards.

    Returns:
        One ``(K, B_chunk, T, D)`` float64 CPU tensor per chunk of :data:`_CHUNK` histories (the
        chunk size is fixed, so the same seed gives the same futures).
    """
    if not isinstance(model, ConditionalModel):
        raise TypeError(f"{type(model).__name__} is not a conditional model (sample(x, S, mean))")
    device = model_device(model)
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            for start in range(0, len(x), _CHUNK):
                xc = x[start : start + _CHUNK]
                futures = model.sample(xc.to(device), num_samples, mean=mean)
                if futures.shape[:2] != (num_samples, len(xc)):
                    raise ValueError(
                        f"{type(model).__name__}.sample returned {tuple(futures.shape)} for "
                        f"{num_samples} samples of {len(xc)} histories; expected (S, B, T, D)"
                    )
                out.append(futures.detach().to("cpu", torch.float64))
    finally:
        model.train(was_training)
    return out


def forecast_scores(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    num_samples: int = 50,
    mean: bool = False,
    seed: int = 0,
    multimodal_threshold: float = 0.5,
    law: FutureLaw | None = None,
) -> dict[str, Tensor]:
    """Every per-example score of the ``forecast`` metric.

    Args:
        model: A :class:`~plausible.models.protocols.ConditionalModel`.
        x: ``(B, T_obs, D)`` histories.
        y: ``(B, T, D)`` their true futures (all B form the multimodal ground truth).
        num_samples: K futures per history.
        mean: Passed to ``model.sample``; also selects the law's reference draws (mode means for
            ``True``, exact draws for ``False``).
        seed: Seed of the model's and the law's draws.
        multimodal_threshold: See :func:`multimodal_groups`.
        law: The law of the future, when known.

    Returns:
        ``(B,)`` tensors: ``apd, ade, fde, mmade, mmfde, multimodal_futures``; with a law also
        ``apd_true, coverage, coverage_true, on_mode_rate, mode_tv`` and the law draws' own
        ``coverage_law, on_mode_rate_law, mode_tv_law``.
    """
    if num_samples < 2:
        raise ValueError(f"forecast scores need K >= 2 samples per history, got {num_samples}")
    groups = multimodal_groups(x[:, -1].flatten(1), multimodal_threshold)
    futures = y.double()
    generator = law_generator(seed)
    parts: dict[str, list[Tensor]] = {}
    chunks = sample_futures(model, x, num_samples, mean=mean, seed=seed)
    for i, samples in enumerate(chunks):
        rows = slice(i * _CHUNK, i * _CHUNK + samples.shape[1])
        ade, fde = ade_fde(samples, futures[rows])
        mmade, mmfde = multimodal_errors(samples, futures, groups[rows])
        scores = {
            "apd": average_pairwise_distance(samples),
            "ade": ade,
            "fde": fde,
            "mmade": mmade,
            "mmfde": mmfde,
            "multimodal_futures": groups[rows].sum(-1).double(),
        }
        if law is not None:
            xc = x[rows]
            truth = law_draws(law, xc, num_samples, mean=mean, generator=generator).double()
            scores["apd_true"] = average_pairwise_distance(truth)
            scores["coverage_true"] = expected_coverage_values(law.mode_probs(xc), num_samples)
            scores.update(mode_statistics(law, xc, samples))
            own = mode_statistics(law, xc, truth)
            scores.update({f"{key}_law": value for key, value in own.items()})
        for key, value in scores.items():
            parts.setdefault(key, []).append(value)
    return {key: torch.cat(values) for key, values in parts.items()}


# -- the suite metric -----------------------------------------------------------------------------
def held_out_sequences(
    model: nn.Module, data: TaskData, n: int, metric: str
) -> tuple[Tensor, Tensor]:
    """The first ``n`` test histories ``(B, T_obs, D)`` and futures ``(B, T, D)`` (all for
    ``n = 0``), or :class:`NotApplicableError` when the task or the model does not suit."""
    if "y" not in data.test or "x" not in data.test:
        raise NotApplicableError(f"{metric} needs histories x and futures y in the test split")
    x, y = data.test["x"][: n or None], data.test["y"][: n or None]
    if x.dim() != 3 or y.dim() != 3:
        raise NotApplicableError(
            f"{metric} scores sequences: x (B, T_obs, D) and y (B, T, D), got "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    if not isinstance(model, ConditionalModel):
        raise NotApplicableError(
            f"{type(model).__name__} is not a conditional model: it cannot sample futures"
        )
    return x, y


def output_mean(value: str) -> tuple[bool, str]:
    """``(mean, why)`` for the ``output`` setting of the forecasting metrics: ``"sample"`` (or
    ``"auto"``) draws p(y|x), ``"mean"`` takes the noise-free futures."""
    if value == "auto":
        return False, "auto: draws of p(y|x), since the data's futures carry observation noise"
    if value not in ("sample", "mean"):
        raise ValueError(f"output must be 'sample', 'mean' or 'auto', got {value!r}")
    return value == "mean", "as set"


_DIRECTIONS = {
    "ade": "lower",
    "fde": "lower",
    "mmade": "lower",
    "mmfde": "lower",
    "apd_ratio": "one",
    "coverage": "higher",
    "on_mode_rate": "higher",
    "mode_tv": "lower",
}


@suite_metric(
    "forecast",
    "diverse forecasting: APD, best-of-K ADE/FDE, MMADE/MMFDE, mode coverage (DLow's protocol)",
    directions=_DIRECTIONS,
)
def forecast_metric(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    """The ``forecast`` suite metric: :func:`forecast_scores` on the first test histories.

    ``output = "sample"`` (the default) compares draws of p(y|x) with the true futures, which
    carry observation noise like the training data; ``"mean"`` compares noise-free futures
    (``model.sample(x, K, mean=True)``) and then takes the law's reference from the drawn modes'
    means. The task states its ``multimodal_threshold`` (data units) in its evaluation defaults;
    0.5 is DLow's value for Human3.6M poses in metres.
    """
    opts = options(
        settings,
        "forecast",
        {
            "num_samples": 50,
            "num_examples": 500,
            "output": "sample",
            "seed": 0,
            "multimodal_threshold": 0.5,
        },
    )
    x, y = held_out_sequences(model, data, int(opts["num_examples"]), "forecast")
    mean, why = output_mean(str(opts["output"]))
    law = data.info.get("law")
    if law is not None and not isinstance(law, FutureLaw):
        raise TypeError(f"data.info['law'] must be a FutureLaw, got {type(law).__name__}")
    k = int(opts["num_samples"])
    scores = forecast_scores(
        model,
        x,
        y,
        num_samples=k,
        mean=mean,
        seed=int(opts["seed"]),
        multimodal_threshold=float(opts["multimodal_threshold"]),
        law=law,
    )
    out: dict[str, Any] = {key: summary(scores[key]) for key in ("apd", "ade", "fde")}
    out.update(mmade=summary(scores["mmade"]), mmfde=summary(scores["mmfde"]))
    group = scores["multimodal_futures"]
    details: dict[str, Any] = {
        "num_examples": len(x),
        "multimodal_futures_per_case": {
            "mean": float(group.mean()),
            "min": int(group.min()),
            "max": int(group.max()),
        },
        "distances": "L2 of the flattened future (APD); L2 of each frame's D values (ADE, FDE)",
    }
    if law is not None:
        out.update(
            apd_true=summary(scores["apd_true"]),
            apd_ratio=ratio_summary(scores["apd"], scores["apd_true"]),
            coverage=summary(scores["coverage"]),
            coverage_true=summary(scores["coverage_true"]),
            on_mode_rate=summary(scores["on_mode_rate"]),
            mode_tv=summary(scores["mode_tv"]),
        )
        details.update(
            apd_true=(
                f"an estimate: the APD of {k} seeded draws of the law per history "
                f"({'mode means' if mean else 'exact draws'}), mean and standard error over "
                "histories; apd_ratio = apd / apd_true with a delta-method standard error"
            ),
            coverage_true=f"exact: the expected coverage of {k} draws of the law",
            law_draws={
                key: summary(scores[f"{key}_law"])
                for key in ("coverage", "on_mode_rate", "mode_tv")
            },
            tolerance=float(law.tolerance),
            num_modes=int(law.num_modes),
        )
    return {**out, "settings": {**opts, "output_choice": why}, "details": details}
