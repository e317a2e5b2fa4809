"""Disentanglement scores against known factors: beta-VAE, FactorVAE, MIG and DCI."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from plausible.metrics.latent import posterior_means

__all__ = [
    "GroundTruthData",
    "Representation",
    "beta_vae_score",
    "dci",
    "discretize",
    "factor_vae_score",
    "mig",
    "posterior_mean_representation",
    "represent",
]

log = logging.getLogger(__name__)

#: Maps a batch of observations ``(N, ...)`` to codes ``(N, D)``.
Representation = Callable[[Tensor], Tensor]


class GroundTruthData(Protocol):
    """Data generated from known, independent, discrete factors (e.g. :class:`~plausible.data.
    dsprites.DSprites`): every metric here samples factors and renders their observations."""

    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]

    def sample_factors(self, num: int, generator: torch.Generator | None = None) -> Tensor:
        """``(num, K)`` integer factor classes, each uniform over its values."""
        ...

    def observations(self, factors: Tensor) -> Tensor:
        """Observations ``(N, ...)`` of ``(N, K)`` factor classes."""
        ...


def posterior_mean_representation(model: nn.Module, *, batch_size: int = 1024) -> Representation:
    """The code used by every published disentanglement score: the mean of q(z|x).

    Args:
        model: A model with ``encode(x) -> q(z|x)``.
        batch_size: Observations encoded at once.

    Returns:
        A function ``(N, ...) -> (N, D)`` that runs in eval mode without gradients, on the
        model's device, and returns CPU tensors.
    """
    if not hasattr(model, "encode"):
        raise TypeError(
            f"{type(model).__name__} has no encode(x) -> q(z|x); disentanglement scores need an "
            "encoder (a VAE-like model)"
        )

    def codes(x: Tensor) -> Tensor:
        return posterior_means(model, x, batch_size=batch_size)

    return codes


def represent(
    ground_truth: GroundTruthData,
    representation: Representation,
    factors: Tensor,
    *,
    chunk: int = 4096,
) -> np.ndarray:
    """Render ``(N, K)`` factors and encode them, a chunk at a time: ``(N, D)`` float64."""
    parts = []
    for i in range(0, len(factors), chunk):
        obs = ground_truth.observations(factors[i : i + chunk])
        parts.append(representation(obs).detach().cpu().double().numpy())
    codes = np.concatenate(parts)
    if codes.ndim != 2 or len(codes) != len(factors):
        raise ValueError(
            f"the representation must map N observations to (N, D) codes; got {codes.shape} "
            f"for N = {len(factors)}"
        )
    return codes


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


def _beta_vae_points(
    ground_truth: GroundTruthData,
    representation: Representation,
    *,
    batch_size: int,
    num_points: int,
    gen: torch.Generator,
    block: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    num_factors = len(ground_truth.factor_sizes)
    features, labels = [], []
    for start in range(0, num_points, block):
        n = min(block, num_points - start)
        fixed = torch.randint(num_factors, (n,), generator=gen)
        f1 = ground_truth.sample_factors(n * batch_size, gen).view(n, batch_size, num_factors)
        f2 = ground_truth.sample_factors(n * batch_size, gen).view(n, batch_size, num_factors)
        rows = torch.arange(n)
        f2[rows, :, fixed] = f1[rows, :, fixed]  # the chosen factor agrees within each pair
        codes = represent(ground_truth, representation, torch.cat([f1, f2]).view(-1, num_factors))
        codes = codes.reshape(2, n, batch_size, -1)
        features.append(np.abs(codes[0] - codes[1]).mean(axis=1))
        labels.append(fixed.numpy())
    return np.concatenate(features), np.concatenate(labels)


def beta_vae_score(
    ground_truth: GroundTruthData,
    representation: Representation,
    *,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    seed: int = 0,
) -> dict[str, Any]:
    """The beta-VAE disentanglement metric (Higgins et al., 2017).

    One point: choose a factor ``k`` uniformly; draw ``batch_size`` (L) pairs of factor vectors
    that agree on factor ``k`` only by construction; encode both images of each pair; the
    feature is ``mean_l |code(x1_l) - code(x2_l)|`` and the label is ``k``. A linear classifier
    (scikit-learn ``LogisticRegression``) is fitted on ``num_train`` points; the score is its
    accuracy on ``num_eval`` fresh points. The defaults are disentanglement_lib's (L = 64,
    10,000 / 5,000 points). Chance is ``1 / K``; a representation whose codes each follow one
    factor scores 1.

    Args:
        ground_truth: Factor sampler and renderer.
        representation: Observations ``(N, ...)`` -> codes ``(N, D)`` (posterior means).
        batch_size: Pairs averaged per point (L).
        num_train: Points the classifier is fitted on.
        num_eval: Held-out points it is scored on.
        seed: Seed of the factor draws and of the classifier.

    Returns:
        ``{"score"`` (held-out accuracy), ``"train_accuracy"``, and the settings used``}``.

    References:
        Higgins, I. et al. "beta-VAE: Learning Basic Visual Concepts with a Constrained
        Variational Framework." ICLR 2017.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    _check_counts(batch_size=batch_size, num_train=num_train, num_eval=num_eval)
    gen = _generator(seed)
    x_train, y_train = _beta_vae_points(
        ground_truth, representation, batch_size=batch_size, num_points=num_train, gen=gen
    )
    x_eval, y_eval = _beta_vae_points(
        ground_truth, representation, batch_size=batch_size, num_points=num_eval, gen=gen
    )
    # disentanglement_lib uses scikit-learn's defaults (100 iterations); more let it converge.
    classifier = LogisticRegression(max_iter=1000, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(x_train, y_train)
    return {
        "score": float(classifier.score(x_eval, y_eval)),
        "train_accuracy": float(classifier.score(x_train, y_train)),
        "chance": 1.0 / len(ground_truth.factor_sizes),
        "batch_size": batch_size,
        "num_train": num_train,
        "num_eval": num_eval,
        "classifier": "sklearn LogisticRegression (lbfgs, max_iter=1000)",
    }


def _factor_vae_votes(
    ground_truth: GroundTruthData,
    representation: Representation,
    *,
    batch_size: int,
    num_points: int,
    gen: torch.Generator,
    global_variances: np.ndarray,
    active: np.ndarray,
    block: int = 32,
) -> np.ndarray:
    num_factors = len(ground_truth.factor_sizes)
    votes = np.zeros((num_factors, len(global_variances)), dtype=np.int64)
    active_dims = np.flatnonzero(active)
    for start in range(0, num_points, block):
        n = min(block, num_points - start)
        fixed = torch.randint(num_factors, (n,), generator=gen)
        factors = ground_truth.sample_factors(n * batch_size, gen).view(n, batch_size, num_factors)
        rows = torch.arange(n)
        factors[rows, :, fixed] = factors[rows, :1, fixed]  # one value of factor k per point
        codes = represent(ground_truth, representation, factors.view(-1, num_factors))
        local = codes.reshape(n, batch_size, -1).var(axis=1, ddof=1)
        ratio = local[:, active_dims] / global_variances[active_dims]
        dims = active_dims[np.argmin(ratio, axis=1)]
        np.add.at(votes, (fixed.numpy(), dims), 1)
    return votes


def factor_vae_score(
    ground_truth: GroundTruthData,
    representation: Representation,
    *,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    num_variance_estimate: int = 10_000,
    prune_threshold: float = 0.05,
    seed: int = 0,
) -> dict[str, Any]:
    """The FactorVAE disentanglement metric (Kim & Mnih, 2018).

    Each code dimension is divided by its standard deviation over ``num_variance_estimate``
    random observations; dimensions with a standard deviation below ``prune_threshold`` are
    dropped as collapsed. One vote: fix factor ``k`` at one random value, draw ``batch_size``
    (L) observations with the other factors random, and vote for the code dimension with the
    smallest normalised variance. A majority-vote classifier (each dimension -> the factor it
    got most votes from) is built from ``num_train`` votes; the score is its accuracy on
    ``num_eval`` fresh votes. Defaults are disentanglement_lib's (L = 64, 10,000 / 5,000 votes,
    10,000 points for the variances, threshold 0.05).

    Args:
        ground_truth: Factor sampler and renderer.
        representation: Observations ``(N, ...)`` -> codes ``(N, D)`` (posterior means).
        batch_size: Observations per vote (L).
        num_train: Votes the classifier is built from.
        num_eval: Held-out votes it is scored on.
        num_variance_estimate: Observations for each dimension's global variance.
        prune_threshold: Minimum global standard deviation of a kept dimension.
        seed: Seed of the factor draws.

    Returns:
        ``{"score"`` (held-out accuracy; 0 when every dimension is collapsed),
        ``"train_accuracy"``, ``"num_active_dims"``, ``"votes"`` (K x D eval votes), settings``}``.

    References:
        Kim, H. and Mnih, A. "Disentangling by Factorising." ICML 2018.
    """
    _check_counts(
        batch_size=batch_size,
        num_train=num_train,
        num_eval=num_eval,
        num_variance_estimate=num_variance_estimate,
    )
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 to estimate a variance, got {batch_size}")
    gen = _generator(seed)
    codes = represent(
        ground_truth, representation, ground_truth.sample_factors(num_variance_estimate, gen)
    )
    global_variances = codes.var(axis=0, ddof=1)
    active = np.sqrt(global_variances) >= prune_threshold
    settings = {
        "batch_size": batch_size,
        "num_train": num_train,
        "num_eval": num_eval,
        "num_variance_estimate": num_variance_estimate,
        "prune_threshold": prune_threshold,
    }
    if not active.any():
        log.warning(
            "FactorVAE score: every code dimension has a standard deviation below %g; "
            "the score is 0",
            prune_threshold,
        )
        return {
            "score": 0.0,
            "train_accuracy": 0.0,
            "num_active_dims": 0,
            "chance": 1.0 / len(ground_truth.factor_sizes),
            **settings,
        }
    kwargs = {
        "batch_size": batch_size,
        "gen": gen,
        "global_variances": global_variances,
        "active": active,
    }
    train_votes = _factor_vae_votes(ground_truth, representation, num_points=num_train, **kwargs)
    eval_votes = _factor_vae_votes(ground_truth, representation, num_points=num_eval, **kwargs)
    classifier = np.argmax(train_votes, axis=0)  # dimension -> factor
    dims = np.arange(train_votes.shape[1])
    return {
        "score": float(eval_votes[classifier, dims].sum() / eval_votes.sum()),
        "train_accuracy": float(train_votes[classifier, dims].sum() / train_votes.sum()),
        "num_active_dims": int(active.sum()),
        "chance": 1.0 / len(ground_truth.factor_sizes),
        "votes": eval_votes.tolist(),
        **settings,
    }


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

    _check_counts(num_points=num_points)
    codes, factors = _sample_codes(ground_truth, representation, num_points, _generator(seed))
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

    _check_counts(num_train=num_train, num_test=num_test)
    gen = _generator(seed)
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
