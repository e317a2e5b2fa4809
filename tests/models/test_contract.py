"""The model contract, checked for every registered model."""

from __future__ import annotations

import pytest
import torch
from contract_examples import EXAMPLES, ContractExample

import plausible
from plausible.checkpoint import load_weights, save_weights
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
