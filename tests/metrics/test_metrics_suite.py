"""The --metrics dispatcher: registration, settings, skipping, known values and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal

import plausible.metrics.suite as suite
from plausible.metrics.diversity import crps_ensemble, draw_samples
from plausible.metrics.hypotheses import best_of_k_error, energy_score, expected_error
from plausible.models import VAE
from plausible.registry import METRICS
from plausible.tasks.base import TaskData

ALL = [
    "nll",
    "apd",
    "best-of-k",
    "crps",
    "quality",
    "fd",
    "collapse",
    "disentanglement",
    "diversity-quality",
]


def test_every_suite_metric_is_registered() -> None:
    assert set(ALL) <= set(suite.suite_metric_names())
    assert all(isinstance(METRICS.get(name), suite.SuiteMetric) for name in ALL)
    assert suite.parse_metric_names("all") == suite.suite_metric_names()
    assert suite.parse_metric_names(" nll, apd ,nll") == ["nll", "apd"]


def test_unknown_names_list_the_valid_ones() -> None:
    with pytest.raises(
        ValueError, match=r"unknown metric.*'fid'.*suite metrics: .*disentanglement"
    ):
        suite.parse_metric_names("nll,fid")


def _images(n: int, seed: int) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(4, (n,), generator=gen)
    x = (torch.rand(n, 1, 8, 8, generator=gen) < 0.1).float()
    x[torch.arange(n), 0, 2 * labels] = 1.0
    return {"x": x, "label": labels}


@pytest.fixture(scope="module")
def image_task() -> tuple[VAE, TaskData]:
    torch.manual_seed(0)
    model = VAE((1, 8, 8), latent_dim=3, architecture="conv", conv_channels=(4, 8))
    data = TaskData(
        train=_images(200, 0), val=_images(50, 1), test=_images(120, 2), info={"x_shape": (1, 8, 8)}
    )
    return model.eval(), data


SMALL = {
    "seed": 1,
    "nll": {"num_samples": 8},
    "apd": {"num_samples": 4, "num_examples": 20},
    "quality": {"num_examples": 100, "epochs": 2},
    "fd": {
        "num_examples": 60,
        "classifier_examples": 200,
        "classifier_epochs": 1,
        "feature_dim": 8,
        "channels": [4],
        "cache": False,
    },
    "collapse": {"num_examples": 100},
    "diversity-quality": {
        "temperatures": [0.5, 1.0],
        "num_samples": 3,
        "num_examples": 40,
        "epochs": 1,
    },
}


@pytest.fixture(scope="module")
def image_results(image_task: tuple[VAE, TaskData]) -> dict[str, dict]:
    model, data = image_task
    return suite.run_metrics(ALL, model, data, SMALL)


def test_unconditional_results_and_skips(image_results: dict[str, dict]) -> None:
    r = image_results
    for name in ("best-of-k", "crps"):
        assert "no targets y" in r[name]["skipped"]
    assert "known factors" in r["disentanglement"]["skipped"]
    # The importance-sampled NLL is a tighter bound than the single-sample negative ELBO.
    assert r["nll"]["nll"]["num_samples"] == 8
    assert r["nll"]["nll"]["mean"] <= r["nll"]["negative_elbo"]["mean"] + 1.0
    assert r["apd"]["apd"]["mean"] > 0 and r["apd"]["settings"]["seed"] == 1
    assert 0.0 <= r["quality"]["accuracy"]["mean"] <= 1.0
    assert r["fd"]["frechet_distance"] >= 0 and 0 <= r["fd"]["precision"] <= 1
    assert "NOT comparable to Inception FID" in r["fd"]["details"]["feature_space"]
    assert r["collapse"]["latent_dim"] == 3
    assert (
        0 <= r["collapse"]["mutual_information"] <= r["collapse"]["mutual_information_upper_bound"]
    )
    curve = r["diversity-quality"]["details"]["curve"]
    assert [row["temperature"] for row in curve] == [0.5, 1.0] and curve[0]["apd"] < curve[1]["apd"]
    assert all(r[name]["time_s"] >= 0 for name in ALL if "skipped" not in r[name])


def test_results_are_json(image_results: dict[str, dict]) -> None:
    assert json.loads(json.dumps(image_results)) == image_results


def test_headline_keeps_top_level_numbers_and_estimates(image_results: dict[str, dict]) -> None:
    values = suite.headline(image_results)
    assert {
        "nll.nll",
        "nll.negative_elbo",
        "apd.apd",
        "quality.accuracy",
        "fd.frechet_distance",
        "fd.precision",
        "fd.recall",
        "collapse.mutual_information",
    } <= set(values)
    assert not any(k.endswith((".settings", ".details", ".time_s")) for k in values)


def test_unknown_settings_are_refused(image_task: tuple[VAE, TaskData]) -> None:
    model, data = image_task
    with pytest.raises(
        ValueError, match=r"unknown evaluation.apd setting\(s\) \['samples'\]; valid"
    ):
        suite.run_metrics(["apd"], model, data, {"apd": {"samples": 3}})


class LinearConditionalModel(nn.Module):
    """p(z|x) = N(x, I), p(y|x, z) = N(z, 0.1^2)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def prior(self, x: Tensor) -> Independent:
        return Independent(Normal(self.w * x, torch.ones_like(x)), 1)

    def generate(self, x: Tensor, z: Tensor) -> Independent:
        return Independent(Normal(z, 0.1 * torch.ones_like(z)), 1)


