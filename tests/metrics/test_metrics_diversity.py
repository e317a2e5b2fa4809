"""Diversity and quality measures against sets and distributions with known answers."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import integrate, stats
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from plausible.metrics.diversity import (
    average_pairwise_distance,
    crps_ensemble,
    crps_gaussian,
    draw_samples,
)
from plausible.metrics.hypotheses import energy_score
from plausible.metrics.quality import diversity_quality_sweep, quality_classifier_accuracy
from plausible.models.protocols import ConditionalLatentModel, LatentVariableModel


def test_apd_of_points_on_a_line() -> None:
    # Distances 1, 2, 1 between 0, 1, 2: the mean over ordered pairs i != j is 8 / 6.
    samples = torch.tensor([[0.0], [1.0], [2.0]])[:, None, :]
    assert average_pairwise_distance(samples).tolist() == pytest.approx([4 / 3])


@pytest.mark.parametrize("s", [2, 5, 9], ids=str)
def test_apd_of_a_regular_simplex_is_its_edge(s: int) -> None:
    # The standard basis vectors of R^S are pairwise sqrt(2) apart.
    samples = torch.eye(s)[:, None, :].expand(s, 3, s)
    assert average_pairwise_distance(samples) == pytest.approx(torch.full((3,), math.sqrt(2)))


def test_apd_is_zero_for_identical_samples_and_flattens_images() -> None:
    samples = torch.ones(4, 2, 1, 3, 3)
    assert average_pairwise_distance(samples).tolist() == [0.0, 0.0]


def test_apd_of_gaussian_samples_matches_the_chi_mean() -> None:
    # ||X - X'|| for X, X' ~ N(0, sigma^2 I_D) is sigma sqrt(2) chi_D, whose mean is
    # sqrt(2) Gamma((D + 1) / 2) / Gamma(D / 2).
    d, sigma = 3, 2.0
    samples = sigma * torch.randn(600, 4, d, dtype=torch.float64)
    chi_mean = math.sqrt(2) * math.gamma((d + 1) / 2) / math.gamma(d / 2)
    assert float(average_pairwise_distance(samples).mean()) == pytest.approx(
        sigma * math.sqrt(2) * chi_mean, rel=0.02
    )


def test_apd_needs_two_samples() -> None:
    with pytest.raises(ValueError, match="at least 2 samples"):
        average_pairwise_distance(torch.zeros(1, 3, 2))


@pytest.mark.parametrize(
    ("loc", "scale", "y"), [(0.0, 1.0, 0.0), (1.0, 2.0, -1.5), (-3.0, 0.3, 0.2)], ids=str
)
def test_gaussian_crps_equals_the_integral_definition(loc: float, scale: float, y: float) -> None:
    # CRPS(F, y) = int (F(t) - 1{t >= y})^2 dt, integrated numerically with scipy.
    def integrand(t: float) -> float:
        return (stats.norm.cdf(t, loc, scale) - (t >= y)) ** 2

    left = integrate.quad(integrand, -math.inf, y)[0]
    right = integrate.quad(integrand, y, math.inf)[0]
    closed = crps_gaussian(torch.tensor(loc), torch.tensor(scale), torch.tensor(y))
    assert float(closed) == pytest.approx(left + right, rel=1e-6)


def test_fair_ensemble_crps_of_gaussian_draws_matches_the_closed_form() -> None:
    loc, scale = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([1.0, 0.5, 2.0])
    y = torch.tensor([0.3, 2.0, -2.0])
    samples = (loc + scale * torch.randn(20000, 3, dtype=torch.float64))[:, :, None]
    crps = crps_ensemble(samples, y[:, None], fair=True)
    assert crps.tolist() == pytest.approx(crps_gaussian(loc, scale, y).tolist(), rel=0.02)


def test_ensemble_crps_of_one_sample_is_the_absolute_error() -> None:
    samples, y = torch.tensor([[[1.0, -2.0]]]), torch.tensor([[4.0, 0.0]])
    assert crps_ensemble(samples, y).tolist() == [pytest.approx((3.0 + 2.0) / 2)]


def test_sorted_pair_sum_equals_the_brute_force_pairs() -> None:
    samples, y = torch.randn(7, 5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    brute = (
        (samples - y).abs().mean(0) - 0.5 * (samples[:, None] - samples[None]).abs().mean((0, 1))
    ).mean(-1)
    assert torch.allclose(crps_ensemble(samples, y), brute)


def test_fair_crps_in_one_dimension_is_the_energy_score() -> None:
    samples, y = torch.randn(9, 6, 1, dtype=torch.float64), torch.randn(6, 1, dtype=torch.float64)
    assert torch.allclose(crps_ensemble(samples, y, fair=True), energy_score(samples, y))


def test_quality_classifier_cannot_tell_one_distribution_from_itself() -> None:
    a, b = torch.randn(1200, 10), torch.randn(1200, 10)
    result = quality_classifier_accuracy(a, b, epochs=10)
    # 600 held-out examples: the standard error at 50% is 2%.
    assert abs(result.accuracy - 0.5) < 0.07
    assert result.num_test == 300 and result.num_train == 900


def test_quality_classifier_separates_distinct_distributions() -> None:
    a, b = torch.randn(800, 10), torch.randn(800, 10) + 1.5
    result = quality_classifier_accuracy(a, b, epochs=10)
    assert result.accuracy > 0.98


def test_quality_classifier_refuses_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="trailing shape"):
        quality_classifier_accuracy(torch.zeros(10, 3), torch.zeros(10, 4))


class LinearLatentModel(nn.Module):
    """p(z) = N(0, I), p(x|z) = N(z, 0.1^2): samples at temperature T are T * eps (means)."""

    def __init__(self, dim: int = 4) -> None:
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(dim))
        self.latent_dim, self.x_shape = dim, (dim,)

    def prior(self) -> Independent:
        return Independent(Normal(self.loc, torch.ones_like(self.loc)), 1)

    def encode(self, x: Tensor) -> Independent:
        return Independent(Normal(x, torch.ones_like(x)), 1)

    def decode(self, z: Tensor) -> Independent:
        return Independent(Normal(z, 0.1 * torch.ones_like(z)), 1)

    def sample(self, num_samples: int, *, mean: bool = True) -> Tensor:
        p_x = self.decode(self.prior().sample((num_samples,)))
        return p_x.mean if mean else p_x.sample()


def test_temperature_scales_the_latent_noise() -> None:
    model = LinearLatentModel()
    one = draw_samples(model, num_samples=5, num_groups=8, temperature=1.0, seed=4)
    half = draw_samples(model, num_samples=5, num_groups=8, temperature=0.5, seed=4)
    assert one.shape == (5, 8, 4)
    assert torch.allclose(half, 0.5 * one)
    assert torch.allclose(average_pairwise_distance(half), 0.5 * average_pairwise_distance(one))
    zero = draw_samples(model, num_samples=5, num_groups=8, temperature=0.0)
    assert float(average_pairwise_distance(zero).max()) == 0.0


class LinearConditionalModel(nn.Module):
    """p(z|x) = N(x, I), p(y|x, z) = N(z, 0.1^2): the mean output is x + T * eps."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.x_shape, self.y_shape, self.latent_dim, self.has_recognition = (2,), (2,), 2, False

    def prior(self, x: Tensor) -> Independent:
        return Independent(Normal(self.w * x, torch.ones_like(x)), 1)

    def recognize(self, x: Tensor, y: Tensor) -> Independent:
        raise ValueError("no recognition network")

    def generate(self, x: Tensor, z: Tensor) -> Independent:
        return Independent(Normal(z, 0.1 * torch.ones_like(z)), 1)

    def sample(self, x: Tensor, num_samples: int, *, mean: bool = True) -> Tensor:
        p_y = self.generate(x, self.prior(x).sample((num_samples,)))
        return p_y.mean if mean else p_y.sample()


