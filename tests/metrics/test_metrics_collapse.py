"""Collapse diagnostics on linear-Gaussian encoders, where I(x; z) has a closed form."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from plausible.metrics.collapse import CollapseMonitor, collapse_diagnostics, mutual_information
from plausible.training import MetricsLog


class LinearGaussianEncoder(nn.Module):
    """q(z|x) = N(a * x, s^2) per dimension, prior N(0, I); with x ~ N(0, I) the aggregate posterior
    is N(0, a^2 + s^2), so I(x; z_d) = 1/2 log(1 + a_d^2 / s^2)."""

    def __init__(self, a: list[float], s: float) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a, dtype=torch.float64))
        self.s = s
        self.latent_dim, self.x_shape = len(a), (len(a),)

    def decode(self, z: Tensor) -> Independent:
        return Independent(Normal(z, torch.ones_like(z)), 1)

    def sample(self, num_samples: int, *, mean: bool = True) -> Tensor:
        return self.decode(self.prior().sample((num_samples,))).mean

    def encode(self, x: Tensor) -> Independent:
        return Independent(Normal(self.a * x.double(), torch.full_like(x.double(), self.s)), 1)

    def prior(self) -> Independent:
        zeros = torch.zeros(len(self.a), dtype=torch.float64)
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)


def _data(n: int = 2000, d: int = 2) -> Tensor:
    # A generator other than the metric's own (seed 0), so data and noise are independent.
    return torch.randn(n, d, generator=torch.Generator().manual_seed(123), dtype=torch.float64)


@pytest.mark.parametrize("a", [[1.0, 1.0], [3.0, 0.2], [0.5, 2.0]], ids=str)
def test_mutual_information_matches_the_closed_form(a: list[float]) -> None:
    s = 0.5
    result = mutual_information(LinearGaussianEncoder(a, s), _data())
    truth = [0.5 * math.log(1 + ai**2 / s**2) for ai in a]
    assert result["per_dimension"] == pytest.approx(truth, abs=0.03)
    assert result["total"] == pytest.approx(sum(truth), abs=0.05)


def test_collapsed_encoder_carries_no_information() -> None:
    result = mutual_information(LinearGaussianEncoder([0.0, 0.0], 1.0), _data())
    assert abs(result["total"]) < 1e-9 and max(map(abs, result["per_dimension"])) < 1e-9


def test_mutual_information_saturates_at_log_n() -> None:
    # Nearly deterministic codes of distinct points: every x is identifiable from z.
    x = _data(500, 1)
    result = mutual_information(LinearGaussianEncoder([1.0], 1e-4), x)
    assert result["upper_bound"] == pytest.approx(math.log(500))
    assert result["total"] == pytest.approx(math.log(500), abs=0.05)


def test_more_draws_per_example_give_the_same_answer() -> None:
    model, x = LinearGaussianEncoder([1.0, 0.0], 0.5), _data(1000)
    one = mutual_information(model, x, num_samples=1)["total"]
    four = mutual_information(model, x, num_samples=4, chunk=500)["total"]
    assert four == pytest.approx(one, abs=0.05)


def test_diagnostics_split_kl_into_information_and_prior_mismatch() -> None:
    # KL(q(z|x) || p(z)) averaged over x = I(x; z) + KL(q(z) || p(z)) >= I(x; z).
    model = LinearGaussianEncoder([1.0, 0.0], 0.5)
    stats = collapse_diagnostics(model, _data().float())
    assert stats["active_units"] == 1 and stats["latent_dim"] == 2
    assert stats["kl_per_dimension"][1] == pytest.approx(
        0.5 * (0.25 - 1 - math.log(0.25)), abs=1e-4
    )
    assert stats["kl"] >= stats["mutual_information"]
    # Dimension 0: q(z) = N(0, 1.25), so KL - I = KL(N(0, 1.25) || N(0, 1)) = 0.0134 nats.
    gap = stats["kl_per_dimension"][0] - stats["mutual_information_per_dimension"][0]
    assert gap == pytest.approx(0.5 * (1.25 - 1 - math.log(1.25)), abs=0.03)


def test_non_gaussian_posteriors_are_refused() -> None:
    class Laplacian(LinearGaussianEncoder):
        def encode(self, x: Tensor) -> Any:
            return Independent(torch.distributions.Laplace(x, torch.ones_like(x)), 1)

    with pytest.raises(TypeError, match="factorised Gaussian"):
        mutual_information(Laplacian([1.0, 1.0], 1.0), torch.randn(10, 2))


def test_monitor_logs_one_collapse_row_per_epoch(tmp_path: Any) -> None:
    model = LinearGaussianEncoder([1.0, 0.0], 0.5)
    log = MetricsLog(tmp_path / "metrics.jsonl")
    trainer = SimpleNamespace(model=model, log=log, epoch=0, step=0)
    monitor = CollapseMonitor(_data(300).float(), every=2)
    for epoch in (1, 2, 3, 4):
        trainer.epoch, trainer.step = epoch, 10 * epoch
        monitor.on_epoch_end(trainer)
    rows = [r for r in log.records if r["split"] == "collapse"]
    assert [r["epoch"] for r in rows] == [2, 4]
    assert rows[0]["active_units"] == 1 and len(rows[0]["kl_per_dimension"]) == 2
    assert rows[0]["mutual_information"] == pytest.approx(0.5 * math.log(5), abs=0.1)
