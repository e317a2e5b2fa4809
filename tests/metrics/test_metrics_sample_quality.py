"""Frechet distance against closed forms, precision/recall on sets with known overlap, features."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import linalg

from plausible.metrics.sample_quality import (
    FeatureClassifier,
    extract_features,
    frechet_distance,
    frechet_distance_from_features,
    load_or_train_feature_classifier,
    precision_recall,
    train_feature_classifier,
)


def _spd(d: int, seed: int) -> torch.Tensor:
    a = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return a @ a.T + 0.1 * torch.eye(d, dtype=torch.float64)


def test_one_dimensional_gaussians() -> None:
    # W2^2(N(m1, s1^2), N(m2, s2^2)) = (m1 - m2)^2 + (s1 - s2)^2
    value = frechet_distance(
        torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([-2.0]), torch.tensor([[0.25]])
    )
    assert value == pytest.approx(9.0 + (2.0 - 0.5) ** 2)


def test_diagonal_covariances() -> None:
    m1, m2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    v1, v2 = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 4.0, 1.0])
    expected = float((m1 - m2).square().sum() + (v1.sqrt() - v2.sqrt()).square().sum())
    assert frechet_distance(m1, torch.diag(v1), m2, torch.diag(v2)) == pytest.approx(expected)


def test_a_shared_rotation_changes_nothing() -> None:
    q = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))[0]
    v1, v2 = (
        torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64),
        torch.tensor([4.0, 4.0, 1.0], dtype=torch.float64),
    )
    m = torch.zeros(3, dtype=torch.float64)
    rotated = frechet_distance(m, q @ torch.diag(v1) @ q.T, m, q @ torch.diag(v2) @ q.T)
    assert rotated == pytest.approx(float((v1.sqrt() - v2.sqrt()).square().sum()))


@pytest.mark.parametrize("seed", [0, 1, 2], ids=str)
def test_general_covariances_match_the_sqrtm_formula(seed: int) -> None:
    c1, c2 = _spd(5, seed), _spd(5, seed + 10)
    m1, m2 = torch.randn(5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    cross = linalg.sqrtm(c1.numpy() @ c2.numpy()).real
    reference = float((m1 - m2).square().sum()) + np.trace(c1.numpy() + c2.numpy() - 2 * cross)
    assert frechet_distance(m1, c1, m2, c2) == pytest.approx(reference, rel=1e-8)
    assert frechet_distance(m1, c1, m2, c2) == pytest.approx(frechet_distance(m2, c2, m1, c1))
    assert frechet_distance(m1, c1, m1, c1) == pytest.approx(0.0, abs=1e-9)


def test_distance_from_samples_approaches_the_closed_form() -> None:
    c1, c2 = _spd(3, 4), _spd(3, 5)
    m2 = torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(40000, 3, generator=gen, dtype=torch.float64) @ torch.linalg.cholesky(c1).T
    b = m2 + torch.randn(40000, 3, generator=gen, dtype=torch.float64) @ torch.linalg.cholesky(c2).T
    exact = frechet_distance(torch.zeros(3, dtype=torch.float64), c1, m2, c2)
    assert frechet_distance_from_features(a, b) == pytest.approx(exact, rel=0.03)


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="means"):
        frechet_distance(torch.zeros(2), torch.eye(3), torch.zeros(2), torch.eye(2))


def test_precision_and_recall_of_a_set_with_itself_are_one() -> None:
    a = torch.randn(300, 4)
    assert precision_recall(a, a.clone()) == {
        "precision": 1.0,
        "recall": 1.0,
        "k": 3,
        "num_real": 300,
        "num_generated": 300,
    }


def test_disjoint_sets_have_no_precision_or_recall() -> None:
    a = torch.randn(300, 4)
    result = precision_recall(a, a + 100.0)
    assert result["precision"] == 0.0 and result["recall"] == 0.0


def test_samples_from_half_the_modes_are_precise_but_recall_half() -> None:
    # Real data: two far-apart clusters of equal size; samples: only the first cluster.
    gen = torch.Generator().manual_seed(0)
    real = torch.cat([torch.randn(400, 2, generator=gen), torch.randn(400, 2, generator=gen) + 50])
    fake = torch.randn(800, 2, generator=gen)
    result = precision_recall(real, fake)
    assert result["precision"] > 0.95
    assert result["recall"] == pytest.approx(0.5, abs=0.05)


def _bars(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """8 x 8 images with a bright row at the label's height, plus noise."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(4, (n,), generator=gen)
    x = 0.2 * torch.rand(n, 1, 8, 8, generator=gen)
    x[torch.arange(n), 0, 2 * labels] += 0.8
    return x, labels


def test_feature_classifier_learns_the_labels_and_gives_features() -> None:
    x, labels = _bars(600, 0)
    model, info = train_feature_classifier(
        x, labels, feature_dim=16, channels=(8, 8), epochs=5, batch_size=32, lr=3e-3
    )
    assert info["val_accuracy"][0] > 0.95 and info["num_classes"] == [4]
    feats = extract_features(model, x[:10])
    assert feats.shape == (10, 16) and feats.dtype == torch.float64 and (feats >= 0).all()


def test_feature_classifier_takes_several_label_columns() -> None:
    model = FeatureClassifier((1, 8, 8), (3, 5), feature_dim=6, channels=(4,))
    logits = model(torch.zeros(2, 1, 8, 8))
    assert [tuple(lg.shape) for lg in logits] == [(2, 3), (2, 5)]


def test_cached_classifier_gives_identical_features(tmp_path: Path) -> None:
    x, labels = _bars(300, 1)
    kwargs = {"feature_dim": 8, "channels": (4, 4), "epochs": 1}
    first, info1 = load_or_train_feature_classifier(x, labels, cache=tmp_path, **kwargs)
    second, info2 = load_or_train_feature_classifier(x, labels, cache=tmp_path, **kwargs)
    assert not info1["cached"] and info2["cached"]
    assert torch.equal(extract_features(first, x), extract_features(second, x))
    # Other data or other settings are another classifier.
    _, info3 = load_or_train_feature_classifier(
        x, labels, cache=tmp_path, **{**kwargs, "epochs": 2}
    )
    assert not info3["cached"] and len(list(tmp_path.glob("*.safetensors"))) == 2


def test_distance_is_zero_between_a_feature_set_and_itself() -> None:
    a = torch.randn(500, 6)
    assert frechet_distance_from_features(a, a) == pytest.approx(0.0, abs=1e-9)
    assert math.isfinite(frechet_distance_from_features(a[:250], a[250:]))