def test_conditional_scores_equal_the_direct_computation() -> None:
    x = torch.randn(30, 2)
    y = x + torch.randn(30, 2)
    data = TaskData(train={"x": x, "y": y}, val={"x": x, "y": y}, test={"x": x, "y": y})
    model = LinearConditionalModel()
    settings = {"best-of-k": {"num_samples": 7}, "crps": {"num_samples": 7, "output": "mean"}}
    r = suite.run_metrics(["best-of-k", "crps", "collapse", "nll"], model, data, settings)
    samples = draw_samples(model, x=x, num_samples=7, output="mean", seed=0).double()
    assert r["best-of-k"]["best_of_k"]["mean"] == pytest.approx(
        float(best_of_k_error(samples, y.double()).mean())
    )
    assert r["best-of-k"]["expected_error"]["mean"] == pytest.approx(
        float(expected_error(samples, y.double()).mean())
    )
    assert r["crps"]["crps"]["mean"] == pytest.approx(
        float(crps_ensemble(samples, y.double(), fair=True).mean())
    )
    assert r["crps"]["energy_score"]["mean"] == pytest.approx(
        float(energy_score(samples, y.double()).mean())
    )
    assert "unconditional" in r["collapse"]["skipped"]
    assert "forward(x) -> p(y|x)" in r["nll"]["skipped"]


