"""Burda et al. (2016) reproduction end to end on generated MNIST files, and its statistics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from plausible.cli.reproduce import reproduce
from plausible.data import write_idx
from plausible.models.vae import VAE
from plausible.objectives.iwae import iwae_bound, log_importance_weights, multi_sample_elbo
from plausible.reproduce.burda2016 import (
    PAPER_NLL,
    Burda2016Settings,
    model_keys,
    paired_difference,
    reproduce_burda2016,
    run_config,
)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _write_mnist(folder: Path, *, num_train: int, num_test: int) -> None:
    """Generated 28x28 'digits': a bright bar whose row is the label, plus grey noise."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for prefix, n in (("train", num_train), ("t10k", num_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 + 2 * label : 5 + 2 * label, 4:24] = 230
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)


def _settings(data_dir: Path, **changes: Any) -> Burda2016Settings:
    base: dict[str, Any] = {
        "budget": "quick",
        "ks": (1, 5, 50),
        "latent_dim": 4,
        "hidden_dims": (16,),
        "num_threads": 1,
        "device": "cpu",
        "data_dir": str(data_dir),
        "epochs": 2,
        "train_examples": 40,
        "val_examples": 10,
        "eval_examples": 12,
        "samples": 2000,
    }
    return Burda2016Settings(**{**base, **changes})


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("burda")
    _write_mnist(root / "mnist", num_train=60, num_test=15)
    out = root / "out"
    results = reproduce_burda2016(_settings(root / "mnist"), out)
    return out, results


def _per_example(out: Path, run: str) -> np.ndarray:
    return np.array(json.loads((out / run / "burda2016_eval.json").read_text())["per_example_nll"])


def test_table_sets_every_model_next_to_the_paper(reproduced: tuple[Path, Any]) -> None:
    out, results = reproduced
    table = (out / "table.md").read_text()
    assert sorted(results["models"]) == ["iwae_k5", "iwae_k50", "k1", "vae_k5", "vae_k50"]
    for k in (1, 5, 50):
        row = next(line for line in table.splitlines() if line.startswith(f"| {k} |"))
        assert f"{PAPER_NLL[('vae', k)]:.2f}" in row and f"{PAPER_NLL[('iwae', k)]:.2f}" in row
    assert "VAE k=50 above IWAE k=50" in table and "K = 2000" in table
    assert "first 12 test images" in table and "2 epochs" in table
    assert results["models"]["vae_k50"]["objective"] == "multi-sample-elbo"
    assert results["models"]["iwae_k50"]["objective"] == "iwae"
    config = json.loads((out / "vae_k5" / "config.json").read_text())
    assert config["objective"] == {"name": "multi-sample-elbo", "num_samples": 5}
    assert config["model"]["activation"] == "tanh" and config["task"]["binarize"] == "dynamic"
    assert results["protocol"]["train_images"] == 40  # 50 images used, 10 held out


