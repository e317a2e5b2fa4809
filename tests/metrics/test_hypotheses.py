"""Multi-hypothesis scores: best-of-K, expected error, MPJPE, branch coverage, energy score."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from plausible.metrics.hypotheses import (
    best_of_k_error,
    branch_coverage,
    energy_score,
    expected_error,
    prediction_error,
)


def test_prediction_error_euclidean_and_mpjpe() -> None:
    pred = torch.tensor([[3.0, 4.0, 0.0, 0.0, 0.0, 1.0]])
    target = torch.zeros(1, 6)
    assert float(prediction_error(pred, target)) == pytest.approx(math.sqrt(26))
    # Two joints: distances 5 and 1, mean 3.
    assert float(prediction_error(pred, target, joint_dim=3)) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="joint_dim"):
        prediction_error(pred, target, joint_dim=4)


def test_best_of_k_and_expected_error() -> None:
    target = torch.zeros(2, 1)
    hyp = torch.tensor([[[1.0], [-4.0]], [[-0.5], [2.0]], [[3.0], [1.0]]])  # (S=3, B=2, D=1)
    assert best_of_k_error(hyp, target).tolist() == [0.5, 1.0]
    assert expected_error(hyp, target).tolist() == pytest.approx([1.5, 7 / 3])
    with pytest.raises(ValueError, match="hypothesis axis first"):
        best_of_k_error(hyp[:, 0], target)


def test_energy_score_of_a_point_mass_is_the_distance() -> None:
    target = torch.tensor([[0.0, 0.0]])
    samples = torch.tensor([[3.0, 4.0]]).expand(10, 1, 2)
    assert float(energy_score(samples, target)) == pytest.approx(5.0)


def test_energy_score_equals_the_gaussian_crps_in_one_dimension() -> None:
    gen = torch.Generator().manual_seed(0)
    y = torch.tensor([[0.3], [-1.2], [2.0]], dtype=torch.float64)
    samples = torch.randn(4000, 3, 1, generator=gen, dtype=torch.float64)  # N(0, 1)
    z = y[:, 0].numpy()
    crps = z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / math.sqrt(math.pi)
    es = energy_score(samples, y, chunk_size=2)
    torch.testing.assert_close(es, torch.tensor(crps), atol=0.03, rtol=0)


def test_energy_score_prefers_the_true_distribution() -> None:
    gen = torch.Generator().manual_seed(1)
    y = torch.randn(300, 3, generator=gen)
    right = torch.randn(100, 300, 3, generator=gen)
    shifted = right + 1.0
    assert float(energy_score(right, y).mean()) < float(energy_score(shifted, y).mean())
    with pytest.raises(ValueError, match="at least 2 samples"):
        energy_score(right[:1], y)


def test_branch_coverage() -> None:
    # Input 0: solutions at 0 and 1, hypotheses at 0.05 and 0.9 -> covered.
    # Input 1: solutions at 0 and 1, both hypotheses near 0 -> not covered.
    # Input 2: one solution (second slot is padding) -> covered by a hypothesis at 2.
    # Input 3: no solutions -> not counted.
    solutions = torch.tensor(
        [[[0.0], [1.0]], [[0.0], [1.0]], [[2.0], [math.nan]], [[math.nan]] * 2]
    )
    valid = torch.tensor([[True, True], [True, True], [True, False], [False, False]])
    hyp = torch.tensor([[[0.05], [0.0], [2.0], [7.0]], [[0.9], [0.02], [5.0], [7.0]]])
    cov = branch_coverage(hyp, solutions, valid, tolerance=0.15)
    assert cov.covered.tolist() == [True, False, True, False]
    assert cov.num_solutions.tolist() == [2, 2, 1, 0]
    assert cov.fraction() == pytest.approx(2 / 3)
    assert cov.fraction(torch.tensor([True, True, False, False])) == pytest.approx(0.5)
    assert cov.fraction(torch.tensor([False, False, False, True])) != cov.fraction()  # nan
    torch.testing.assert_close(cov.distance[1], torch.tensor([0.0, 0.98]))
    assert torch.isnan(cov.distance[2, 1])


def test_branch_coverage_with_joints() -> None:
    solutions = torch.zeros(1, 1, 6)
    hyp = torch.tensor([[[0.0, 0.0, 0.02, 0.0, 0.0, 0.0]]])  # MPJPE 0.01
    valid = torch.ones(1, 1, dtype=torch.bool)
    assert branch_coverage(hyp, solutions, valid, tolerance=0.015, joint_dim=3).covered.item()
    assert not branch_coverage(hyp, solutions, valid, tolerance=0.015).covered.item()
    with pytest.raises(ValueError, match=r"solutions \(B, M, D\)"):
        branch_coverage(hyp, solutions[0], valid, tolerance=0.1)
