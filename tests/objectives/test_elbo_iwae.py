"""ELBO and IWAE against each other and against exact answers."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from plausible.models import VAE
from plausible.objectives import elbo, free_bits_penalty, iwae_bound, log_importance_weights
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


@dataclass
class _Output:
    """A latent-variable model's output with hand-picked distributions (``LatentOutput``)."""

    q_z: Independent
    p_z: Independent
    z: torch.Tensor
    p_x: Independent


def _known_kls() -> tuple[_Output, torch.Tensor, torch.Tensor]:
    """Two examples, two latent dimensions, q = N(loc, 1), p = N(0, 1): KL_bj = loc_bj^2 / 2.

    loc = [[1.0, 0.2], [0.4, 0.8]] gives KL = [[0.5, 0.02], [0.08, 0.32]], batch means per
    dimension [0.29, 0.17] and KL per example [0.52, 0.40]. The decoder does not depend on loc,
    so every gradient below comes from the KL penalty.
    """
    loc = torch.tensor([[1.0, 0.2], [0.4, 0.8]], dtype=torch.float64, requires_grad=True)
    q_z = Independent(Normal(loc, torch.ones_like(loc)), 1)
    p_z = Independent(Normal(torch.zeros(2, dtype=torch.float64), 1.0), 1)
    p_x = Independent(Normal(torch.zeros(2, 3, dtype=torch.float64), 1.0), 1)
    x = torch.tensor([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    return _Output(q_z, p_z, loc.detach(), p_x), x, loc


def _gaussian_nll(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x**2).sum(-1) + 1.5 * math.log(2 * math.pi)


@pytest.mark.parametrize(
    ("options", "penalty", "grad"),
    [
        # Published form: dimension 0 (mean 0.29) is penalised for both examples, dimension 1
        # (mean 0.17 < 0.2) costs 0.2 and gets no gradient, although example 2 uses 0.32 nats.
        ({}, [0.5 + 0.2, 0.08 + 0.2], [[1.0, 0.0], [0.4, 0.0]]),
        # Per example: each KL_bj below 0.2 costs 0.2 and gets no gradient.
        ({"free_bits_mode": "example"}, [0.5 + 0.2, 0.2 + 0.32], [[1.0, 0.0], [0.0, 0.8]]),
    ],
    ids=["batch", "example"],
)
def test_free_bits_on_known_kls(options: dict, penalty: list, grad: list) -> None:
    out, x, loc = _known_kls()
    got = elbo(out, x, beta=2.0, free_bits=0.2, **options)  # type: ignore[arg-type]
    expected_penalty = torch.tensor(penalty, dtype=torch.float64)
    torch.testing.assert_close(got.loss, _gaussian_nll(x) + 2.0 * expected_penalty)
    torch.testing.assert_close(got.terms["kl"], torch.tensor([0.52, 0.40], dtype=torch.float64))
    torch.testing.assert_close(got.terms["elbo"], -(_gaussian_nll(x) + got.terms["kl"]))
    # The trainer minimises the batch mean; d/dloc_bj of (beta/B) * KL_bj = loc_bj, beta = 2.
    got.loss.mean().backward()
    torch.testing.assert_close(loc.grad, torch.tensor(grad, dtype=torch.float64))


def test_batch_free_bits_mean_is_the_published_penalty() -> None:
    """(1/B) sum_b penalty_b = sum_j max(lambda, mean_b KL_bj) on a random batch."""
    gen = torch.Generator().manual_seed(0)
    kl_dims = torch.rand(16, 5, generator=gen, dtype=torch.float64) * torch.linspace(0, 2, 5)
    for free_bits in (0.1, 0.5, 1.0, 3.0):
        mean = free_bits_penalty(kl_dims, free_bits).mean()
        published = sum(max(free_bits, float(kl_dims[:, j].mean())) for j in range(5))
        assert float(mean) == pytest.approx(published, rel=1e-12)


@pytest.mark.parametrize(
    ("options", "penalty", "grad"),
    [
        # Reference: 10 * |mean KL - C| = 10 * |0.46 - 0.5| = 0.4 on average, returned as
        # 10 * sign(0.46 - 0.5) * (KL_b - C) = [-0.2, 1.0]; gradient -10 * loc / B.
        ({}, [-0.2, 1.0], [[-5.0, -1.0], [-2.0, -4.0]]),
        # Per example: 10 * |KL_b - C| = [0.2, 1.0], mean 0.6; gradient +-10 * loc / B.
        ({"capacity_mode": "example"}, [0.2, 1.0], [[5.0, 1.0], [-2.0, -4.0]]),
    ],
    ids=["batch", "example"],
)
def test_capacity_objective_on_known_kls(options: dict, penalty: list, grad: list) -> None:
    out, x, loc = _known_kls()
    got = elbo(out, x, beta=10.0, capacity=0.5, **options)  # type: ignore[arg-type]
    expected = _gaussian_nll(x) + torch.tensor(penalty, dtype=torch.float64)
    torch.testing.assert_close(got.loss, expected)
    got.loss.mean().backward()
    torch.testing.assert_close(loc.grad, torch.tensor(grad, dtype=torch.float64))


def test_batch_capacity_mean_is_the_reference_loss() -> None:
    """(1/B) sum_b loss_b = mean reconstruction + gamma * |mean KL - C| on a random batch."""
    model, x = _model_and_data()
    with torch.no_grad():
        out = model(x)
    for capacity in (0.0, 1.0, 100.0):
        got = elbo(out, x, beta=7.0, capacity=capacity)
        kl = float(kl_divergence(out.q_z, out.p_z).mean())
        reference = float(got.terms["reconstruction"].mean()) + 7.0 * abs(kl - capacity)
        assert float(got.loss.mean()) == pytest.approx(reference, rel=1e-12)


def test_free_bits_then_capacity_act_on_the_batch_penalty() -> None:
    out, x, _ = _known_kls()
    got = elbo(out, x, free_bits=0.2, capacity=1.0)
    # Free-bits penalty of the batch: 0.29 + 0.2 = 0.49; |0.49 - 1.0| = 0.51.
    assert float(got.loss.detach().mean()) == pytest.approx(float(_gaussian_nll(x).mean()) + 0.51)


def test_unknown_penalty_mode_is_refused() -> None:
    out, x, _ = _known_kls()
    with pytest.raises(ValueError, match="free_bits_mode must be 'batch'"):
        elbo(out, x, free_bits=0.2, free_bits_mode="batches")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="capacity_mode must be 'batch'"):
        elbo(out, x, capacity_mode="mean")  # type: ignore[arg-type]


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
