"""Sample quality in a learned feature space: Frechet distance and precision / recall.

There are no downloadable Inception weights here, so the feature space is the penultimate layer
of a small classifier that the project trains on the same data set (:class:`FeatureClassifier`).
The numbers compare models of the same task with the same feature classifier; they are **not**
comparable to Inception FID or to precision/recall reported in papers.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor, nn

from plausible.data.sources import cache_dir
from plausible.data.task_data import TaskData
from plausible.metrics.diversity import like_the_data, paired_samples
from plausible.metrics.features import (
    FeatureClassifier,
    extract_features,
    load_or_train_feature_classifier,
    train_feature_classifier,
)
from plausible.metrics.suite import (
    NotApplicableError,
    conditional,
    held_out_inputs,
    options,
    suite_metric,
)

__all__ = [
    "FeatureClassifier",
    "extract_features",
    "fd_metric",
    "frechet_distance",
    "frechet_distance_from_features",
    "load_or_train_feature_classifier",
    "precision_recall",
    "train_feature_classifier",
]

log = logging.getLogger(__name__)


def _sqrt_psd(matrix: Tensor) -> Tensor:
    """Symmetric square root of a positive semi-definite matrix (negative rounding clipped)."""
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(loc1: Tensor, cov1: Tensor, loc2: Tensor, cov2: Tensor) -> float:
    """Squared Frechet (2-Wasserstein) distance between two Gaussians, in closed form.

    ``d^2 = ||m1 - m2||^2 + tr(C1) + tr(C2) - 2 tr((C1^{1/2} C2 C1^{1/2})^{1/2})``
    (Dowson & Landau, 1982), computed in float64 with symmetric eigendecompositions, so it is
    exact up to rounding for any positive semi-definite covariances (no ``sqrtm`` of a
    non-symmetric product, whose imaginary parts other implementations discard).

    Args:
        loc1: ``(D,)`` mean of the first Gaussian.
        cov1: ``(D, D)`` covariance of the first Gaussian.
        loc2: ``(D,)`` mean of the second.
        cov2: ``(D, D)`` covariance of the second.

    Returns:
        The squared distance (>= 0), in squared feature units.

    References:
        Dowson, D. C. and Landau, B. V. "The Frechet distance between multivariate normal
        distributions." J. Multivariate Analysis 12(3), 1982. Heusel, M. et al. "GANs Trained by
        a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium." NeurIPS 2017.
    """
    d = loc1.shape[-1]
    if loc1.shape != (d,) or loc2.shape != (d,) or cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError(
            f"need means (D,) and covariances (D, D) of one D; got {tuple(loc1.shape)}, "
            f"{tuple(cov1.shape)}, {tuple(loc2.shape)}, {tuple(cov2.shape)}"
        )
    m1, m2, c1, c2 = (t.double() for t in (loc1, loc2, cov1, cov2))
    root1 = _sqrt_psd(c1)
    middle = root1 @ c2 @ root1
    cross = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    value = (m1 - m2).square().sum() + c1.trace() + c2.trace() - 2.0 * cross
    return max(float(value), 0.0)


def frechet_distance_from_features(real: Tensor, generated: Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (unbiased covariances).

    Args:
        real: ``(N, D)`` features of real examples.
        generated: ``(M, D)`` features of generated examples.

    Returns:
        Squared Frechet distance; it is biased upwards for small N and M, so compare models only
        at equal sample counts.
    """
    if real.dim() != 2 or generated.dim() != 2 or real.shape[1] != generated.shape[1]:
        raise ValueError(
            f"features must be (N, D) and (M, D); got {tuple(real.shape)} and "
            f"{tuple(generated.shape)}"
        )
    if len(real) < 2 or len(generated) < 2:
        raise ValueError("each feature set needs at least 2 rows to estimate a covariance")
    a, b = real.double(), generated.double()
    return frechet_distance(
        a.mean(0),
        torch.cov(a.T).reshape(a.shape[1], -1),
        b.mean(0),
        torch.cov(b.T).reshape(b.shape[1], -1),
    )


def _kth_neighbour_radii(points: Tensor, k: int, chunk: int) -> Tensor:
    radii = []
    for i in range(0, len(points), chunk):
        dist = torch.cdist(points[i : i + chunk], points)
        radii.append(dist.kthvalue(k + 1, dim=1).values)  # the (k+1)-th is k-th after itself
    return torch.cat(radii)


def _inside_any_ball(queries: Tensor, centres: Tensor, radii: Tensor, chunk: int) -> Tensor:
    inside = []
    for i in range(0, len(queries), chunk):
        dist = torch.cdist(queries[i : i + chunk], centres)
        inside.append((dist <= radii[None, :]).any(1))
    return torch.cat(inside)