def test_paired_errors_equal_an_independent_computation(reproduced: tuple[Path, Any]) -> None:
    out, results = reproduced
    claims = {c["label"]: c for c in results["claims"]}
    pairs = {
        "VAE k=50 above IWAE k=50": ("vae_k50", "iwae_k50"),
        "k=1 above VAE k=50": ("k1", "vae_k50"),
        "IWAE k=5 above IWAE k=50": ("iwae_k5", "iwae_k50"),
    }
    for label, (a, b) in pairs.items():
        va, vb = _per_example(out, a), _per_example(out, b)
        assert len(va) == len(vb) == 12
        diff = va - vb
        assert claims[label]["mean"] == pytest.approx(diff.mean(), abs=1e-9)
        assert claims[label]["stderr"] == pytest.approx(diff.std(ddof=1) / np.sqrt(12), rel=1e-9)
        assert claims[label]["holds"] == (diff.mean() > diff.std(ddof=1) / np.sqrt(12))
    for run, model in results["models"].items():
        values = _per_example(out, run)
        assert model["nll"]["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert model["active_units"] == sum(v > 0.01 for v in model["active_unit_variances"])


def test_nll_values_are_the_models_importance_sampled_likelihood(
    reproduced: tuple[Path, Any],
) -> None:
    # An independent estimator: plain Monte Carlo over many draws of q, in float64.
    from plausible.runs import load_run

    out, _ = reproduced
    run = load_run(out / "iwae_k50")
    x = run.load_data().test["x"][:3]
    model = run.model.double()
    torch.manual_seed(1)
    with torch.no_grad():
        log_w = log_importance_weights(model, x.double(), 20_000)
    reference = -(torch.logsumexp(log_w, 0) - np.log(20_000)).numpy()
    # K = 2,000 is a bound on -log p(x) from above, tight to well under a nat for a 4-d latent.
    values = _per_example(out, "iwae_k50")[:3]
    assert values.mean() >= reference.mean() - 0.1
    assert np.allclose(values, reference, atol=1.0)


def test_resume_reuses_runs_and_re_evaluates_when_k_changes(
    reproduced: tuple[Path, Any],
) -> None:
    out, results = reproduced
    data_dir = out.parent / "mnist"
    weights = out / "k1" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    again = reproduce_burda2016(_settings(data_dir), out, resume=True)
    assert weights.stat().st_mtime_ns == stamp
    assert again["claims"] == results["claims"]
    more = reproduce_burda2016(_settings(data_dir, samples=32), out, resume=True)
    assert weights.stat().st_mtime_ns == stamp
    assert more["models"]["k1"]["nll"]["num_samples"] == 32
    with pytest.raises(Exception, match="differ"):
        reproduce_burda2016(_settings(data_dir, latent_dim=3), out, resume=True)


def test_multi_sample_elbo_is_the_mean_log_weight_and_never_below_iwae() -> None:
    torch.manual_seed(0)
    model = VAE((6,), latent_dim=2, hidden_dims=(8,), activation="tanh").double()
    x = torch.bernoulli(torch.full((5, 6), 0.4, dtype=torch.float64))
    with torch.random.fork_rng():
        torch.manual_seed(3)
        log_w = log_importance_weights(model, x, 7)
    with torch.random.fork_rng():
        torch.manual_seed(3)
        vae = multi_sample_elbo(model, x, num_samples=7).loss
    with torch.random.fork_rng():
        torch.manual_seed(3)
        iwae = iwae_bound(model, x, num_samples=7).loss
    torch.testing.assert_close(vae, -log_w.mean(0))
    torch.testing.assert_close(iwae, -(torch.logsumexp(log_w, 0) - np.log(7)))
    assert torch.all(vae >= iwae)  # Jensen: mean log w <= log mean w
    with torch.random.fork_rng():
        torch.manual_seed(4)
        one = multi_sample_elbo(model, x, num_samples=1).loss
    with torch.random.fork_rng():
        torch.manual_seed(4)
        torch.testing.assert_close(one, iwae_bound(model, x, num_samples=1).loss)


def test_paired_difference_against_numpy() -> None:
    rng = np.random.default_rng(0)
    hard = rng.gamma(4.0, 20.0, 200)  # examples differ a lot; the models differ little
    a, b = hard + 1.0 + rng.normal(0, 0.3, 200), hard + rng.normal(0, 0.3, 200)
    diff = paired_difference(list(a), list(b))
    assert diff["mean"] == pytest.approx((a - b).mean())
    assert diff["stderr"] == pytest.approx((a - b).std(ddof=1) / np.sqrt(200))
    assert diff["stderr_unpaired"] == pytest.approx(
        np.hypot(a.std(ddof=1), b.std(ddof=1)) / np.sqrt(200)
    )
    assert diff["stderr"] < diff["stderr_unpaired"] / 10
    with pytest.raises(ValueError, match="equally long"):
        paired_difference([1.0, 2.0], [1.0])


def test_models_and_recipes_follow_the_paper() -> None:
    assert model_keys((1, 5, 50)) == [
        ("k1", "iwae", 1),
        ("vae_k5", "vae", 5),
        ("iwae_k5", "iwae", 5),
        ("vae_k50", "vae", 50),
        ("iwae_k50", "iwae", 50),
    ]
    config = run_config(Burda2016Settings(budget="full"), "iwae", 50, num_images=60_000)
    assert config["model"]["latent_dim"] == 50 and config["model"]["hidden_dims"] == [200, 200]
    assert config["training"]["batch_size"] == 20
    assert round(60_000 * config["task"]["val_fraction"]) == 400
    assert config["task"]["max_train"] == 0 and config["evaluation"]["num_samples"] == 5000
    with pytest.raises(ValueError, match="ks must be"):
        Burda2016Settings(ks=(1, 1))


def test_cli_rejects_sohn_options_for_burda() -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("reproduce")(reproduce)
    result = CliRunner().invoke(app, ["reproduce", "burda2016", "--quadrants", "2"])
    assert result.exit_code != 0
    assert "applies to sohn2015 only" in result.output
