"""Mixture summaries: modes by fixed-point iteration, weight diagnostics, PIT calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import optimize, stats
from torch.distributions import Independent, Normal

from plausible.distributions.mixture import gaussian_mixture
from plausible.metrics.mixture import (
    component_usage,
    dead_components,
    interval_coverage,
    mixing_entropy,
    mixture_diagnostics,
    mixture_modes,
    pit_histogram,
    probability_integral_transform,
    responsibilities,
)


def _three_mode_mixture():
    """Two components with three modes (Carreira-Perpinan & Williams; Bishop's lecture example)."""
    logits = torch.zeros(1, 2, dtype=torch.float64)
    loc = torch.tensor([[[0.0, 0.0], [1.0, 1.0]]], dtype=torch.float64)
    scale = torch.tensor([[[1.0, 0.05], [0.05, 1.0]]], dtype=torch.float64).sqrt()
    return gaussian_mixture(logits, loc, scale)


@pytest.mark.parametrize("num_samples", [0, 16], ids=str)
def test_mode_finder_recovers_the_three_modes(num_samples: int) -> None:
    p_y = _three_mode_mixture()
    modes = mixture_modes(p_y, num_samples=num_samples)
    assert int(modes.num_modes[0]) == 3
    assert bool(modes.converged[0])

    def negative_density(v: np.ndarray) -> float:
        return -float(p_y.log_prob(torch.tensor(v)[None]).exp())

    found = modes.loc[0].numpy()
    for start in found:  # each is a local maximum: a local optimiser does not move it
        polished = optimize.minimize(
            negative_density, start, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14}
        ).x
        np.testing.assert_allclose(polished, start, atol=1e-5)
    expected = np.array([[0.952381, 0.047619], [0.000557, 0.0], [1.0, 0.999443]])
    np.testing.assert_allclose(found, expected, atol=1e-5)  # densest first
    assert (modes.log_prob[0, :-1] >= modes.log_prob[0, 1:]).all()


def test_min_density_ratio_drops_faint_modes() -> None:
    p_y = _three_mode_mixture()  # mode densities 0.442, 0.356, 0.356
    assert int(mixture_modes(p_y, min_density_ratio=0.5).num_modes[0]) == 3
    assert int(mixture_modes(p_y, min_density_ratio=0.9).num_modes[0]) == 1


def test_close_components_merge_into_one_mode() -> None:
    # Two unit Gaussians 1 apart (less than 2 sigma): the mixture is unimodal at 0.
    p_y = gaussian_mixture(
        torch.zeros(1, 2, dtype=torch.float64),
        torch.tensor([[[-0.5], [0.5]]], dtype=torch.float64),
        torch.ones(1, 2, 1, dtype=torch.float64),
    )
    modes = mixture_modes(p_y)
    assert int(modes.num_modes[0]) == 1
    assert abs(float(modes.loc[0, 0, 0])) < 1e-5


def test_separated_components_have_modes_near_their_means() -> None:
    loc = torch.tensor([[[-3.0], [0.0], [4.0]], [[0.0], [10.0], [20.0]]], dtype=torch.float64)
    p_y = gaussian_mixture(
        torch.tensor([[0.0, 1.0, 0.5], [0.0, 0.0, 0.0]], dtype=torch.float64),
        loc,
        torch.full((2, 3, 1), 0.5, dtype=torch.float64),
    )
    modes = mixture_modes(p_y)
    assert modes.num_modes.tolist() == [3, 3]
    for b in range(2):
        found = np.sort(modes.loc[b, :, 0].numpy())
        np.testing.assert_allclose(found, np.sort(loc[b, :, 0].numpy()), atol=1e-3)
    assert modes.loc.shape == (2, 3, 1) and modes.valid.all()


