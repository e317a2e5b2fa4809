"""The suite: registration, settings, skipping, values equal to direct computations, the report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torch.distributions import Bernoulli, Independent, Normal

import plausible.metrics.suite as suite
from plausible.metrics import collapse_diagnostics, importance_sampled_nll, negative_elbo
from plausible.metrics.diversity import average_pairwise_distance, crps_ensemble, draw_samples
from plausible.metrics.hypotheses import best_of_k_error, energy_score, expected_error
from plausible.models import VAE
from plausible.registry import METRICS
from plausible.reports.evaluation import (
    reattach_sections,
    report_section,
    suite_figures,
    summary_section,
    update_report,
    write_evaluation,
)
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


def test_unconditional_results_and_skips(
    image_results: dict[str, dict], image_task: tuple[VAE, TaskData]
) -> None:
    r = image_results
    model, data = image_task
    x = data.test["x"]
    for name in ("best-of-k", "crps"):
        assert "no targets y" in r[name]["skipped"]
    assert "known factors" in r["disentanglement"]["skipped"]
    # Each value is what the metric's own function gives with the same settings and seed.
    nll = importance_sampled_nll(model, x, num_samples=8, seed=1)
    assert r["nll"]["nll"] == nll.to_dict()
    assert r["nll"]["negative_elbo"] == negative_elbo(model, x, seed=1)["negative_elbo"].to_dict()
    assert r["nll"]["bits_per_dim"] == pytest.approx(nll.mean / (64 * math.log(2)), rel=1e-12)
    samples = draw_samples(model, num_samples=4, num_groups=20, output="mean", seed=1)
    assert r["apd"]["apd"]["mean"] == pytest.approx(
        float(average_pairwise_distance(samples).double().mean()), rel=1e-9
    )
    stats = collapse_diagnostics(model, x[:100], seed=1)
    assert r["collapse"]["mutual_information"] == pytest.approx(stats["mutual_information"])
    assert r["collapse"]["latent_dim"] == 3 and r["apd"]["settings"]["seed"] == 1
    assert "NOT comparable to Inception FID" in r["fd"]["details"]["feature_space"]
    # The images are binary, so generated images are drawn from p(x|z), like with like.
    assert r["quality"]["settings"]["output"] == "sample"
    assert r["fd"]["settings"]["output"] == "sample"
    curve = r["diversity-quality"]["details"]["curve"]
    assert [row["temperature"] for row in curve] == [0.5, 1.0]
    # APD is measured on decoder means of latents scaled by T about the prior mean.
    assert curve[0]["apd"] < curve[1]["apd"]
    assert all(r[name]["time_s"] >= 0 for name in ALL if "skipped" not in r[name])


class PerfectBernoulliModel(nn.Module):
    """A latent model whose p(x|z) is the data's own law: 64 independent Bernoulli(0.3) pixels."""

    def __init__(self) -> None:
        super().__init__()
        self.logit = nn.Parameter(torch.full((64,), math.log(0.3 / 0.7)))
        self.latent_dim, self.x_shape = 1, (64,)

    def prior(self) -> Independent:
        return Independent(Normal(torch.zeros(1), torch.ones(1)), 1)

    def encode(self, x: Tensor) -> Independent:
        return Independent(Normal(torch.zeros(len(x), 1), torch.ones(len(x), 1)), 1)

    def decode(self, z: Tensor) -> Independent:
        return Independent(Bernoulli(logits=self.logit.expand(*z.shape[:-1], 64)), 1)

    def sample(self, num_samples: int, *, mean: bool = True) -> Tensor:
        p_x = self.decode(torch.zeros(num_samples, 1))
        return p_x.mean if mean else p_x.sample()


def test_a_perfect_model_is_indistinguishable_from_binary_data() -> None:
    x = torch.bernoulli(torch.full((2000, 64), 0.3), generator=torch.Generator().manual_seed(0))
    data = TaskData(train={"x": x}, val={"x": x}, test={"x": x})
    model = PerfectBernoulliModel()
    settings = {"quality": {"epochs": 5}}
    result = suite.run_metrics(["quality"], model, data, settings)["quality"]
    # Held-out accuracy of 1000 examples per class: chance is 0.5 +- 0.011.
    assert abs(result["accuracy"]["mean"] - 0.5) < 0.05, result
    assert (
        result["settings"]["output"] == "sample" and "binary" in result["settings"]["output_choice"]
    )
    # Decoder means (all 0.3) are told apart at once: why the default compares samples.
    means = suite.run_metrics(
        ["quality"], model, data, {"quality": {"epochs": 5, "output": "mean"}}
    )
    assert means["quality"]["accuracy"]["mean"] > 0.95


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
    with pytest.raises(ValueError, match=r"unknown \[evaluation\] setting\(s\) \['num_sample'\]"):
        suite.run_metrics(["nll"], model, data, {"num_sample": 3})
    with pytest.raises(ValueError, match=r"unknown evaluation.nll setting\(s\) \['k'\]"):
        suite.run_metrics(["nll"], model, data, {"nll": {"k": 3}})


def test_the_summary_section_keeps_the_names_readers_use(image_results: dict[str, dict]) -> None:
    test = summary_section(image_results)
    assert test["test_nll"] == image_results["nll"]["nll"]
    assert test["test_negative_elbo"] == image_results["nll"]["negative_elbo"]
    assert {"test_reconstruction_nll", "test_kl", "bits_per_dim", "kl_per_dimension"} <= set(test)
    assert test["apd"]["apd"] == image_results["apd"]["apd"]
    assert test["best-of-k"] == {"skipped": image_results["best-of-k"]["skipped"]}
    assert not any("settings" in v for v in test.values() if isinstance(v, dict))


