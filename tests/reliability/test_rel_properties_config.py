"""Property tests of the recipe layer: TOML/JSON files, ``--set`` overrides and validation.

Whatever a user types, the answer is a validated config or a ConfigError that names the key;
never a TypeError or AttributeError from inside the validator.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from plausible.checkpoint import build_model
from plausible.config import SECTIONS, ConfigError, apply_overrides, load_recipe, validate_config
from plausible.models import VAE
from plausible.tasks.images import ImageModelling
from plausible.training import TrainerConfig

FAST = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
RECIPE = load_recipe("vae-digits")
KEYS = {
    "training": [f.name for f in dataclasses.fields(TrainerConfig)],
    "model": [p for p in inspect.signature(VAE).parameters if p != "self"],
    "task": [p for p in inspect.signature(ImageModelling).parameters if p != "self"],
    "objective": ["beta", "free_bits", "name"],
    "evaluation": ["num_samples", "memory_budget_mb", "batch_size"],
}

names = st.text(st.characters(codec="utf-8"), max_size=8)
scalars = (
    st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | names
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=6,
)


def toml(value: Any) -> str:
    """``value`` as a TOML literal (inline tables and arrays included)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int | str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + "}"


@st.composite
def overrides(draw: st.DrawFn) -> str:
    table = draw(st.sampled_from(SECTIONS))
    key = draw(st.sampled_from(KEYS[table]) | names)
    text = draw(values.map(toml) | st.text(max_size=12))  # TOML, or whatever a user types
    return f"{table}.{key}={text}"


def _validate(config: Any) -> dict[str, Any] | None:
    try:
        return validate_config(config)
    except ConfigError as err:
        assert str(err), "a ConfigError must say what is wrong"
        return None


@FAST
@given(items=st.lists(st.text(max_size=30), max_size=4))
def test_any_override_text_is_applied_or_refused(items: list[str]) -> None:
    try:
        out = apply_overrides(RECIPE, items)
    except ConfigError as err:
        assert "--set" in str(err)
    else:
        assert set(out) >= set(RECIPE)


@FAST
@given(items=st.lists(overrides(), min_size=1, max_size=4))
def test_any_override_of_a_recipe_validates_or_names_the_problem(items: list[str]) -> None:
    try:
        config = apply_overrides(RECIPE, items)
    except ConfigError:
        return
    out = _validate(config)
    if out is None:
        return
    TrainerConfig(**out["training"])  # what validated must construct
    for item in items:  # a valid override reaches the validated config
        key, _, _ = item.partition("=")
        table, field = key.split(".")
        if table in ("training", "model", "task") and field != "name":
            assert field in out[table]


@FAST
@given(
    latent_dim=st.integers(-3, 40),
    hidden=st.lists(st.integers(-2, 64), max_size=3),
    likelihood=st.sampled_from(["bernoulli", "gaussian", "laplace", "poisson", ""]),
    scale=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-2, 2),
)
def test_a_validated_model_table_builds_or_says_why(
    latent_dim: int, hidden: list[int], likelihood: str, scale: float
) -> None:
    config = dict(RECIPE)
    config["model"] = {
        "name": "vae",
        "latent_dim": latent_dim,
        "hidden_dims": hidden,
        "likelihood": likelihood,
        "min_scale": scale,
    }
    out = _validate(config)
    if out is None:
        return
    model_cfg = dict(out["model"])
    try:
        build_model(model_cfg.pop("name"), {"x_shape": (1, 8, 8), **model_cfg})
    except ValueError as err:
        assert str(err)


@FAST
@given(config=st.dictionaries(names | st.sampled_from(SECTIONS), values, max_size=6))
def test_any_json_like_structure_validates_or_is_refused(config: dict[str, Any]) -> None:
    _validate(config)


@FAST
@given(
    sections=st.dictionaries(
        st.sampled_from(SECTIONS),
        st.dictionaries(st.sampled_from(["name", "epochs", "lr", "beta", "x"]), values, max_size=3)
        | values,
        max_size=5,
    )
)
def test_any_table_contents_validate_or_are_refused(sections: dict[str, Any]) -> None:
    _validate(sections)


@FAST
@given(text=st.text(max_size=120) | values.map(toml), suffix=st.sampled_from([".toml", ".json"]))
def test_any_recipe_file_loads_or_is_refused(tmp_path: Path, text: str, suffix: str) -> None:
    path = tmp_path / f"recipe{suffix}"
    path.write_text(text, encoding="utf-8")
    try:
        config = load_recipe(path)
    except ConfigError as err:
        assert str(path) in str(err)
        return
    assert isinstance(config, dict)
    _validate(config)


@FAST
@given(data=st.binary(max_size=64))
def test_binary_recipe_files_are_refused(tmp_path: Path, data: bytes) -> None:
    assume(data)
    path = tmp_path / "recipe.toml"
    path.write_bytes(data)
    try:
        load_recipe(path)
    except ConfigError as err:
        assert str(path) in str(err)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.lr=inf", "training.lr must be a finite number"),
        ("training.epochs=1e3", "training.epochs must be an integer"),
        ("model.hidden_dims=[64, [1]]", r"model.hidden_dims\[1\] must be an integer"),
        (
            'objective.beta={schedule="linear", steps="x"}',
            "objective.beta.steps must be an integer",
        ),
        ("objective.beta={steps=3}", "needs a 'schedule' key|must be a schedule"),
        ("task.name=[1]", "task.name must be a string"),
    ],
    ids=str,
)
def test_typical_mistakes_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_config(apply_overrides(RECIPE, [override]))


def test_a_section_that_is_not_a_table_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"\[training\] must be a table"):
        validate_config({**RECIPE, "training": 3})
    with pytest.raises(ConfigError, match=r"\[training\] in the recipe is 3, not a table"):
        apply_overrides({**RECIPE, "training": 3}, ["training.epochs=2"])