class Factors:
    """Known factors whose observations are the standardised factor classes."""

    factor_sizes = (2, 3, 4, 5)
    factor_names = ("a", "b", "c", "d")

    def sample_factors(self, num: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.stack(
            [torch.randint(s, (num,), generator=generator) for s in self.factor_sizes], 1
        )

    def observations(self, factors: Tensor) -> Tensor:
        sizes = torch.tensor(self.factor_sizes, dtype=torch.float32)
        return (factors.float() - (sizes - 1) / 2) / torch.sqrt((sizes**2 - 1) / 12)


class IdentityEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def encode(self, x: Tensor) -> Independent:
        return Independent(Normal(self.w * x, 0.1 * torch.ones_like(x)), 1)


def test_disentanglement_of_an_identity_encoder_is_near_perfect() -> None:
    truth = Factors()
    obs = truth.observations(truth.sample_factors(50))
    data = TaskData(train={"x": obs}, val={"x": obs}, test={"x": obs}, info={"ground_truth": truth})
    counts = {
        "beta_vae_num_train": 200,
        "beta_vae_num_eval": 100,
        "beta_vae_batch_size": 16,
        "factor_vae_num_train": 200,
        "factor_vae_num_eval": 100,
        "factor_vae_batch_size": 16,
        "factor_vae_num_variance_estimate": 1000,
        "mig_num_points": 3000,
        "dci_num_train": 300,
        "dci_num_test": 100,
    }
    r = suite.run_metrics(["disentanglement"], IdentityEncoder(), data, {"disentanglement": counts})
    result = r["disentanglement"]
    for key in ("beta_vae", "factor_vae", "mig", "dci_disentanglement", "dci_completeness"):
        assert result[key] >= 0.95, key
    assert (
        result["settings"]["mig_num_bins"] == 20 and result["settings"]["beta_vae_num_train"] == 200
    )
    assert result["details"]["factor_names"] == ["a", "b", "c", "d"]


def test_evaluation_file_merges_metric_by_metric(tmp_path: Path) -> None:
    suite.write_evaluation(tmp_path, {"nll": {"nll": 1.0}, "apd": {"apd": 2.0}})
    suite.write_evaluation(tmp_path, {"apd": {"apd": 3.0}})
    assert json.loads((tmp_path / "evaluation.json").read_text()) == {
        "nll": {"nll": 1.0},
        "apd": {"apd": 3.0},
    }


def test_report_section_is_replaced_not_repeated(
    tmp_path: Path, image_results: dict[str, dict], image_task: tuple[VAE, TaskData]
) -> None:
    model, data = image_task
    (tmp_path / "report.md").write_text("# Run report\n\n## Summary\n\nkept\n")
    figs = suite.suite_figures(model, data, image_results, tmp_path / "figures", title="tiny")
    assert set(figs) == {"KL per latent dimension", "Diversity against quality"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in figs.values())
    for _ in range(2):
        suite.update_report(tmp_path, suite.report_section(image_results, figs, tmp_path))
    text = (tmp_path / "report.md").read_text()
    assert text.startswith("# Run report\n\n## Summary\n\nkept\n")
    assert text.count("## Evaluation suite") == 1
    assert "not comparable to Inception FID" in text
    assert "](figures/suite_kl_per_dimension.png)" in text
    assert "| nll.nll |" in text and "- **best-of-k**: skipped:" in text


def test_disentanglement_figures_label_rows_by_factor(
    tmp_path: Path, image_task: tuple[VAE, TaskData]
) -> None:
    model, data = image_task
    mig = {"mutual_information": [[0.9, 0.0], [0.1, 0.3], [0.0, 0.0]], "factor_entropy": [1.0, 0.5]}
    results = {"disentanglement": {"details": {"mig": mig, "factor_names": ["shape", "size"]}}}
    figs = suite.suite_figures(model, data, results, tmp_path)
    assert set(figs) == {
        "Mutual information between latents and factors",
        "Latent traversals labelled by factor",
    }
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in figs.values())


def test_marked_sections_survive_a_rewritten_report(tmp_path: Path) -> None:
    suite.update_report(tmp_path, "## Evaluation suite\n\nsuite table")
    suite.update_report(tmp_path, "## Comparison with other runs\n\ntable", marker="comparison")
    old = (tmp_path / "report.md").read_text()
    (tmp_path / "report.md").write_text("# Run report\n\n## Summary\n\nnew numbers\n")
    suite.reattach_sections(tmp_path, old)
    text = (tmp_path / "report.md").read_text()
    assert text.startswith("# Run report\n\n## Summary\n\nnew numbers\n")
    assert text.count("suite table") == 1 and text.count("## Comparison with other runs") == 1
    suite.reattach_sections(tmp_path, text)  # idempotent
    assert (tmp_path / "report.md").read_text() == text
