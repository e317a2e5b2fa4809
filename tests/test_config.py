"""Recipes and overrides: every mistake is named, with the valid choices."""

from __future__ import annotations

import pytest

from plausible.config import (
    ConfigError,
    apply_overrides,
    list_recipes,
    load_recipe,
    validate_config,
)


def _base() -> dict:
    return load_recipe("vae-digits")


def test_every_shipped_recipe_validates_and_has_a_description() -> None:
    recipes = list_recipes()
    assert "vae-digits" in recipes
    for name, description in recipes.items():
        assert description, f"recipe {name} has no description"
        validate_config(load_recipe(name))


def test_unknown_recipe_lists_the_shipped_ones() -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown recipe 'vae-digit'\. Did you mean 'vae-digits'\?.*Shipped recipes: ",
    ):
        load_recipe("vae-digit")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.epochs=abc", r"training.epochs must be an integer, got 'abc' \(str\)"),
        ("training.epoch=3", r"unknown key training.epoch\. Did you mean 'epochs'\?"),
        ("model.latent_dim=2.5", r"model.latent_dim must be an integer, got 2.5"),
        ("model.architecture=transformer", r"model.architecture must be one of 'mlp', 'conv'"),
        ("model.name=vea", r"model.name: unknown model 'vea'; valid models: .*vae"),
        ("task.binarize=maybe", r"task.binarize must be one of 'none', 'threshold', 'dynamic'"),
        ("objective.betta=2", r"unknown key objective.betta\. Did you mean 'beta'\?"),
        ("training.lr=-1", r"training.lr must be > 0"),
        ("training.device=7", r"training.device must be a string"),
        ("model.hidden_dims=64", r"model.hidden_dims must be a list"),
    ],
    ids=str,
)
def test_bad_values_are_named(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_config(apply_overrides(_base(), [override]))


@pytest.mark.parametrize(
    "override", ["epochs=3", "training.epochs", "a.b.c=1", "nosuch.key=1"], ids=str
)
def test_malformed_overrides(override: str) -> None:
    with pytest.raises(ConfigError, match="table"):
        apply_overrides(_base(), [override])


def test_override_values_are_parsed_as_toml() -> None:
    cfg = apply_overrides(
        _base(),
        [
            "model.hidden_dims=[64, 32]",
            "training.lr=1e-2",
            "model.architecture=conv",
            'task.dataset="fashion-mnist"',
            "objective.beta={schedule='linear', end=4.0, steps=10}",
        ],
    )
    checked = validate_config(cfg)
    assert checked["model"]["hidden_dims"] == (64, 32)
    assert checked["training"]["lr"] == 0.01
    assert checked["model"]["architecture"] == "conv"
    assert checked["task"]["dataset"] == "fashion-mnist"
    assert checked["objective"]["beta"] == {"schedule": "linear", "end": 4.0, "steps": 10}


def test_recipe_files_load_from_a_path(tmp_path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('description = "x"\n[task]\nname = "images"\n[model]\nname = "vae"\n')
    assert validate_config(load_recipe(path))["model"]["name"] == "vae"
    bad = tmp_path / "bad.toml"
    bad.write_text("[task\n")
    with pytest.raises(ConfigError, match="could not parse"):
        load_recipe(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_recipe(tmp_path / "missing.toml")


def test_unknown_top_level_table() -> None:
    with pytest.raises(ConfigError, match="unknown top-level keys"):
        validate_config({**_base(), "trainning": {}})
