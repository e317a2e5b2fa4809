"""Distribution heads against closed forms and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import Independent, Normal, kl_divergence

from plausible.distributions import (
    BernoulliHead,
    ContinuousBernoulliHead,
    DiagonalGaussianHead,
    GaussianLikelihood,
    LaplaceLikelihood,
    StandardNormalPrior,
    kl_per_dimension,
)


def test_diagonal_gaussian_log_prob_matches_scipy() -> None:
    head = DiagonalGaussianHead((3,))
    params = torch.randn(4, 6, dtype=torch.float64)
    q = head(params)
    x = torch.randn(4, 3, dtype=torch.float64)
    scale = torch.nn.functional.softplus(params[:, 3:]) + 1e-4
    expected = stats.norm(params[:, :3].numpy(), scale.numpy()).logpdf(x.numpy()).sum(1)
    np.testing.assert_allclose(q.log_prob(x).numpy(), expected, rtol=1e-10)
    assert q.batch_shape == (4,) and q.event_shape == (3,)


def test_scale_has_a_floor_for_very_negative_raw_values() -> None:
    q = DiagonalGaussianHead((2,), min_scale=1e-3)(torch.full((1, 4), -1e4))
    assert torch.all(q.base_dist.scale >= 1e-3)
    assert torch.isfinite(q.log_prob(torch.zeros(1, 2))).all()


def test_bernoulli_head_is_binary_cross_entropy_on_images() -> None:
    head = BernoulliHead((1, 2, 2))
    logits = torch.randn(3, 4, dtype=torch.float64)
    x = torch.rand(3, 1, 2, 2, dtype=torch.float64)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        logits.view(3, 1, 2, 2), x, reduction="none"
    ).sum((1, 2, 3))
    torch.testing.assert_close(head(logits).log_prob(x), -bce)


def test_continuous_bernoulli_density_integrates_to_one() -> None:
    head = ContinuousBernoulliHead((1,))
    grid = torch.linspace(0, 1, 20001, dtype=torch.float64)[:, None]
    for logit in (-5.0, -0.3, 0.0, 2.0):
        d = head(torch.full((len(grid), 1), logit, dtype=torch.float64))
        integral = torch.trapezoid(d.log_prob(grid).exp(), grid[:, 0])
        assert abs(float(integral) - 1.0) < 1e-4, logit


@pytest.mark.parametrize("mode", ["fixed", "shared", "per_dim"], ids=str)
def test_gaussian_likelihood_scale_modes(mode: str) -> None:
    head = GaussianLikelihood((5,), scale=mode, init_scale=0.7)
    learned = [n for n, _ in head.named_parameters()]
    assert (learned == []) == (mode == "fixed")
    if mode == "per_dim":
        assert head.raw_scale.shape == (5,)
    torch.testing.assert_close(head.scale.expand(5), torch.full((5,), 0.7))
    loc = torch.randn(2, 5, dtype=torch.float64)
    x = torch.randn(2, 5, dtype=torch.float64)
    expected = stats.norm(loc.numpy(), 0.7).logpdf(x.numpy()).sum(1)
    np.testing.assert_allclose(head(loc).log_prob(x).detach().numpy(), expected, rtol=1e-6)


def test_laplace_likelihood_matches_scipy() -> None:
    head = LaplaceLikelihood((3,), init_scale=0.5)
    loc, x = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    expected = stats.laplace(loc.numpy(), 0.5).logpdf(x.numpy()).sum(1)
    np.testing.assert_allclose(head(loc).log_prob(x).detach().numpy(), expected, rtol=1e-6)


def test_wrong_number_of_parameters_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"expects 6 raw parameters .*got shape \(2, 5\)"):
        DiagonalGaussianHead((3,))(torch.zeros(2, 5))


def test_analytic_kl_matches_monte_carlo() -> None:
    torch.manual_seed(0)
    q = DiagonalGaussianHead((4,))(torch.randn(3, 8, dtype=torch.float64))
    p = StandardNormalPrior(4).double()()
    z = q.sample((200_000,))
    mc = (q.log_prob(z) - p.log_prob(z)).mean(0)
    analytic = kl_divergence(q, p)
    stderr = (q.log_prob(z) - p.log_prob(z)).std(0) / math.sqrt(200_000)
    assert torch.all((mc - analytic).abs() < 4 * stderr)


def test_kl_per_dimension_sums_to_total_and_matches_formula() -> None:
    loc, scale = torch.randn(5, 3, dtype=torch.float64), torch.rand(5, 3, dtype=torch.float64) + 0.1
    q = Independent(Normal(loc, scale), 1)
    p = StandardNormalPrior(3).double()()
    per_dim = kl_per_dimension(q, p)
    formula = 0.5 * (scale**2 + loc**2 - 1) - scale.log()
    torch.testing.assert_close(per_dim, formula)
    torch.testing.assert_close(per_dim.sum(-1), kl_divergence(q, p))
