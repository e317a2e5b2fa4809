"""Information-based disentanglement scores: the mutual information gap (MIG) and DCI."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from plausible.metrics.factors import (
    GroundTruthData,
    Representation,
    check_counts,
    represent,
    seeded_generator,
)

__all__ = ["dci", "discretize", "mig", "normalised_mutual_information"]


def discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Bin each column of ``(N, D)`` codes into ``num_bins`` equal-width bins over its range.

    Same bins as disentanglement_lib's histogram discretiser: ``np.digitize`` against the left
    edges of ``np.histogram(column, num_bins)``, giving integers in ``[1, num_bins]``.
    """
    if num_bins < 2:
        raise ValueError(f"num_bins must be >= 2, got {num_bins}")
    out = np.zeros(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        out[:, d] = np.digitize(codes[:, d], np.histogram(codes[:, d], num_bins)[1][:-1])
    return out


def _sample_codes(
    ground_truth: GroundTruthData, representation: Representation, num: int, gen: torch.Generator
) -> tuple[np.ndarray, np.ndarray]:
    factors = ground_truth.sample_factors(num, gen)
    return represent(ground_truth, representation, factors), factors.numpy()


def mig(
    ground_truth: GroundTruthData,
    representation: Representation,
    *,
    num_points: int = 10_000,
    num_bins: int = 20,
    seed: int = 0,
) -> dict[str, Any]:
    """Mutual information gap (Chen et al., 2018), disentanglement_lib's discrete estimator.

    ``MIG = (1/K) sum_k (I(z_(1); v_k) - I(z_(2); v_k)) / H(v_k)``, where ``z_(1)`` and
    ``z_(2)`` are the code dimensions with the largest and second largest mutual information
    with factor ``v_k``. Codes are posterior means of ``num_points`` random observations, each
    dimension binned into ``num_bins`` equal-width bins; mutual information and the factor
    entropies are the plug-in estimates of the empirical joint distribution (nats, via
    ``sklearn.metrics.mutual_info_score``). All factors are used (the official beta-TCVAE code
    drops dSprites' shape and estimates entropies from q(z|x) instead: the two variants give
    different numbers).

    Args:
        ground_truth: Factor sampler and renderer.
        representation: Observations ``(N, ...)`` -> codes ``(N, D)``.
        num_points: Observations drawn (disentanglement_lib: 10,000).
        num_bins: Bins per code dimension (disentanglement_lib: 20).
        seed: Seed of the factor draws.

    Returns:
        ``{"score", "per_factor"`` (gap / entropy per factor), ``"mutual_information"``
        (D x K nats), ``"factor_entropy"`` (K nats), settings``}``.

    References:
        Chen, R. T. Q., Li, X., Grosse, R. and Duvenaud, D. "Isolating Sources of Disentanglement
        in Variational Autoencoders." NeurIPS 2018.
    """
    from sklearn.metrics import mutual_info_score

    check_counts(num_points=num_points)
    codes, factors = _sample_codes(ground_truth, representation, num_points, seeded_generator(seed))
    binned = discretize(codes, num_bins)
    num_codes, num_factors = binned.shape[1], factors.shape[1]
    info = np.array(
        [
            [mutual_info_score(factors[:, k], binned[:, d]) for k in range(num_factors)]
            for d in range(num_codes)
        ]
    )
    entropy = np.array(
        [mutual_info_score(factors[:, k], factors[:, k]) for k in range(num_factors)]
    )
    ranked = np.sort(info, axis=0)[::-1]
    second = ranked[1] if num_codes > 1 else np.zeros(num_factors)
    gaps = (ranked[0] - second) / entropy
    return {
        "score": float(gaps.mean()),
        "per_factor": dict(zip(ground_truth.factor_names, gaps.round(6).tolist(), strict=True)),
        "mutual_information": info.round(6).tolist(),
        "factor_entropy": entropy.round(6).tolist(),
        "num_points": num_points,
        "num_bins": num_bins,
        "estimator": "plug-in discrete MI of equal-width-binned posterior means",
    }


def normalised_mutual_information(gap: Mapping[str, Any]) -> list[list[float]]:
    """``(D, K)`` mutual information of each latent with each factor over the factor's entropy.

    Args:
        gap: A result of :func:`mig` (its ``mutual_information`` and ``factor_entropy``).
    """
    return [
        [m / h for m, h in zip(row, gap["factor_entropy"], strict=True)]
        for row in gap["mutual_information"]
    ]


def _entropy(p: np.ndarray, base: int) -> np.ndarray:
    """Entropy (log base ``base``) of each column of non-negative weights ``p``."""
    p = p / p.sum(axis=0, keepdims=True)
    return -(p * np.log(p)).sum(axis=0) / math.log(base)


def dci(
    ground_truth: GroundTruthData,
    representation: Representation,
    *,
    num_train: int = 10_000,
    num_test: int = 5_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Disentanglement, completeness and informativeness (Eastwood & Williams, 2018).

    One gradient-boosted tree classifier per factor (scikit-learn defaults: 100 trees of depth
    3) predicts the factor's class from the codes of ``num_train`` random observations. Its
    feature importances fill the importance matrix ``R`` (D codes x K factors).
    Disentanglement is ``sum_d rho_d (1 - H_K(P_d.))`` with ``P_dk = R_dk / sum_k R_dk`` and
    ``rho_d = sum_k R_dk / sum R``; completeness is the same with the roles of codes and factors
    swapped; informativeness is the classifiers' mean accuracy on ``num_test`` fresh
    observations. This is disentanglement_lib's version (the paper used LASSO and random-forest
    regressors); defaults are its 10,000 / 5,000 points.

    Args:
        ground_truth: Factor sampler and renderer.
        representation: Observations ``(N, ...)`` -> codes ``(N, D)``.
        num_train: Observations the classifiers are fitted on.
        num_test: Observations for informativeness.
        seed: Seed of the factor draws and the trees.

    Returns:
        ``{"disentanglement", "completeness", "informativeness_train", "informativeness_test",
        "importance"`` (D x K), settings``}``.

    References:
        Eastwood, C. and Williams, C. K. I. "A Framework for the Quantitative Evaluation of
        Disentangled Representations." ICLR 2018.
    """
    from sklearn.ensemble import GradientBoostingClassifier

    check_counts(num_train=num_train, num_test=num_test)
    gen = seeded_generator(seed)
    x_train, y_train = _sample_codes(ground_truth, representation, num_train, gen)
    x_test, y_test = _sample_codes(ground_truth, representation, num_test, gen)
    num_codes, num_factors = x_train.shape[1], y_train.shape[1]
    importance = np.zeros((num_codes, num_factors))
    train_acc, test_acc = [], []
    for k in range(num_factors):
        model = GradientBoostingClassifier(random_state=seed)
        model.fit(x_train, y_train[:, k])
        importance[:, k] = np.abs(model.feature_importances_)
        train_acc.append(float(np.mean(model.predict(x_train) == y_train[:, k])))
        test_acc.append(float(np.mean(model.predict(x_test) == y_test[:, k])))
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    eps = 1e-11  # disentanglement_lib's guard against log(0)
    per_code = (
        1.0 - _entropy(importance.T + eps, num_factors) if num_factors > 1 else np.ones(num_codes)
    )
    per_factor = (
        1.0 - _entropy(importance + eps, num_codes) if num_codes > 1 else np.ones(num_factors)
    )
    return {
        "disentanglement": float((per_code * weights.sum(1) / weights.sum()).sum()),
        "completeness": float((per_factor * weights.sum(0) / weights.sum()).sum()),
        "informativeness_train": float(np.mean(train_acc)),
        "informativeness_test": float(np.mean(test_acc)),
        "importance": importance.round(6).tolist(),
        "num_train": num_train,
        "num_test": num_test,
        "classifier": "sklearn GradientBoostingClassifier (defaults), one per factor",
    }