class LinearConditionalModel(nn.Module):
    """p(z|x) = N(x, I), p(y|x, z) = N(z, 0.1^2), q(z|x,y) = N((x + 100 y) / 101, 1 / 101): the
    exact posterior, so IS gives -log p(y|x) = -log N(y; x, (1 + 0.01) I) with any S."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.x_shape, self.y_shape, self.latent_dim, self.has_recognition = (2,), (2,), 2, True

    def prior(self, x: Tensor) -> Independent:
        return Independent(Normal(self.w * x, torch.ones_like(x)), 1)

    def recognize(self, x: Tensor, y: Tensor) -> Independent:
        return Independent(Normal((x + 100 * y) / 101, torch.full_like(x, 101**-0.5)), 1)

    def generate(self, x: Tensor, z: Tensor) -> Independent:
        return Independent(Normal(z, 0.1 * torch.ones_like(z)), 1)

    def sample(self, x: Tensor, num_samples: int, *, mean: bool = True) -> Tensor:
        p_y = self.generate(x, self.prior(x).sample((num_samples,)))
        return p_y.mean if mean else p_y.sample()


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
    exact = -Independent(Normal(x.double(), 1.01**0.5), 1).log_prob(y.double())
    assert r["nll"]["nll_is"]["mean"] == pytest.approx(float(exact.mean()), abs=1e-4)
    assert r["nll"]["nll"] == r["nll"]["nll_is"] and r["nll"]["target_values"] == 2


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
    """q(z|x) = N(x, 0.1^2): a code dimension per factor."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.latent_dim, self.x_shape = 4, (4,)

    def encode(self, x: Tensor) -> Independent:
        return Independent(Normal(self.w * x, 0.1 * torch.ones_like(x)), 1)

    def decode(self, z: Tensor) -> Independent:
        return Independent(Normal(z, torch.ones_like(z)), 1)

    def prior(self) -> Independent:
        return Independent(Normal(torch.zeros(4), torch.ones(4)), 1)

    def sample(self, num_samples: int, *, mean: bool = True) -> Tensor:
        return self.decode(self.prior().sample((num_samples,))).mean


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
    write_evaluation(tmp_path, {"nll": {"nll": 1.0}, "apd": {"apd": 2.0}})
    write_evaluation(tmp_path, {"apd": {"apd": 3.0}})
    assert json.loads((tmp_path / "evaluation.json").read_text()) == {
        "nll": {"nll": 1.0},
        "apd": {"apd": 3.0},
    }


def test_report_section_is_replaced_not_repeated(
    tmp_path: Path, image_results: dict[str, dict], image_task: tuple[VAE, TaskData]
) -> None:
    model, data = image_task
    (tmp_path / "report.md").write_text("# Run report\n\n## Summary\n\nkept\n")
    figs = suite_figures(model, data, image_results, tmp_path / "figures", title="tiny")
    assert set(figs) == {"KL per latent dimension", "Diversity against quality"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in figs.values())
    for _ in range(2):
        update_report(tmp_path, report_section(image_results, figs, tmp_path))
    text = (tmp_path / "report.md").read_text()
    assert text.startswith("# Run report\n\n## Summary\n\nkept\n")
    assert text.count("## Evaluation suite") == 1
    assert "not comparable to Inception FID" in text
    assert "](figures/kl_per_dimension.png)" in text
    assert "| nll.nll |" in text and "- **best-of-k**: skipped:" in text


def test_disentanglement_figures_label_rows_by_factor(
    tmp_path: Path, image_task: tuple[VAE, TaskData]
) -> None:
    model, data = image_task
    mig = {"mutual_information": [[0.9, 0.0], [0.1, 0.3], [0.0, 0.0]], "factor_entropy": [1.0, 0.5]}
    results = {"disentanglement": {"details": {"mig": mig, "factor_names": ["shape", "size"]}}}
    figs = suite_figures(model, data, results, tmp_path)
    assert set(figs) == {
        "Mutual information between latents and factors",
        "Latent traversals labelled by factor",
    }
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in figs.values())


def test_marked_sections_survive_a_rewritten_report(tmp_path: Path) -> None:
    update_report(tmp_path, "## Evaluation suite\n\nsuite table")
    update_report(tmp_path, "## Comparison with other runs\n\ntable", marker="comparison")
    old = (tmp_path / "report.md").read_text()
    (tmp_path / "report.md").write_text("# Run report\n\n## Summary\n\nnew numbers\n")
    reattach_sections(tmp_path, old)
    text = (tmp_path / "report.md").read_text()
    assert text.startswith("# Run report\n\n## Summary\n\nnew numbers\n")
    assert text.count("suite table") == 1 and text.count("## Comparison with other runs") == 1
    reattach_sections(tmp_path, text)  # idempotent
    assert (tmp_path / "report.md").read_text() == text


def test_nll_and_collapse_count_the_same_active_units_by_one_named_rule(
    image_task: tuple[VAE, TaskData],
) -> None:
    model, data = image_task
    results = suite.run_metrics(
        ["nll", "collapse"],
        model,
        data,
        {"nll": {"num_samples": 2}, "collapse": {"threshold": 0.01}},
    )
    nll, collapse = results["nll"], results["collapse"]
    # The rule by hand: variance over the training inputs of each posterior mean, above 0.01.
    with torch.no_grad():
        variances = model.encode(data.train["x"]).mean.double().var(0)
    expected = int((variances > 0.01).sum())
    assert nll["active_units"] == collapse["active_units"] == expected
    rule = "Var_x(E_q[z_d|x]) > 0.01 over the first 200 training inputs (Burda et al., 2016)"
    assert nll["active_units_rule"] == collapse["active_units_rule"] == rule
    section = summary_section(results)
    assert section["active_units_rule"] == section["collapse"]["active_units_rule"] == rule
