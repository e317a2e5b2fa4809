"""The model contract, checked for every registered model."""

from __future__ import annotations

import inspect
from typing import Protocol

import pytest
import torch
from contract_examples import EXAMPLES, ContractExample
from torch import nn
from torch.distributions import MixtureSameFamily

import plausible
from plausible.checkpoint import load_weights, save_weights
from plausible.models import protocols
from plausible.models.protocols import (
    CanvasOutput,
    ConditionalDensityModel,
    ConditionalLatentModel,
    ConditionalModel,
    LatentVariableModel,
    RankedHypotheses,
    model_protocols,
)
from plausible.registry import MODELS, OBJECTIVES

_ = plausible  # importing the package registers every model


def _model_name(example_key: str) -> str:
    return next(
        name for name in MODELS.names() if example_key == name or example_key.startswith(name + "-")
    )


def test_every_registered_model_has_an_example() -> None:
    covered = {_model_name(key) for key in EXAMPLES}
    missing = set(MODELS.names()) - covered
    assert not missing, f"add contract examples for {sorted(missing)} in contract_examples.py"


@pytest.fixture(params=sorted(EXAMPLES), ids=str)
def example(request: pytest.FixtureRequest) -> ContractExample:
    return EXAMPLES[request.param]()


def test_objective_is_per_example_and_finite(example: ContractExample) -> None:
    model = example.build()
    out = OBJECTIVES.get(example.objective)(model, example.batch)
    batch_size = next(iter(example.batch.values())).shape[0]
    assert out.loss.shape == (batch_size,)
    assert torch.isfinite(out.loss).all()
    for name, term in out.terms.items():
        assert term.shape == (batch_size,), name
        assert torch.isfinite(term).all(), name


def test_every_parameter_gets_a_gradient(example: ContractExample) -> None:
    model = example.build()
    OBJECTIVES.get(example.objective)(model, example.batch).loss.mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} gets no gradient"
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


def test_sample_shape(example: ContractExample) -> None:
    model = example.build().eval()
    samples = example.sample(model)
    assert tuple(samples.shape) == example.sample_shape
    assert torch.isfinite(samples).all()


def test_save_load_gives_identical_outputs(example: ContractExample, tmp_path) -> None:
    model = example.build().eval()
    # Move the weights away from their initial values so a fresh init cannot pass by luck.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    save_weights(tmp_path / "m.safetensors", model)
    torch.manual_seed(123)
    other = example.build().eval()
    load_weights(tmp_path / "m.safetensors", other)
    torch.manual_seed(5)
    a = OBJECTIVES.get(example.objective)(model, example.batch).loss
    torch.manual_seed(5)
    b = OBJECTIVES.get(example.objective)(other, example.batch).loss
    assert torch.equal(a, b)


def test_deterministic_in_eval_mode(example: ContractExample) -> None:
    model = example.build().eval()
    torch.manual_seed(9)
    a = example.sample(model)
    torch.manual_seed(9)
    b = example.sample(model)
    assert torch.equal(a, b)


def test_objective_under_bf16_autocast_keeps_its_densities_in_float32(
    example: ContractExample,
) -> None:
    """``training.precision = "bf16"``: the networks' products run in bfloat16 and the heads turn
    their outputs back to float32, so every term is float32 and near its float32 value."""
    model = example.build()
    objective = OBJECTIVES.get(example.objective)
    torch.manual_seed(0)
    exact = objective(model, example.batch)
    torch.manual_seed(0)  # the same sampling noise: the heads draw it in float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = objective(model, example.batch)
    for name, value in {"loss": mixed.loss, **mixed.terms}.items():
        reference = (exact.loss if name == "loss" else exact.terms[name]).detach()
        value = value.detach()
        assert value.dtype == torch.float32, name
        # bfloat16 keeps 8 bits of mantissa: each product is off by about 0.4%.
        tolerance = 0.01 * float(reference.abs().max()) + 0.01
        error = float((value - reference).abs().max())
        assert error < tolerance, (name, value, reference)


def test_objective_scores_an_empty_batch(example: ContractExample) -> None:
    model = example.build()
    empty = {k: v[:0] for k, v in example.batch.items()}
    out = OBJECTIVES.get(example.objective)(model, empty)
    assert out.loss.shape == (0,)
    for name, term in out.terms.items():
        assert term.shape == (0,), name


