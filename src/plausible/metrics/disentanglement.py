"""Disentanglement scores against known factors: beta-VAE, FactorVAE, and the ``disentanglement``
suite metric (which adds MIG and DCI from :mod:`plausible.metrics.information`)."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from plausible.data.task_data import TaskData
from plausible.metrics.factors import (
    GroundTruthData,
    Representation,
    check_counts,
    posterior_mean_representation,
    represent,
    seeded_generator,
)
from plausible.metrics.information import dci, discretize, mig
from plausible.metrics.suite import NotApplicableError, options, suite_metric
from plausible.models.protocols import LatentVariableModel

__all__ = [
    "GroundTruthData",
    "Representation",
    "beta_vae_score",
    "dci",
    "discretize",
    "disentanglement_metric",
    "factor_vae_score",
    "mig",
    "posterior_mean_representation",
    "represent",
]

log = logging.getLogger(__name__)


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

    check_counts(batch_size=batch_size, num_train=num_train, num_eval=num_eval)
    gen = seeded_generator(seed)
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
    check_counts(
        batch_size=batch_size,
        num_train=num_train,
        num_eval=num_eval,
        num_variance_estimate=num_variance_estimate,
    )
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 to estimate a variance, got {batch_size}")
    gen = seeded_generator(seed)
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


_DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "beta_vae_batch_size": 64,
    "beta_vae_num_train": 10_000,
    "beta_vae_num_eval": 5_000,
    "factor_vae_batch_size": 64,
    "factor_vae_num_train": 10_000,
    "factor_vae_num_eval": 5_000,
    "factor_vae_num_variance_estimate": 10_000,
    "factor_vae_prune_threshold": 0.05,
    "mig_num_points": 10_000,
    "mig_num_bins": 20,
    "dci_num_train": 10_000,
    "dci_num_test": 5_000,
}


@suite_metric(
    "disentanglement",
    "beta-VAE score, FactorVAE score, MIG and DCI against known factors",
    directions={
        k: "higher"
        for k in (
            "beta_vae",
            "factor_vae",
            "mig",
            "dci_disentanglement",
            "dci_completeness",
            "dci_informativeness",
        )
    },
)
def disentanglement_metric(
    model: nn.Module, data: TaskData, settings: dict[str, Any]
) -> dict[str, Any]:
    """The ``disentanglement`` suite metric: every score above against ``info["ground_truth"]``."""
    opts = options(settings, "disentanglement", _DEFAULTS)
    truth = data.info.get("ground_truth")
    if truth is None:
        raise NotApplicableError(
            "disentanglement scores need data with known factors (e.g. the dsprites task)"
        )
    if not isinstance(model, LatentVariableModel):
        raise NotApplicableError(
            f"{type(model).__name__} has no encoder: disentanglement scores use the posterior "
            "means of q(z|x)"
        )
    rep = posterior_mean_representation(model)
    seed = int(opts["seed"])
    beta = beta_vae_score(
        truth,
        rep,
        batch_size=int(opts["beta_vae_batch_size"]),
        num_train=int(opts["beta_vae_num_train"]),
        num_eval=int(opts["beta_vae_num_eval"]),
        seed=seed,
    )
    factor = factor_vae_score(
        truth,
        rep,
        batch_size=int(opts["factor_vae_batch_size"]),
        num_train=int(opts["factor_vae_num_train"]),
        num_eval=int(opts["factor_vae_num_eval"]),
        num_variance_estimate=int(opts["factor_vae_num_variance_estimate"]),
        prune_threshold=float(opts["factor_vae_prune_threshold"]),
        seed=seed,
    )
    gap = mig(
        truth,
        rep,
        num_points=int(opts["mig_num_points"]),
        num_bins=int(opts["mig_num_bins"]),
        seed=seed,
    )
    scores = dci(
        truth,
        rep,
        num_train=int(opts["dci_num_train"]),
        num_test=int(opts["dci_num_test"]),
        seed=seed,
    )
    return {
        "beta_vae": beta["score"],
        "factor_vae": factor["score"],
        "mig": gap["score"],
        "dci_disentanglement": scores["disentanglement"],
        "dci_completeness": scores["completeness"],
        "dci_informativeness": scores["informativeness_test"],
        "settings": opts,
        "details": {
            "factor_names": list(truth.factor_names),
            "beta_vae": beta,
            "factor_vae": factor,
            "mig": gap,
            "dci": scores,
        },
    }
