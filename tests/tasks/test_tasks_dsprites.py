"""The dsprites task: seeded disjoint splits, per-batch rendering, recipes, monitor, evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from plausible.config import load_recipe, validate_config
from plausible.data.dsprites import classes_to_index, render
from plausible.metrics.suite import run_metrics
from plausible.models import VAE
from plausible.registry import TASKS
from plausible.reports.evaluation import summary_section
from plausible.tasks.dsprites import DSpritesTask
from plausible.training import ConfiguredObjective, Trainer, TrainerConfig
from plausible.viz.disentanglement import collapse_curves

RECIPES = ["vae-dsprites", "beta-vae-dsprites"]


@pytest.fixture(scope="module")
def small() -> tuple[DSpritesTask, object]:
    task = DSpritesTask(train_size=300, val_size=40, test_size=60, seed=3, monitor_examples=40)
    return task, task.load()


def test_task_is_registered() -> None:
    assert TASKS.get("dsprites") is DSpritesTask


def test_splits_are_seeded_disjoint_and_rendered(small: tuple) -> None:
    _, data = small
    again = DSpritesTask(train_size=300, val_size=40, test_size=60, seed=3).load()
    assert torch.equal(data.train["factors"], again.train["factors"])
    assert torch.equal(data.test["x"], again.test["x"])
    indices = [
        set(classes_to_index(split["factors"]).tolist())
        for split in (data.train, data.val, data.test)
    ]
    assert [len(i) for i in indices] == [300, 40, 60]
    assert not (indices[0] & indices[1] or indices[0] & indices[2] or indices[1] & indices[2])
    assert "x" not in data.train  # training images are rendered per batch
    assert torch.equal(data.test["x"], render(data.test["factors"]))
    assert data.info["x_shape"] == (1, 64, 64) and data.info["factor_sizes"] == [3, 6, 40, 32, 32]
    other = DSpritesTask(train_size=300, val_size=40, test_size=60, seed=4).load()
    assert not torch.equal(data.train["factors"], other.train["factors"])


def test_batch_transform_renders_the_batch_factors(small: tuple) -> None:
    task, data = small
    batch = {"factors": data.train["factors"][:8]}
    out = task.batch_transform()(batch, torch.Generator())
    assert torch.equal(out["x"], render(batch["factors"])) and out["factors"] is batch["factors"]


def test_sizes_beyond_the_grid_are_refused() -> None:
    with pytest.raises(ValueError, match="sum to at most 737280"):
        DSpritesTask(train_size=737_000, val_size=1_000, test_size=1_000)


@pytest.mark.parametrize("recipe", RECIPES, ids=str)
def test_recipes_validate(recipe: str) -> None:
    config = validate_config(load_recipe(recipe))
    assert config["task"]["name"] == "dsprites" and config["model"]["architecture"] == "conv"


def test_the_two_recipes_differ_only_in_beta() -> None:
    a, b = (load_recipe(r) for r in RECIPES)
    assert (a["objective"]["beta"], b["objective"]["beta"]) == (1.0, 4.0)
    for section in ("task", "model", "training", "evaluation"):
        assert a[section] == b[section], section


def test_monitor_logs_collapse_rows_every_epoch(small: tuple, tmp_path: Path) -> None:
    task, data = small
    model = VAE((1, 64, 64), latent_dim=3, architecture="conv", conv_channels=(4, 4, 4))
    config = TrainerConfig(epochs=2, batch_size=100, progress=False, tensorboard="off")
    objective = ConfiguredObjective("elbo", {"beta": 4.0})
    trainer = Trainer(model, objective, config, run_dir=tmp_path, callbacks=task.callbacks(data))
    trainer.fit(data.train, data.val, transform=task.batch_transform())
    rows = [r for r in trainer.log.records if r["split"] == "collapse"]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(len(r["kl_per_dimension"]) == 3 for r in rows)
    path = collapse_curves(trainer.log.records, tmp_path / "collapse.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert DSpritesTask(monitor_examples=0).callbacks(data) == ()


@pytest.mark.slow
def test_evaluate_and_figures_of_a_tiny_model(small: tuple, tmp_path: Path) -> None:
    task, data = small
    model = VAE((1, 64, 64), latent_dim=3, architecture="conv", conv_channels=(4, 4, 4)).eval()
    settings = {
        "metrics": ["nll", "collapse", "disentanglement"],
        "num_samples": 4,
        "nll": {"num_examples": 20},
        "disentanglement": {
            "beta_vae_num_train": 20,
            "beta_vae_num_eval": 10,
            "beta_vae_batch_size": 4,
            "factor_vae_num_train": 20,
            "factor_vae_num_eval": 10,
            "factor_vae_batch_size": 4,
            "factor_vae_num_variance_estimate": 100,
            "mig_num_points": 200,
            "dci_num_train": 60,
            "dci_num_test": 20,
        },
    }
    results = run_metrics(settings.pop("metrics"), model, data, settings)
    out = summary_section(results)
    assert {"test_nll", "test_negative_elbo", "collapse", "disentanglement"} <= set(out)
    assert results["nll"]["nll"]["num_examples"] == 20
    assert set(out["disentanglement"]) == {
        "beta_vae",
        "factor_vae",
        "mig",
        "dci_disentanglement",
        "dci_completeness",
        "dci_informativeness",
    }
    assert all(
        not isinstance(v, list | dict) or "mean" in v
        for metric in (out["collapse"], out["disentanglement"])
        for v in metric.values()
    )
    records = [
        {
            "epoch": 1,
            "step": 5,
            "split": "collapse",
            "mutual_information": 0.1,
            "active_units": 1,
            "kl": 0.3,
            "kl_per_dimension": [0.1, 0.1, 0.1],
            "mutual_information_per_dimension": [0.0, 0.0, 0.1],
        },
        {"epoch": 1, "step": 5, "split": "val", "loss": 3.0},
    ]
    figs = task.figures(model, data, tmp_path, records=records)
    assert {
        "samples",
        "reconstructions",
        "collapse per epoch",
        "kl_per_dimension",
        "latent traversals labelled by factor",
    } <= set(figs)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in figs.values())