def precision_recall(
    real: Tensor, generated: Tensor, *, k: int = 3, chunk: int = 1024
) -> dict[str, Any]:
    """Improved precision and recall (Kynkaanniemi et al., 2019) of two feature sets.

    Each set's manifold is the union of balls around its points with radius the distance to the
    ``k``-th nearest neighbour in the same set. Precision is the share of generated points inside
    the real manifold (are samples realistic?); recall is the share of real points inside the
    generated manifold (is the data covered?).

    Args:
        real: ``(N, D)`` real features.
        generated: ``(M, D)`` generated features.
        k: Neighbour defining the radii (the paper uses 3).
        chunk: Rows per chunk of the distance matrices.

    Returns:
        ``{"precision", "recall", "k", "num_real", "num_generated"}``.

    References:
        Kynkaanniemi, T., Karras, T., Laine, S., Lehtinen, J. and Aila, T. "Improved Precision
        and Recall Metric for Assessing Generative Models." NeurIPS 2019.
    """
    if real.dim() != 2 or generated.dim() != 2 or real.shape[1] != generated.shape[1]:
        raise ValueError(
            f"features must be (N, D) and (M, D); got {tuple(real.shape)} and "
            f"{tuple(generated.shape)}"
        )
    if min(len(real), len(generated)) <= k:
        raise ValueError(
            f"each set needs more than k = {k} points; got {len(real)} and {len(generated)}"
        )
    a, b = real.double(), generated.double()
    real_radii = _kth_neighbour_radii(a, k, chunk)
    generated_radii = _kth_neighbour_radii(b, k, chunk)
    return {
        "precision": float(_inside_any_ball(b, a, real_radii, chunk).double().mean()),
        "recall": float(_inside_any_ball(a, b, generated_radii, chunk).double().mean()),
        "k": k,
        "num_real": len(a),
        "num_generated": len(b),
    }


def _labelled_images(data: TaskData, n: int, seed: int) -> tuple[Tensor, Tensor, list[int] | None]:
    truth = data.info.get("ground_truth")
    if truth is not None:
        factors = truth.sample_factors(n, torch.Generator().manual_seed(seed))
        return truth.observations(factors), factors, list(truth.factor_sizes)
    if "x" in data.train and "label" in data.train:
        return data.train["x"][:n].float(), data.train["label"][:n], None
    raise NotApplicableError(
        "fd needs labelled training images to train its feature classifier (a 'label' column or "
        "known factors); this task has neither"
    )


@suite_metric(
    "fd",
    "Frechet distance and precision/recall in a project-trained classifier's features",
    directions={"frechet_distance": "lower", "precision": "higher", "recall": "higher"},
)
def fd_metric(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    """The ``fd`` suite metric: Frechet distance, precision and recall of one sample per test
    image, in the features of a :class:`FeatureClassifier` trained (and cached) on the task.

    ``output = "auto"`` (the default) compares like with like, as the ``quality`` metric does:
    draws from p(x|z) for binary images, means otherwise; the settings say which.
    """
    opts = options(
        settings,
        "fd",
        {
            "num_examples": 2000,
            "output": "auto",
            "seed": 0,
            "k": 3,
            "classifier_examples": 10000,
            "classifier_epochs": 5,
            "feature_dim": 128,
            "channels": [32, 64, 64],
            "cache": True,
        },
    )
    if conditional(data):
        raise NotApplicableError(
            "fd scores unconditional image models; use quality or best-of-k here"
        )
    x_shape = tuple(data.info.get("x_shape", ()))
    if len(x_shape) != 3:
        raise NotApplicableError(f"fd scores images (C, H, W); this task's x_shape is {x_shape}")
    n, seed = int(opts["num_examples"]), int(opts["seed"])
    output, why = like_the_data(held_out_inputs(data, n), opts["output"])
    images, labels, classes = _labelled_images(data, int(opts["classifier_examples"]), seed)
    classifier, info = load_or_train_feature_classifier(
        images.reshape(len(images), *x_shape),
        labels,
        cache=cache_dir("feature-classifiers") if opts["cache"] else None,
        num_classes=classes,
        epochs=int(opts["classifier_epochs"]),
        feature_dim=int(opts["feature_dim"]),
        channels=tuple(opts["channels"]),
        seed=seed,
    )
    samples, real = paired_samples(model, data, num_samples=1, n=n, output=output, seed=seed)
    real_f = extract_features(classifier, real.reshape(len(real), *x_shape))
    fake_f = extract_features(classifier, samples[0].reshape(len(samples[0]), *x_shape))
    half = len(real_f) // 2
    pr = precision_recall(real_f, fake_f, k=int(opts["k"]))
    return {
        "frechet_distance": frechet_distance_from_features(real_f, fake_f),
        "precision": pr["precision"],
        "recall": pr["recall"],
        "settings": {**opts, "output": output, "output_choice": why},
        "details": {
            "feature_space": "penultimate layer of a classifier trained here on this task's data; "
            "NOT comparable to Inception FID",
            "real_half_vs_half_frechet_distance": frechet_distance_from_features(
                real_f[:half], real_f[half:]
            ),
            "num_real": len(real_f),
            "num_generated": len(fake_f),
            "classifier": info,
        },
    }
