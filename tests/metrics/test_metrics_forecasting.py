"""Forecasting metrics against direct loops, exact enumerations and the law of branching paths."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch import Tensor, nn

from plausible.data.branching import make_branching
from plausible.data.sequences import FutureLaw, LawSampler
from plausible.data.task_data import TaskData
from plausible.metrics.diversity import average_pairwise_distance
from plausible.metrics.forecasting import (
    ade_fde,
    forecast_metric,
    multimodal_errors,
    multimodal_groups,
)
from plausible.metrics.mode_coverage import expected_coverage, expected_coverage_values

NOISE = 0.02


# -- distances against DLow's loops ----------------------------------------------------------------
def test_ade_fde_equal_a_direct_loop() -> None:
    rng = np.random.default_rng(0)
    samples, target = rng.normal(size=(7, 5, 6, 3)), rng.normal(size=(5, 6, 3))
    ade, fde = ade_fde(torch.from_numpy(samples), torch.from_numpy(target))
    for b in range(5):
        per_sample = [
            np.mean([np.sqrt(np.sum((samples[k, b, t] - target[b, t]) ** 2)) for t in range(6)])
            for k in range(7)
        ]
        final = [np.sqrt(np.sum((samples[k, b, -1] - target[b, -1]) ** 2)) for k in range(7)]
        assert float(ade[b]) == pytest.approx(min(per_sample), rel=1e-12)
        assert float(fde[b]) == pytest.approx(min(final), rel=1e-12)


def test_apd_equals_the_mean_over_unordered_pairs() -> None:
    rng = np.random.default_rng(1)
    samples = rng.normal(size=(6, 4, 5, 2))
    apd = average_pairwise_distance(torch.from_numpy(samples))
    for b in range(4):
        pairs = [
            np.linalg.norm(samples[i, b].ravel() - samples[j, b].ravel())
            for i, j in itertools.combinations(range(6), 2)
        ]
        assert float(apd[b]) == pytest.approx(np.mean(pairs), rel=1e-9)


def test_multimodal_groups_and_errors_equal_a_direct_loop() -> None:
    rng = np.random.default_rng(2)
    n, k, t, d, threshold = 9, 5, 4, 2, 0.8
    last = rng.normal(scale=0.6, size=(n, 3))
    futures, samples = rng.normal(size=(n, t, d)), rng.normal(size=(k, n, t, d))
    groups = multimodal_groups(torch.from_numpy(last), threshold)
    mmade, mmfde = multimodal_errors(torch.from_numpy(samples), torch.from_numpy(futures), groups)
    for i in range(n):
        members = [j for j in range(n) if np.linalg.norm(last[j] - last[i]) < threshold or j == i]
        assert groups[i].nonzero().flatten().tolist() == members
        ades, fdes = [], []
        for j in members:
            err = [
                [np.linalg.norm(samples[s, i, u] - futures[j, u]) for u in range(t)]
                for s in range(k)
            ]
            ades.append(min(np.mean(e) for e in err))
            fdes.append(min(e[-1] for e in err))
        assert float(mmade[i]) == pytest.approx(np.mean(ades), rel=1e-12)
        assert float(mmfde[i]) == pytest.approx(np.mean(fdes), rel=1e-12)
    assert 1 < groups.sum(-1).max() < n  # the threshold both joins and separates cases


@pytest.mark.parametrize("k", [1, 3, 5], ids=str)
def test_expected_coverage_equals_enumeration(k: int) -> None:
    probs = torch.tensor([[0.5, 0.3, 0.2, 0.0], [0.7, 0.0, 0.0, 0.3]], dtype=torch.float64)
    for row in range(2):
        p = probs[row].tolist()
        possible = sum(v > 0 for v in p)
        exact = 0.0
        for outcome in itertools.product(range(4), repeat=k):
            weight = math.prod(p[m] for m in outcome)
            exact += weight * len(set(outcome)) / possible
        assert float(expected_coverage_values(probs, k)[row]) == pytest.approx(exact, rel=1e-12)
    assert expected_coverage(probs, k) == pytest.approx(
        float(expected_coverage_values(probs, k).mean()), rel=1e-12
    )


# -- the law of branching paths --------------------------------------------------------------------
def _branching(n: int, **law: Any) -> TaskData:
    d = make_branching(n, seed=5, t_obs=4, t_pred=8, noise=NOISE, **law)
    split = {"x": d["x"], "y": d["y"]}
    return TaskData(train=split, val=split, test=split, info={"law": d["law"]})


def _score(model: nn.Module, data: TaskData, k: int, **extra: Any) -> dict[str, Any]:
    settings = {"forecast": {"num_samples": k, "num_examples": 0, "seed": 3, **extra}}
    return forecast_metric(model, data, settings)


def _chi_mean(n: int) -> float:
    return math.sqrt(2) * math.exp(math.lgamma((n + 1) / 2) - math.lgamma(n / 2))


def _noncentral_chi_mean(n: int, lam: np.ndarray) -> np.ndarray:
    """E[sqrt(W)] for W ~ noncentral chi-square(n, lam), by Simpson's rule over its bulk."""
    lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
    centre, spread = n + lam, np.sqrt(2 * (n + 2 * lam))
    low, high = np.maximum(0.0, centre - 12 * spread), centre + 12 * spread
    w = low[:, None] + (high - low)[:, None] * np.linspace(0, 1, 601)[None]
    return integrate.simpson(np.sqrt(w) * stats.ncx2.pdf(w, n, lam[:, None]), x=w, axis=-1)