def test_modes_pad_batches_with_different_counts() -> None:
    loc = torch.tensor([[[-0.1], [0.1]], [[-5.0], [5.0]]], dtype=torch.float64)
    p_y = gaussian_mixture(
        torch.zeros(2, 2, dtype=torch.float64), loc, torch.ones(2, 2, 1, dtype=torch.float64)
    )
    modes = mixture_modes(p_y)
    assert modes.num_modes.tolist() == [1, 2]
    assert torch.isnan(modes.loc[0, 1]).all() and modes.log_prob[0, 1] == -math.inf


def test_mixing_entropy_bounds() -> None:
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [50.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    p_y = gaussian_mixture(
        logits, torch.zeros(2, 4, 1, dtype=torch.float64), torch.ones(2, 4, 1, dtype=torch.float64)
    )
    entropy = mixing_entropy(p_y)
    assert float(entropy[0]) == pytest.approx(math.log(4))
    assert float(entropy[1]) < 1e-18


def test_usage_and_dead_components() -> None:
    logits = torch.tensor([[5.0, 0.0, -30.0], [0.0, 5.0, -30.0], [5.0, 0.0, -30.0]])
    p_y = gaussian_mixture(logits, torch.zeros(3, 3, 1), torch.ones(3, 3, 1))
    usage = component_usage(p_y, torch.zeros(3, 1))
    assert usage["argmax_share"].tolist() == pytest.approx([2 / 3, 1 / 3, 0.0])
    assert float(usage["mean_weight"].sum()) == pytest.approx(1.0)
    torch.testing.assert_close(usage["mean_responsibility"], usage["mean_weight"])  # equal comps
    assert dead_components(usage["mean_weight"]) == [2]
    summary = mixture_diagnostics(p_y)
    assert summary["dead_components"] == [2]
    assert summary["max_mixing_entropy"] == pytest.approx(math.log(3))


def test_responsibilities_sum_to_one_and_pick_the_near_component() -> None:
    p_y = gaussian_mixture(torch.zeros(1, 2), torch.tensor([[[-2.0], [2.0]]]), torch.ones(1, 2, 1))
    r = responsibilities(p_y, torch.tensor([[1.9]]))
    assert float(r.sum()) == pytest.approx(1.0)
    assert float(r[0, 1]) > 0.99


def test_pit_of_own_samples_is_uniform() -> None:
    """Targets drawn from the model give uniform PIT values: calibration and sampling agree."""
    gen = torch.Generator().manual_seed(0)
    n = 4000
    logits = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    loc = torch.randn(n, 3, 1, generator=gen, dtype=torch.float64)
    scale = 0.2 + torch.rand(n, 3, 1, generator=gen, dtype=torch.float64)
    p_y = gaussian_mixture(logits, loc, scale)
    torch.manual_seed(1)
    y = p_y.sample()
    pit = probability_integral_transform(p_y, y)
    assert stats.kstest(pit.numpy(), "uniform").pvalue > 0.01
    coverage = interval_coverage(pit, (0.5, 0.9))
    assert coverage["0.5"] == pytest.approx(0.5, abs=0.03)
    assert coverage["0.9"] == pytest.approx(0.9, abs=0.02)
    hist = pit_histogram(pit, 10)
    assert float(hist.mean()) == pytest.approx(1.0)
    assert ((hist > 0.8) & (hist < 1.2)).all()


def test_pit_of_a_gaussian_regression_and_errors() -> None:
    p_y = Independent(Normal(torch.zeros(3, 1), torch.ones(3, 1)), 1)
    pit = probability_integral_transform(p_y, torch.tensor([[0.0], [1.0], [-1.0]]))
    np.testing.assert_allclose(pit.numpy(), stats.norm.cdf([0.0, 1.0, -1.0]), rtol=1e-6)
    two_d = gaussian_mixture(torch.zeros(3, 2), torch.zeros(3, 2, 2), torch.ones(3, 2, 1))
    with pytest.raises(ValueError, match="energy_score"):
        probability_integral_transform(two_d, torch.zeros(3, 2))
    with pytest.raises(ValueError, match="levels"):
        interval_coverage(pit, (1.5,))