def test_the_toy_models_satisfy_the_contract() -> None:
    assert isinstance(LinearLatentModel(), LatentVariableModel)
    assert isinstance(LinearConditionalModel(), ConditionalLatentModel)


def test_conditional_samples_follow_each_input() -> None:
    x = torch.tensor([[0.0, 0.0], [10.0, -10.0]])
    samples = draw_samples(LinearConditionalModel(), x=x, num_samples=2000, temperature=0.5)
    assert samples.shape == (2000, 2, 2)
    assert torch.allclose(samples.mean(0), x, atol=0.05)
    assert torch.allclose(samples.std(0), torch.full((2, 2), 0.5), atol=0.03)


def test_sweep_finds_the_real_distribution_at_temperature_one() -> None:
    model = LinearLatentModel()
    real = torch.randn(1000, 4)  # the model's samples at T = 1 are exactly N(0, I)

    def sample(t: float) -> Tensor:
        return draw_samples(model, num_samples=4, num_groups=1000, temperature=t, seed=1)

    def quality(a: Tensor, b: Tensor) -> object:
        return quality_classifier_accuracy(a, b, epochs=8)

    rows = diversity_quality_sweep(sample, real, [0.2, 1.0], quality=quality)  # type: ignore[arg-type]
    assert [r["temperature"] for r in rows] == [0.2, 1.0]
    assert rows[0]["apd"] == pytest.approx(0.2 * rows[1]["apd"], rel=1e-5)
    assert rows[0]["quality_accuracy"] > 0.9  # shrunken samples are easy to spot
    assert abs(rows[1]["quality_accuracy"] - 0.5) < 0.08


def test_sweep_adds_errors_when_targets_are_given() -> None:
    x = torch.zeros(50, 2)
    model = LinearConditionalModel()
    target = torch.zeros(50, 2)

    def sample(t: float) -> Tensor:
        return draw_samples(model, x=x, num_samples=6, temperature=t)

    rows = diversity_quality_sweep(
        sample,
        torch.randn(50, 2),
        [0.0, 1.0],
        target=target,
        quality=lambda a, b: quality_classifier_accuracy(a, b, epochs=1),
    )
    assert rows[0]["best_of_k"] == pytest.approx(0.0, abs=1e-6) and rows[0]["apd"] == 0.0
    assert rows[1]["best_of_k"] < rows[1]["expected_error"]


def test_a_density_model_samples_component_means_or_draws_and_tempers_its_mixture() -> None:
    from plausible.models.mdn import MDN

    torch.manual_seed(0)
    mdn = MDN(1, 1, num_components=3, hidden_dims=(8,))
    x = torch.zeros(5, 1)
    with torch.no_grad():
        p_y = mdn.predictive(x)
    means = p_y.component_distribution.mean[0, :, 0]
    drawn = draw_samples(mdn, x=x, num_samples=200, output="mean", seed=1)
    # "mean" returns a component mean for every draw, never a noisy value.
    assert torch.isclose(drawn[..., 0, None], means).any(-1).all()
    assert not torch.isclose(
        draw_samples(mdn, x=x, num_samples=50, output="sample")[..., 0, None], means
    ).any()
    # Near T = 0 the tempered mixture keeps only its heaviest component.
    cold = draw_samples(mdn, x=x, num_samples=50, output="mean", temperature=1e-3)
    heaviest = means[p_y.mixture_distribution.probs[0].argmax()]
    assert torch.allclose(cold, heaviest.expand_as(cold))
