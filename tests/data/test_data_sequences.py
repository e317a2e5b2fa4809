"""Forecasting data: windows cut exactly, and the exact law of the branching future checked
against independent computations (scipy densities, quadrature, importance sampling)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import special, stats
from torch import Tensor

from plausible.data.branching import BranchingLaw, make_branching
from plausible.data.sequences import (
    FutureLaw,
    GaussianModesLaw,
    LawSampler,
    chi_quantile_999,
    sliding_windows,
)

# --- sliding windows -------------------------------------------------------------------------


def test_windows_hold_the_exact_frames() -> None:
    frames = torch.arange(7.0)[:, None] * torch.tensor([1.0, -10.0])  # (7, 2)
    x, y = sliding_windows(frames, t_obs=2, t_pred=3, stride=2)
    # W = (7 - 5) // 2 + 1 = 2 windows, starting at frames 0 and 2.
    assert torch.equal(x[..., 0], torch.tensor([[0.0, 1.0], [2.0, 3.0]]))
    assert torch.equal(y[..., 0], torch.tensor([[2.0, 3.0, 4.0], [4.0, 5.0, 6.0]]))
    assert torch.equal(x[..., 1], -10 * x[..., 0]) and torch.equal(y[..., 1], -10 * y[..., 0])
    x[0, 0, 0] = 99.0  # copies, not views of the recording
    assert frames[0, 0] == 0.0


@pytest.mark.parametrize("stride", [1, 3, 4], ids=str)
def test_windows_cover_every_start(stride: int) -> None:
    frames = torch.randn(23, 3, generator=torch.Generator().manual_seed(stride))
    x, y = sliding_windows(frames, 4, 5, stride)
    assert len(x) == (23 - 9) // stride + 1
    for w in range(len(x)):
        assert torch.equal(x[w], frames[w * stride : w * stride + 4])
        assert torch.equal(y[w], frames[w * stride + 4 : w * stride + 9])


def test_window_longer_than_the_recording() -> None:
    with pytest.raises(ValueError, match=r"needs 10 frames, but the recording has 9"):
        sliding_windows(torch.zeros(9, 2), 4, 6)
    x, _ = sliding_windows(torch.zeros(10, 2), 4, 6)  # exactly long enough: one window
    assert len(x) == 1


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=str)
def test_non_finite_frame_is_named_by_index(bad: float) -> None:
    frames = torch.zeros(12, 3)
    frames[5, 1] = bad
    frames[8, 0] = bad
    with pytest.raises(
        ValueError, match=r"frame 5 holds a NaN or infinite value \(2 such frames\)"
    ):
        sliding_windows(frames, 2, 2)


@pytest.mark.parametrize("shape", [(10,), (2, 10, 3)], ids=str)
def test_frames_must_be_two_dimensional(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=rf"frames must be a \(N, D\) tensor.*{shape}"):
        sliding_windows(torch.zeros(shape), 2, 2)


def test_window_sizes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        sliding_windows(torch.zeros(10, 2), 0, 2)
    with pytest.raises(ValueError, match="must be >= 1"):
        sliding_windows(torch.zeros(10, 2), 2, 2, stride=0)


# --- the law's density -----------------------------------------------------------------------


class _LineLaw(GaussianModesLaw):
    """A 1-value future with three modes at ``x + (-1, 0.5, 2)`` and probabilities set by ``x``."""

    def __init__(self, noise: float) -> None:
        super().__init__((1, 1), noise, ("low", "mid", "high"))

    def mode_probs(self, x: Tensor) -> Tensor:
        w = torch.stack([torch.ones_like(x[:, 0, 0]), 2 + x[:, 0, 0].abs(), 0.5 * x[:, 0, 0] ** 2])
        return (w / w.sum(0)).T.double()

    def mode_means(self, x: Tensor) -> Tensor:
        offsets = torch.tensor([-1.0, 0.5, 2.0], dtype=x.dtype)
        return (x[:, 0, 0, None] + offsets)[:, :, None, None]


def _scipy_log_prob(law: GaussianModesLaw, x: Tensor, y: Tensor) -> np.ndarray:
    """``log sum_m p_m prod_i N(y_i; mu_mi, noise^2)`` with scipy, example by example."""
    probs = law.mode_probs(x).double().numpy()
    means = law.mode_means(x).double().flatten(2).numpy()
    flat = y.double().flatten(1).numpy()
    out = []
    for b in range(len(flat)):
        terms = [
            stats.multivariate_normal(means[b, m], law.noise**2).logpdf(flat[b])
            for m in range(law.num_modes)
        ]
        out.append(special.logsumexp(terms, b=probs[b]))
    return np.array(out)


def test_log_prob_equals_scipy_mixture() -> None:
    d = make_branching(12, seed=3)
    law = d["law"]
    # Futures near their own mode, near another mode and far from all.
    other = law.mode_means(d["x"])[:, 0]
    y = torch.cat([d["y"][:4], other[4:8] + 0.01, d["y"][8:] + 0.3])
    assert np.allclose(law.log_prob(d["x"], y).numpy(), _scipy_log_prob(law, d["x"], y), rtol=1e-10)
    line = _LineLaw(0.3)
    x = torch.tensor([-1.0, 0.0, 2.0])[:, None, None]
    y = torch.tensor([0.3, -1.2, 4.0])[:, None, None]
    assert np.allclose(line.log_prob(x, y).numpy(), _scipy_log_prob(line, x, y), rtol=1e-12)


def test_log_prob_rejects_futures_of_another_shape() -> None:
    d = make_branching(3, seed=0)
    with pytest.raises(ValueError, match=r"futures must be \(B, 20, 2\)"):
        d["law"].log_prob(d["x"], d["y"][:, :5])


def test_density_integrates_to_one_in_one_dimension() -> None:
    law = _LineLaw(0.25)
    grid = torch.linspace(-8, 8, 32001, dtype=torch.float64)
    for x0 in (-0.7, 0.0, 1.3):
        x = torch.full((len(grid), 1, 1), x0, dtype=torch.float64)
        density = law.log_prob(x, grid[:, None, None]).exp()
        assert float(torch.trapezoid(density, grid)) == pytest.approx(1.0, abs=1e-8)


def test_density_has_unit_mass_by_importance_sampling() -> None:
    """``E_q[p(y|x) / q(y)] = 1`` with ``q`` an equal-weight mixture with 5% wider noise."""
    d = make_branching(3, seed=1, t_pred=12)
    law, x = d["law"], d["x"]
    g = torch.Generator().manual_seed(0)
    n, wide = 20000, 1.05 * law.noise
    means = law.mode_means(x).double().flatten(2)  # (B, M, K)
    dim = means.shape[-1]
    pick = torch.randint(law.num_modes, (n, len(x)), generator=g)
    noise = torch.randn(n, len(x), dim, generator=g, dtype=torch.float64)
    y = means[torch.arange(len(x)), pick] + wide * noise  # (n, B, K)
    sq = ((y[:, :, None] - means[None]) ** 2).sum(-1)  # (n, B, M)
    log_norm = dim * math.log(wide * math.sqrt(2 * math.pi)) + math.log(law.num_modes)
    log_q = torch.logsumexp(-0.5 * sq / wide**2 - log_norm, -1)
    log_p = law.log_prob(x.repeat(n, 1, 1), y.reshape(n * len(x), 12, 2)).reshape(n, len(x))
    ratio = (log_p - log_q).exp()  # (n, B)
    mean, se = ratio.mean(0), ratio.std(0) / math.sqrt(n)
    assert (se < 0.02).all(), se
    assert ((mean - 1).abs() < 4 * se).all(), (mean, se)


# --- draws ------------------------------------------------------------------------------------


def test_sample_frequencies_match_mode_probs() -> None:
    law = BranchingLaw(probs=(0.5, 0.35, 0.15))
    d = make_branching(law.num_contexts * 3, seed=2, probs=(0.5, 0.35, 0.15))
    x = d["x"]
    s = 20000
    draws = law.sample(x, s, generator=torch.Generator().manual_seed(5))
    assert draws.shape == (s, len(x), 20, 2)
    modes = law.assign_modes(x, draws)
    freq = torch.stack([(modes == m).double().mean(0) for m in range(law.num_modes)], -1)
    p = law.mode_probs(x)
    se = (p * (1 - p) / s).sqrt()
    assert ((freq - p).abs() < 4 * se + 1e-12).all(), (freq, p)
    # Every context occurs, so the probabilities really move with the history.
    assert set(law.context(x).tolist()) == set(range(law.num_contexts))


@pytest.mark.parametrize("k", [3, 5, 10, 40, 440, 2000], ids=str)
def test_chi_quantile_matches_scipy_and_errs_high(k: int) -> None:
    exact = stats.chi.ppf(0.999, k)
    assert exact <= chi_quantile_999(k) <= exact * (1.01 if k < 10 else 1.003)


def test_draws_lie_within_the_tolerance_at_rate_0999() -> None:
    n = 30000
    d = make_branching(n, seed=4)
    law = d["law"]
    means = law.mode_means(d["x"])[torch.arange(n), d["mode"]]
    outside = int(((d["y"] - means).flatten(1).double().norm(dim=-1) > law.tolerance).sum())
    expected, se = n * 0.001, math.sqrt(n * 0.001 * 0.999)
    assert abs(outside - expected) < 4 * se, outside


def test_assign_modes_recovers_the_drawn_mode() -> None:
    d = make_branching(5000, seed=6)
    assigned = d["law"].assign_modes(d["x"], d["y"][None])[0]
    assert (assigned == d["mode"]).double().mean() > 0.999
    # Noise-free mode paths are assigned to themselves.
    means = d["law"].mode_means(d["x"][:50])  # (B, M, T, D)
    own = d["law"].assign_modes(d["x"][:50], means.permute(1, 0, 2, 3))
    assert torch.equal(own, torch.arange(3)[:, None].expand(3, 50))


def test_context_is_recovered_exactly() -> None:
    for num_contexts in (2, 4, 7):
        d = make_branching(2000, seed=num_contexts, num_contexts=num_contexts)
        assert torch.equal(d["law"].context(d["x"]), d["context"])
        expected = d["law"].context_probs()[d["context"]]
        assert torch.equal(d["law"].mode_probs(d["x"]), expected)


def test_make_branching_is_reproducible_from_its_seed() -> None:
    a, b, c = make_branching(50, seed=8), make_branching(50, seed=8), make_branching(50, seed=9)
    for key in ("x", "y", "mode", "context"):
        assert torch.equal(a[key], b[key])
    assert not torch.equal(a["y"], c["y"])


def test_mode_frequencies_of_the_data_follow_the_law() -> None:
    n = 20000
    d = make_branching(n, seed=10)
    p = d["law"].mode_probs(d["x"])  # (N, M)
    counts = torch.stack([(d["mode"] == m).double().sum() for m in range(3)])
    expected, var = p.sum(0), (p * (1 - p)).sum(0)
    assert ((counts - expected).abs() < 4 * var.sqrt()).all(), (counts, expected)


# --- the ground-truth sampler -----------------------------------------------------------------


def test_law_sampler_means_are_mode_means() -> None:
    d = make_branching(8, seed=11)
    law = d["law"]
    assert isinstance(law, FutureLaw)
    sampler = LawSampler(law, (10, 2), (20, 2))
    torch.manual_seed(0)
    paths = sampler.sample(d["x"], 400, mean=True)
    means = law.mode_means(d["x"])
    # Each path is exactly one of its history's mode means, and only possible ones are drawn.
    equal = (paths[:, :, None] == means[None]).flatten(3).all(-1)  # (S, B, M)
    assert (equal.sum(-1) == 1).all()
    drawn = equal.double().mean(0)
    assert (drawn[law.mode_probs(d["x"]) == 0] == 0).all()
    assert ((drawn - law.mode_probs(d["x"])).abs() < 0.1).all()


def test_law_sampler_draws_are_seeded_and_checked() -> None:
    d = make_branching(4, seed=12)
    sampler = LawSampler(d["law"], (10, 2), (20, 2))
    torch.manual_seed(1)
    a = sampler.sample(d["x"], 5)
    torch.manual_seed(1)
    assert torch.equal(a, sampler.sample(d["x"], 5))
    assert not any(True for _ in sampler.parameters())
    with pytest.raises(ValueError, match=r"expects histories \(B, 10, 2\), got \(4, 9, 2\)"):
        sampler.sample(d["x"][:, 1:], 5)
