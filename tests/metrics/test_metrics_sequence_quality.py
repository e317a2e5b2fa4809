"""Sequence quality and the diversity-quality sweep against the law of branching paths."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from plausible.data.branching import make_branching
from plausible.data.sequences import FutureLaw, LawSampler
from plausible.data.task_data import TaskData
from plausible.metrics.sequence_quality import (
    forecast_diversity_quality_metric,
    sequence_quality_metric,
)
from plausible.metrics.suite import NotApplicableError
from plausible.models.protocols import ConditionalLatentModel
from plausible.reports.evaluation import suite_figures

T_OBS, T_PRED = 4, 8


def _branching(n: int) -> TaskData:
    d = make_branching(n, seed=7, t_obs=T_OBS, t_pred=T_PRED)
    split = {"x": d["x"], "y": d["y"]}
    return TaskData(split, split, split, info={"law": d["law"]})


def _quality(model: nn.Module, data: TaskData, **extra: Any) -> dict[str, Any]:
    settings = {"sequence-quality": {"num_examples": 600, "epochs": 8, **extra}}
    return sequence_quality_metric(model, data, settings)


class _RarestMode(nn.Module):
    """Always the least probable mode's path, with the law's noise."""

    def __init__(self, law: FutureLaw) -> None:
        super().__init__()
        self.law, self.x_shape, self.y_shape = law, (T_OBS, 2), (T_PRED, 2)

    def sample(self, x: Tensor, num_samples: int, *, mean: bool = False) -> Tensor:
        path = self.law.mode_means(x)[torch.arange(len(x)), self.law.mode_probs(x).argmin(-1)]
        noise = 0.0 if mean else self.law.noise * torch.randn(num_samples, *path.shape)
        return path + noise


def test_the_true_law_cannot_be_told_from_the_data() -> None:
    data = _branching(600)
    result = _quality(LawSampler(data.info["law"], (T_OBS, 2), (T_PRED, 2)), data)
    num_test = result["details"]["num_test"]
    assert num_test == 150
    # The null binomial standard error of the accuracy over 2 * 150 held-out sequences.
    assert abs(result["accuracy"]["mean"] - 0.5) < 3 * math.sqrt(0.25 / (2 * num_test))


@pytest.mark.parametrize("wrong", ["noise-free means", "rarest mode"], ids=str)
def test_distinguishable_futures_are_told_apart(wrong: str) -> None:
    data = _branching(600)
    law = data.info["law"]
    if wrong == "noise-free means":
        # The law's own modes, drawn with their probabilities, but without the noise.
        result = _quality(LawSampler(law, (T_OBS, 2), (T_PRED, 2)), data, output="mean")
    else:
        # Total variation 0.9 from the data: a perfect classifier reaches 0.95.
        result = _quality(_RarestMode(law), data)
    assert result["accuracy"]["mean"] > 0.8


class _LinearLatent(nn.Module):
    """p(z|x) = N(0, 1) with one latent; E[y|x,z] = last observed point + z w at every frame."""

    def __init__(self, w: Tensor) -> None:
        super().__init__()
        self.x_shape, self.y_shape = (T_OBS, 2), (T_PRED, 2)
        self.latent_dim, self.has_recognition = 1, False
        self.w = nn.Parameter(w.double(), requires_grad=False)  # (T_PRED, 2)

    def prior(self, x: Tensor) -> Distribution:
        zeros = torch.zeros(len(x), 1, dtype=torch.float64)
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    def recognize(self, x: Tensor, y: Tensor) -> Distribution:
        raise ValueError("no recognition network")

    def generate(self, x: Tensor, z: Tensor) -> Distribution:
        loc = x[:, -1, None].double() + z[..., None] * self.w  # (..., B, T, 2)
        return Independent(Normal(loc, 0.02), 2)

    def sample(self, x: Tensor, num_samples: int, *, mean: bool = False) -> Tensor:
        p_y = self.generate(x, self.prior(x).sample((num_samples,)))
        return p_y.mean if mean else p_y.sample()


def _sweep(model: nn.Module, data: TaskData) -> dict[str, Any]:
    table = {"temperatures": [0.0, 1.0, 2.0], "num_examples": 300, "epochs": 2, "output": "mean"}
    return forecast_diversity_quality_metric(model, data, {"forecast-diversity-quality": table})


def test_the_sweep_matches_the_closed_forms_of_a_linear_latent() -> None:
    data = _branching(300)
    law = data.info["law"]
    w = torch.linspace(-0.1, 0.1, 2 * T_PRED).reshape(T_PRED, 2)
    model = _LinearLatent(w)
    assert isinstance(model, ConditionalLatentModel)
    result = _sweep(model, data)
    rows = {row["temperature"]: row for row in result["details"]["curve"]}
    x, y = data.test["x"].double(), data.test["y"].double()
    # T = 0: every future is the last observed point held still, so the APD is 0, best-of-K
    # equals the expected error equals mean_t ||x_last - y_t||, and no future is on a mode.
    still = (x[:, -1, None] - y).norm(dim=-1).mean(-1).mean()
    assert rows[0.0]["apd"] == 0
    assert rows[0.0]["best_of_k"] == pytest.approx(float(still), rel=1e-9)
    assert rows[0.0]["expected_error"] == pytest.approx(float(still), rel=1e-9)
    assert rows[0.0]["coverage"] == 0
    # T > 0: ||T w (z1 - z2)|| with z1 - z2 ~ N(0, 2) has mean T ||w|| 2 / sqrt(pi).
    for t in (1.0, 2.0):
        exact = t * float(w.norm()) * 2 / math.sqrt(math.pi)
        assert abs(rows[t]["apd"] - exact) < 4 * rows[t]["apd_stderr"]
        assert rows[t]["best_of_k"] <= rows[t]["expected_error"]
    # The law's reference: E||mu_m - mu_m'|| over two modes drawn by their probabilities.
    means = law.mode_means(data.test["x"]).double().flatten(2).numpy()
    probs = law.mode_probs(data.test["x"]).double().numpy()
    exact_true = np.mean(
        [
            sum(
                probs[b, i] * probs[b, j] * np.linalg.norm(means[b, i] - means[b, j])
                for i, j in itertools.product(range(3), repeat=2)
            )
            for b in range(len(means))
        ]
    )
    details = result["details"]
    assert abs(details["apd_true"] - exact_true) < 4 * details["apd_true_stderr"]


def test_the_sweep_needs_a_latent_model() -> None:
    data = _branching(20)
    with pytest.raises(NotApplicableError, match="no latent variable"):
        _sweep(LawSampler(data.info["law"], (T_OBS, 2), (T_PRED, 2)), data)


def test_the_report_draws_the_forecast_curve(tmp_path: Path) -> None:
    rows = [
        {
            "temperature": t,
            "apd": a,
            "quality_accuracy": q,
            "quality_stderr": 0.02,
            "best_of_k": 0.1,
            "expected_error": 0.2,
        }
        for t, a, q in ((0.0, 0.0, 0.9), (1.0, 0.5, 0.55))
    ]
    results = {"forecast-diversity-quality": {"details": {"curve": rows, "apd_true": 0.6}}}
    model, data = nn.Linear(1, 1), _branching(4)
    figures = suite_figures(model, data, results, tmp_path, title="linear")
    path = figures["Forecast diversity against quality"]
    assert Path(path).stat().st_size > 1000


def test_a_sequence_cvae_runs_through_both_metrics() -> None:
    from plausible.models.sequence import SequenceCVAE

    data = _branching(40)
    torch.manual_seed(0)
    model = SequenceCVAE((T_OBS, 2), (T_PRED, 2), latent_dim=2, hidden_size=8).eval()
    quality = _quality(model, data, num_examples=40, epochs=1)
    assert 0 <= quality["accuracy"]["mean"] <= 1
    rows = _sweep(model, data)["details"]["curve"]
    # At T = 0 every latent is the prior mean, and concatenation has no other randomness.
    assert rows[0]["apd"] < 1e-6 < rows[1]["apd"]
