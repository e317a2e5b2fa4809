"""ELBO and IWAE against each other and against exact answers."""

from __future__ import annotations

import math

import pytest
import torch

from plausible.models import VAE
from plausible.objectives import elbo, iwae_bound, log_importance_weights
from plausible.objectives.schedules import Schedule, resolve_schedules


def _model_and_data() -> tuple[VAE, torch.Tensor]:
    torch.manual_seed(0)
    model = VAE((10,), latent_dim=3, hidden_dims=(16,)).double()
    x = (torch.rand(7, 10, dtype=torch.float64) > 0.5).double()
    return model, x


def test_iwae_with_one_sample_equals_the_monte_carlo_elbo() -> None:
    model, x = _model_and_data()
    torch.manual_seed(3)
    bound = iwae_bound(model, x, num_samples=1).terms["iwae"]
    torch.manual_seed(3)
    out = model(x)
    mc = elbo(out, x, analytic_kl=False).terms["elbo"]
    torch.testing.assert_close(bound, mc)


def test_iwae_bound_grows_with_k_on_average_and_stays_below_log_px() -> None:
    model, x = _model_and_data()
    means = []
    for k in (1, 5, 50, 500):
        torch.manual_seed(1)
        with torch.no_grad():
            draws = [iwae_bound(model, x, num_samples=k).terms["iwae"] for _ in range(40)]
        means.append(float(torch.stack(draws).mean()))
    assert means == sorted(means), means
    torch.manual_seed(2)
    with torch.no_grad():
        log_w = log_importance_weights(model, x, 20000)
    log_px = torch.logsumexp(log_w, 0) - math.log(20000)
    assert float(log_px.mean()) >= means[-1] - 1e-3


def test_analytic_and_monte_carlo_kl_agree_in_expectation() -> None:
    model, x = _model_and_data()
    out = model(x)
    analytic = elbo(out, x).terms["kl"]
    z = out.q_z.sample((100_000,))
    mc = (out.q_z.log_prob(z) - out.p_z.log_prob(z)).mean(0)
    torch.testing.assert_close(analytic, mc, atol=0.02, rtol=0.0)


def test_beta_scales_only_the_kl_penalty() -> None:
    model, x = _model_and_data()
    out = model(x)
    plain, heavy = elbo(out, x), elbo(out, x, beta=4.0)
    torch.testing.assert_close(heavy.loss - plain.loss, 3.0 * plain.terms["kl"])
    torch.testing.assert_close(heavy.terms["elbo"], plain.terms["elbo"])


def test_free_bits_floor_each_dimension() -> None:
    model, x = _model_and_data()
    out = model(x)
    from plausible.distributions import kl_per_dimension

    kl_dims = kl_per_dimension(out.q_z, out.p_z)
    got = elbo(out, x, free_bits=0.5)
    expected = got.terms["reconstruction"] + kl_dims.clamp(min=0.5).sum(-1)
    torch.testing.assert_close(got.loss, expected)


def test_capacity_objective_penalises_distance_to_target() -> None:
    model, x = _model_and_data()
    out = model(x)
    got = elbo(out, x, beta=10.0, capacity=2.0)
    expected = got.terms["reconstruction"] + 10.0 * (got.terms["kl"] - 2.0).abs()
    torch.testing.assert_close(got.loss, expected)


@pytest.mark.parametrize(
    ("spec", "step", "value"),
    [
        ({"schedule": "linear", "start": 0.0, "end": 1.0, "steps": 100}, 50, 0.5),
        ({"schedule": "linear", "start": 0.0, "end": 1.0, "steps": 100}, 500, 1.0),
        ({"schedule": "cyclical", "start": 0.0, "end": 1.0, "period": 100, "ratio": 0.5}, 125, 0.5),
        ({"schedule": "cyclical", "start": 0.0, "end": 1.0, "period": 100, "ratio": 0.5}, 180, 1.0),
        ({"schedule": "linear", "start": 0.0, "end": 25.0, "steps": 10}, None, 25.0),
        ({"schedule": "constant", "value": 3.0}, 7, 3.0),
    ],
    ids=str,
)
def test_schedules(spec: dict, step: int | None, value: float) -> None:
    assert resolve_schedules({"beta": spec, "other": 2}, step) == {"beta": value, "other": 2}


def test_schedule_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="unknown schedule keys"):
        Schedule.from_config({"schedule": "linear", "stepz": 3})
    with pytest.raises(ValueError, match="unknown schedule 'exp'"):
        Schedule.from_config({"schedule": "exp"})