def _exact_apd(law: FutureLaw, x: Tensor, noise: float) -> np.ndarray:
    """E||y1 - y2|| for two independent draws of the mixture after each history."""
    means = law.mode_means(x).double().flatten(2).numpy()  # (B, M, n)
    probs = law.mode_probs(x).double().numpy()
    n, s = means.shape[-1], noise * math.sqrt(2)  # y1 - y2 = mu_m - mu_m' + N(0, s^2 I)
    dist = np.linalg.norm(means[:, :, None] - means[:, None], axis=-1)  # (B, M, M)
    lam = (dist / s) ** 2
    mean = np.where(dist == 0, _chi_mean(n), 0.0)
    apart = np.triu(np.ones(dist.shape[1:], dtype=bool), 1) & (dist > 0)  # each pair once
    mean[apart] = _noncentral_chi_mean(n, lam[apart])
    mean = np.where(dist > 0, mean + mean.transpose(0, 2, 1), mean)
    return s * np.einsum("bm,bk,bmk->b", probs, probs, mean)


def test_the_noncentral_chi_mean_matches_its_closed_form() -> None:
    # E[chi'] = sqrt(pi/2) L_{1/2}^{(n/2 - 1)}(-lam/2), with the Laguerre function written
    # through Kummer's function: binom(n/2 - 1/2, 1/2) 1F1(-1/2; n/2; -lam/2).
    from scipy import special

    for n, lam in ((16, 0.0), (16, 40.0), (16, 900.0)):
        binom = math.gamma((n + 1) / 2) / (math.gamma(1.5) * math.gamma(n / 2))
        closed = math.sqrt(math.pi / 2) * binom * special.hyp1f1(-0.5, n / 2, -lam / 2)
        assert float(_noncentral_chi_mean(n, lam)[0]) == pytest.approx(closed, rel=1e-7)
    assert float(_noncentral_chi_mean(16, 0.0)[0]) == pytest.approx(_chi_mean(16), rel=1e-7)