# -- the declared contract ------------------------------------------------------------------------
def _declared(protocol: type) -> tuple[dict[str, object], list[str]]:
    """The attributes (name -> annotation) and method names a protocol declares, inherited too."""
    attributes: dict[str, object] = {}
    methods: list[str] = []
    for cls in reversed(protocol.__mro__):
        if cls in (object, Protocol) or not getattr(cls, "_is_protocol", False):
            continue
        attributes.update(getattr(cls, "__annotations__", {}))
        methods += [n for n, v in vars(cls).items() if inspect.isfunction(v) and n[0] != "_"]
    return attributes, list(dict.fromkeys(methods))


def _satisfied(model: nn.Module) -> list[type]:
    names = model_protocols(model)
    capabilities = [p for p in (RankedHypotheses, CanvasOutput) if isinstance(model, p)]
    return [getattr(protocols, n) for n in names] + capabilities


def _check_signature(model: nn.Module, protocol: type, method: str) -> None:
    """The model's method takes every call the protocol's allows: same positional parameters in
    the same order, the same keyword-only ones, defaults where the protocol has them, and any
    extra parameter optional."""
    where = f"{type(model).__name__}.{method} ({protocol.__name__})"
    declared = list(inspect.signature(getattr(protocol, method)).parameters.values())[1:]
    actual = list(inspect.signature(getattr(model, method)).parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    want_pos = [p for p in declared if p.kind in positional]
    have_pos = [p for p in actual if p.kind in positional]
    assert [p.name for p in have_pos[: len(want_pos)]] == [p.name for p in want_pos], where
    for extra in have_pos[len(want_pos) :]:
        assert extra.default is not inspect.Parameter.empty, f"{where}: {extra.name} is required"
    have_kw = {p.name: p for p in actual if p.kind == inspect.Parameter.KEYWORD_ONLY}
    want_kw = {p.name: p for p in declared if p.kind == inspect.Parameter.KEYWORD_ONLY}
    for name, want in want_kw.items():
        assert name in have_kw, f"{where}: {name} must be keyword-only"
        if want.default is not inspect.Parameter.empty:
            assert have_kw[name].default is not inspect.Parameter.empty, f"{where}: {name}"
    for name, have in have_kw.items():
        if name not in want_kw:
            assert have.default is not inspect.Parameter.empty, f"{where}: {name} is required"
    for want, have in zip(want_pos, have_pos, strict=False):
        if want.default is not inspect.Parameter.empty:
            assert have.default is not inspect.Parameter.empty, f"{where}: {want.name}"


def test_every_registered_model_satisfies_a_model_protocol(example: ContractExample) -> None:
    model = example.build()
    assert model_protocols(model), f"{type(model).__name__} satisfies no model protocol"


def test_protocol_members_have_the_declared_types_and_signatures(example: ContractExample) -> None:
    model = example.build()
    for protocol in _satisfied(model):
        attributes, methods = _declared(protocol)
        for name, annotation in attributes.items():
            value = getattr(model, name)
            if annotation == "tuple[int, ...]":
                assert isinstance(value, tuple) and value, name
                assert all(type(s) is int and s > 0 for s in value), (name, value)
            elif annotation in ("int", "bool"):
                assert type(value).__name__ == annotation, (name, value)
        for method in methods:
            _check_signature(model, protocol, method)


def _conditional_input(model: nn.Module, example: ContractExample) -> torch.Tensor:
    x = example.batch["x"]
    assert tuple(x.shape[1:]) == model.x_shape
    return x


@pytest.mark.parametrize("mean", [False, True], ids=str)
def test_sample_follows_the_convention_of_its_protocol(
    example: ContractExample, mean: bool
) -> None:
    model = example.build().eval()
    if isinstance(model, ConditionalModel):
        x = _conditional_input(model, example)
        samples = model.sample(x, 3, mean=mean)
        assert tuple(samples.shape) == (3, x.shape[0], *model.y_shape)
        assert tuple(model.sample(x[:1], 1, mean=mean).shape) == (1, 1, *model.y_shape)
    else:
        assert isinstance(model, LatentVariableModel)
        samples = model.sample(3, mean=mean)
        assert tuple(samples.shape) == (3, *model.x_shape)
    assert torch.isfinite(samples).all()


def test_mean_samples_drop_only_the_observation_noise(example: ContractExample) -> None:
    """``mean=True``: a mean of p(y|x,z) per drawn z, a mixture component's mean, or the
    prediction itself; never a draw from the observation noise."""
    model = example.build().eval()
    num_samples = 5
    if isinstance(model, ConditionalLatentModel):
        x = _conditional_input(model, example)
        torch.manual_seed(3)
        z = model.prior(x).sample((num_samples,))
        expected = model.generate(x, z).mean
        torch.manual_seed(3)
        assert torch.equal(model.sample(x, num_samples, mean=True), expected)
    elif isinstance(model, ConditionalDensityModel):
        x = _conditional_input(model, example)
        samples = model.sample(x, num_samples, mean=True)
        p_y = model.predictive(x)
        if isinstance(p_y, MixtureSameFamily):
            locs = p_y.component_distribution.mean  # (B, K, *y_shape)
            hits = (samples[:, :, None] == locs[None]).flatten(3).all(-1)  # (S, B, K)
            assert (hits.sum(-1) >= 1).all(), "a mean sample is not one of the component means"
        else:
            assert torch.equal(samples, p_y.mean.expand_as(samples))
    else:
        assert isinstance(model, LatentVariableModel)
        torch.manual_seed(3)
        expected = model.decode(model.prior().sample((num_samples,))).mean
        torch.manual_seed(3)
        assert torch.equal(model.sample(num_samples, mean=True), expected)


def test_ranked_hypotheses_are_ranked_and_shaped(example: ContractExample) -> None:
    model = example.build().eval()
    if not isinstance(model, RankedHypotheses):
        pytest.skip("not a RankedHypotheses model")
    assert isinstance(model, ConditionalModel)
    x = _conditional_input(model, example)
    hypotheses, weights = model.hypotheses(x)
    n = hypotheses.shape[0]
    assert tuple(hypotheses.shape) == (n, x.shape[0], *model.y_shape)
    assert tuple(weights.shape) == (n, x.shape[0])
    assert (weights[:-1] >= weights[1:]).all()
    assert torch.all(weights.sum(0) <= 1 + 1e-6) and torch.all(weights >= 0)
    top, top_weights = model.hypotheses(x, 1)
    assert torch.equal(top, hypotheses[:1]) and torch.equal(top_weights, weights[:1])


def test_an_output_canvas_holds_exactly_the_targets(example: ContractExample) -> None:
    model = example.build()
    if not isinstance(model, CanvasOutput) or model.canvas is None:
        pytest.skip("y is not part of an image")
    y = example.batch["y"].flatten(1)
    canvas = model.canvas.scatter(y)
    assert tuple(canvas.shape) == (y.shape[0], *model.canvas.canvas_shape)
    # Every value lands on its own pixel, zeros elsewhere: nothing lost, nothing added.
    values = canvas.flatten(1)
    assert torch.equal(values[values != 0].sort().values, y[y != 0].sort().values)


def test_model_families_satisfy_their_protocols() -> None:
    expected = {
        "vae": {"LatentVariableModel"},
        "cvae": {"ConditionalLatentModel"},
        "conditional-baseline": {"ConditionalDensityModel"},
        "mdn": {"ConditionalDensityModel"},
        "regression": {"ConditionalDensityModel"},
    }
    for key, names in expected.items():
        assert set(model_protocols(EXAMPLES[key]().build())) == names, key
    assert isinstance(EXAMPLES["cvae"]().build(), CanvasOutput)
    assert isinstance(EXAMPLES["mdn"]().build(), RankedHypotheses)
    assert isinstance(EXAMPLES["regression"]().build(), RankedHypotheses)
    assert not isinstance(EXAMPLES["vae"]().build(), ConditionalModel)


def test_old_underscore_spellings_of_model_names_still_resolve() -> None:
    """Run folders keep the name they were trained under; kebab-case names must still load."""
    for name in MODELS.names():
        assert MODELS.get(name.replace("-", "_")) is MODELS.get(name)
    assert MODELS.canonical("conditional_baseline") == "conditional-baseline"
