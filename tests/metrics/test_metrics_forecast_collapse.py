"""Collapse diagnostics of conditional latent forecasters against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from plausible.data.branching import make_branching
from plausible.data.sequences import GaussianModesLaw
from plausible.data.task_data import TaskData
from plausible.metrics.forecast_collapse import (
    conditional_posterior_statistics,
    forecast_collapse_metric,
    law_spread,
    output_sensitivity,
)
from plausible.metrics.suite import NotApplicableError
from plausible.models.protocols import ConditionalLatentModel

T_OBS, T_PRED, D, Z = 3, 4, 2, 2


class LinearForecaster(nn.Module):
    """p(z|x) and q(z|x,y) diagonal Gaussians read off x and y; E[y|x,z] = last frame + W z.

    Args:
        weight: ``(Z, T_PRED * D)``; zero makes the generator ignore z.
        posterior_is_prior: q(z|x,y) returns p(z|x) (a posterior that learned nothing).
    """

    def __init__(self, weight: Tensor, *, posterior_is_prior: bool = False) -> None:
        super().__init__()
        self.x_shape, self.y_shape = (T_OBS, D), (T_PRED, D)
        self.latent_dim, self.has_recognition = Z, True
        self.weight = nn.Parameter(weight.double(), requires_grad=False)
        self.posterior_is_prior = posterior_is_prior

    def prior(self, x: Tensor) -> Distribution:
        flat = x.double().flatten(1)
        return Independent(Normal(flat[:, :Z], 0.5 + flat[:, Z : 2 * Z].abs()), 1)

    def recognize(self, x: Tensor, y: Tensor) -> Distribution:
        if self.posterior_is_prior:
            return self.prior(x)
        flat = y.double().flatten(1)
        return Independent(Normal(flat[:, :Z], 0.3 + flat[:, Z : 2 * Z] ** 2), 1)

    def generate(self, x: Tensor, z: Tensor) -> Distribution:
        moves = (z @ self.weight).unflatten(-1, (T_PRED, D))  # (..., B, T, D)
        return Independent(Normal(x[:, -1:].double() + moves, 0.1), 2)

    def sample(self, x: Tensor, num_samples: int, *, mean: bool = False) -> Tensor:
        p_y = self.generate(x, self.prior(x).sample((num_samples,)))
        return p_y.mean if mean else p_y.sample()


def _pairs(n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, T_OBS, D, generator=g), torch.randn(n, T_PRED, D, generator=g)


def _weight(seed: int = 1) -> Tensor:
    return torch.randn(Z, T_PRED * D, generator=torch.Generator().manual_seed(seed))


def test_the_test_model_is_a_conditional_latent_model() -> None:
    assert isinstance(LinearForecaster(_weight()), ConditionalLatentModel)


def test_a_generator_that_ignores_z_has_no_output_sensitivity() -> None:
    x, _ = _pairs(50)
    model = LinearForecaster(torch.zeros(Z, T_PRED * D))
    assert output_sensitivity(model, x, num_samples=8, seed=0).abs().max() == 0


def test_output_sensitivity_of_a_linear_generator_is_its_closed_form() -> None:
    # E[y|x,z]_e = c + sum_d W_de z_d with z_d ~ N(m_d, s_d^2): std sqrt(sum_d s_d^2 W_de^2).
    x, _ = _pairs(300)
    weight = _weight()
    model = LinearForecaster(weight)
    scale = model.prior(x).base_dist.scale  # (B, Z)
    exact = (scale.pow(2) @ weight.double().pow(2)).sqrt().mean(-1)  # (B,)
    s = 400
    # The sample standard deviation of S Gaussian draws has mean c4(S) sigma.
    c4 = math.sqrt(2 / (s - 1)) * math.exp(math.lgamma(s / 2) - math.lgamma((s - 1) / 2))
    got = output_sensitivity(model, x, num_samples=s, seed=0)
    assert float(got.mean()) == pytest.approx(c4 * float(exact.mean()), rel=0.01)


def test_kl_per_dimension_is_the_gaussian_closed_form() -> None:
    x, y = _pairs(40)
    model = LinearForecaster(_weight())
    stats = conditional_posterior_statistics(model, x, y)
    fx, fy = x.double().flatten(1).numpy(), y.double().flatten(1).numpy()
    for b in range(40):
        for d in range(Z):
            mq, sq = fy[b, d], 0.3 + fy[b, Z + d] ** 2
            mp, sp = fx[b, d], 0.5 + abs(fx[b, Z + d])
            kl = math.log(sp / sq) + (sq**2 + (mq - mp) ** 2) / (2 * sp**2) - 0.5
            assert float(stats["kl"][b, d]) == pytest.approx(kl, rel=1e-10)
    assert torch.equal(stats["prior_mean"], x.double().flatten(1)[:, :Z])


class _TwoPaths(GaussianModesLaw):
    """Two modes with probabilities (1/4, 3/4): the zero path and the path of twos."""

    def __init__(self) -> None:
        super().__init__((T_PRED, D), 0.1, ("zero", "two"))

    def mode_probs(self, x: Tensor) -> Tensor:
        return torch.tensor([[0.25, 0.75]], dtype=torch.float64).expand(len(x), 2)

    def mode_means(self, x: Tensor) -> Tensor:
        means = torch.stack([torch.zeros(T_PRED, D), torch.full((T_PRED, D), 2.0)])
        return means.double().expand(len(x), 2, T_PRED, D)


def test_law_spread_of_two_paths_is_the_bernoulli_std() -> None:
    # Each value is 0 w.p. 1/4 and 2 w.p. 3/4: standard deviation 2 sqrt(1/4 * 3/4).
    x, _ = _pairs(3)
    assert law_spread(_TwoPaths(), x).tolist() == pytest.approx([math.sqrt(0.75)] * 3)


def test_law_spread_of_branching_paths_equals_a_loop() -> None:
    d = make_branching(6, seed=2, t_obs=4, t_pred=6)
    law, x = d["law"], d["x"]
    means = law.mode_means(x).double().numpy()
    probs = law.mode_probs(x).double().numpy()
    got = law_spread(law, x)
    for b in range(6):
        stds = []
        for t in range(6):
            for k in range(2):
                values = [means[b, m, t, k] for m in range(3)]
                pairs = list(zip(probs[b], values, strict=True))
                centre = sum(p * v for p, v in pairs)
                stds.append(math.sqrt(sum(p * (v - centre) ** 2 for p, v in pairs)))
        assert float(got[b]) == pytest.approx(np.mean(stds), rel=1e-12)


def _data(n: int, law: GaussianModesLaw | None = None) -> TaskData:
    x, y = _pairs(n, seed=4)
    split = {"x": x, "y": y}
    return TaskData(split, split, split, info={} if law is None else {"law": law})


def test_the_metric_sums_the_closed_form_kl_and_compares_with_the_law() -> None:
    model = LinearForecaster(torch.zeros(Z, T_PRED * D))
    data = _data(60, _TwoPaths())
    result = forecast_collapse_metric(model, data, {"forecast-collapse": {"num_samples": 5}})
    stats = conditional_posterior_statistics(model, data.test["x"], data.test["y"])
    assert result["kl"]["mean"] == pytest.approx(float(stats["kl"].sum(-1).mean()), rel=1e-12)
    assert result["output_sensitivity"]["mean"] == 0
    assert result["output_spread_true"]["mean"] == pytest.approx(math.sqrt(0.75))
    assert result["sensitivity_ratio"]["mean"] == 0
    # The posterior means are y's first values, which vary: both units are active.
    assert result["active_units"] == Z


def test_a_posterior_equal_to_its_prior_has_no_units_beyond_the_prior() -> None:
    model = LinearForecaster(_weight(), posterior_is_prior=True)
    result = forecast_collapse_metric(model, _data(60), {"forecast-collapse": {"num_samples": 5}})
    assert result["kl"]["mean"] == 0
    # E_q[z|x,y] = E_p[z|x] moves with x, so the plain rule calls the units active.
    assert result["active_units"] == Z
    assert result["active_units_beyond_prior"] == 0


def test_a_model_without_latents_is_not_applicable() -> None:
    class Deterministic(nn.Module):
        x_shape, y_shape = (T_OBS, D), (T_PRED, D)

        def sample(self, x: Tensor, num_samples: int, *, mean: bool = False) -> Tensor:
            return torch.zeros(num_samples, len(x), T_PRED, D)

    with pytest.raises(NotApplicableError, match="no latent variable"):
        forecast_collapse_metric(Deterministic(), _data(10), {})