def test_the_law_sampler_scores_the_law_exactly() -> None:
    data = _branching(200)
    law = data.info["law"]
    result = _score(LawSampler(law, (4, 2), (8, 2)), data, 12)
    cover, cover_true = result["coverage"], result["coverage_true"]
    # Each draw is on its mode with probability 0.999: coverage is the exact expected one, up to
    # the draws' sampling error (and a shortfall of about 1e-3 per reached mode).
    assert cover_true["stderr"] == 0 or cover_true["stderr"] < 1e-12
    assert abs(cover["mean"] - cover_true["mean"]) < 4 * cover["stderr"] + 2e-3
    assert cover_true["mean"] == pytest.approx(
        expected_coverage(law.mode_probs(data.test["x"]), 12), rel=1e-12
    )
    assert abs(result["apd_ratio"]["mean"] - 1) < 4 * result["apd_ratio"]["stderr"]
    assert result["on_mode_rate"]["mean"] == pytest.approx(0.999, abs=0.002)
    exact = _exact_apd(law, data.test["x"], NOISE).mean()
    for key in ("apd", "apd_true"):
        assert abs(result[key]["mean"] - exact) < 4 * result[key]["stderr"], key
    # The total variation of 12 exact draws is not zero: the sampler's equals the law's own.
    tv, tv_law = result["mode_tv"]["mean"], result["details"]["law_draws"]["mode_tv"]["mean"]
    assert abs(tv - tv_law) < 4 * math.hypot(
        result["mode_tv"]["stderr"], result["details"]["law_draws"]["mode_tv"]["stderr"]
    )


class _Collapsed(nn.Module):
    """Always the most probable mode's noise-free path."""

    def __init__(self, law: FutureLaw) -> None:
        super().__init__()
        self.law, self.x_shape, self.y_shape = law, (4, 2), (8, 2)

    def sample(self, x: Tensor, num_samples: int, *, mean: bool = False) -> Tensor:
        best = self.law.mode_probs(x).argmax(-1)
        path = self.law.mode_means(x)[torch.arange(len(x)), best]
        return path.expand(num_samples, *path.shape).clone()


class _OverDispersed(nn.Module):
    """Draws of the law with five times its noise."""

    def __init__(self, law: FutureLaw) -> None:
        super().__init__()
        self.law, self.x_shape, self.y_shape = law, (4, 2), (8, 2)

    def sample(self, x: Tensor, num_samples: int, *, mean: bool = False) -> Tensor:
        draws = self.law.sample(x, num_samples)
        picked = self.law.assign_modes(x, draws)  # the draws' own modes (noise << mode gaps)
        centre = self.law.mode_means(x)[torch.arange(len(x)), picked]
        return centre + 5 * (draws - centre)


def test_a_collapsed_sampler_covers_one_mode_of_those_possible() -> None:
    # Probabilities (0.7, 0.3, 0) rolled by context: two possible modes after every history.
    data = _branching(120, probs=(0.7, 0.3, 0.0))
    result = _score(_Collapsed(data.info["law"]), data, 10)
    assert result["coverage"]["mean"] == pytest.approx(0.5, abs=1e-12)
    assert result["apd"]["mean"] == 0
    assert result["apd_ratio"]["mean"] == 0
    assert result["on_mode_rate"]["mean"] == 1
    # TV = (|1 - 0.7| + |0 - 0.3| + 0) / 2.
    assert result["mode_tv"]["mean"] == pytest.approx(0.3, abs=1e-12)
    assert result["coverage_true"]["mean"] == pytest.approx(1 - (0.7**10 + 0.3**10) / 2, rel=1e-12)


def test_an_over_dispersed_sampler_covers_nothing_yet_looks_diverse() -> None:
    data = _branching(120)
    law = data.info["law"]
    result = _score(_OverDispersed(law), data, 10)
    # 5 sigma chi_16 is about 0.4, far beyond the tolerance (sigma * 6.2, about 0.12): no
    # future is on a mode, although each one's nearest mode is the one it was drawn from.
    assert law.tolerance == pytest.approx(NOISE * 6.2, rel=0.02)
    assert result["coverage"]["mean"] < 0.01 < 0.8 < result["coverage_true"]["mean"]
    assert result["on_mode_rate"]["mean"] < 0.01
    assert result["mode_tv"]["mean"] > 0.99  # every future's mass sits on no mode
    assert result["apd_ratio"]["mean"] > 1.2


def test_mean_output_of_the_law_is_on_its_modes() -> None:
    data = _branching(80)
    result = _score(LawSampler(data.info["law"], (4, 2), (8, 2)), data, 8, output="mean")
    assert result["on_mode_rate"]["mean"] == 1
    assert result["details"]["law_draws"]["on_mode_rate"]["mean"] == 1
    assert abs(result["apd_ratio"]["mean"] - 1) < 4 * result["apd_ratio"]["stderr"]
