"""Resource limits: evaluation works in chunks under a memory budget and refuses what cannot fit.

The refusal names the largest feasible setting, and that setting does fit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import plausible
import plausible.metrics.likelihood as likelihood
from plausible.checkpoint import FORMAT_VERSION, save_weights
from plausible.io import atomic_write_json
from plausible.metrics import importance_sampled_nll, samples_per_chunk
from plausible.models import VAE


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    batch_size=st.integers(1, 10_000),
    num_samples=st.integers(1, 100_000),
    floats=st.integers(1, 1_000_000),
    budget=st.floats(1e-3, 4096.0),
)
def test_chunks_fit_the_budget_or_the_error_names_a_batch_size_that_does(
    batch_size: int, num_samples: int, floats: int, budget: float
) -> None:
    try:
        chunk = samples_per_chunk(batch_size, num_samples, floats, budget)
    except ValueError as err:
        if "raise the budget to at least" in str(err):  # not even one example fits
            assert floats * 4 > budget * 2**20
            return
        largest = int(str(err).split("at most ")[1].split()[0])
        if largest >= 1:  # the advice works, and is the largest that does
            assert samples_per_chunk(largest, num_samples, floats, budget) >= 1
            with pytest.raises(ValueError):
                samples_per_chunk(largest + 1, num_samples, floats, budget)
        else:  # not even one example fits: the budget itself must grow
            assert floats * 4 > budget * 2**20
        return
    assert 1 <= chunk <= num_samples
    assert chunk * batch_size * floats * 4 <= budget * 2**20


def test_importance_sampling_draws_in_chunks_within_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch.manual_seed(0)
    model = VAE((16,), latent_dim=2, hidden_dims=(8,))
    x = (torch.rand(30, 16) > 0.5).float()
    drawn: list[int] = []
    real = likelihood.log_importance_weights

    def spy(model, xb, k, **kw):  # type: ignore[no-untyped-def]
        drawn.append(k)
        return real(model, xb, k, **kw)

    monkeypatch.setattr(likelihood, "log_importance_weights", spy)
    batch, k, floats = 10, 40, likelihood._floats_per_sample(model)
    budget = 7.5 * batch * floats * 4 / 2**20  # room for 7 samples of a batch at a time
    est = importance_sampled_nll(model, x, num_samples=k, batch_size=batch, memory_budget_mb=budget)
    chunk = samples_per_chunk(batch, k, floats, budget)
    assert chunk == 7
    assert max(drawn) == chunk and sum(drawn) == k * 3  # 3 batches of 10 examples
    assert chunk * batch * floats * 4 <= budget * 2**20
    assert est.num_samples == k and est.num_examples == 30


def test_a_budget_too_small_for_one_sample_is_refused_with_the_largest_batch(
    tmp_path: Path,
) -> None:
    model = VAE((16,), latent_dim=2, hidden_dims=(8,))
    x = torch.rand(8, 16)
    floats = likelihood._floats_per_sample(model)
    budget = 50 * floats * 4 / 2**20  # room for one sample of 50 examples
    with pytest.raises(ValueError, match="use a batch size of at most 50 or raise the budget"):
        importance_sampled_nll(model, x, num_samples=10, batch_size=100, memory_budget_mb=budget)
    importance_sampled_nll(model, x, num_samples=10, batch_size=50, memory_budget_mb=budget)


def test_plausible_evaluate_refuses_an_impossible_budget_in_one_paragraph(tmp_path: Path) -> None:
    from plausible.cli.main import _register_commands, app

    _register_commands()
    run = tmp_path / "run"  # a run folder as `plausible train` leaves it, without the training
    run.mkdir()
    task = {"name": "images", "dataset": "digits", "max_train": 64, "max_test": 16}
    model = {"name": "vae", "x_shape": [1, 8, 8], "latent_dim": 2, "hidden_dims": [8]}
    config = {
        "format_version": FORMAT_VERSION,
        "plausible_version": plausible.__version__,
        "task": task,
        "model": model,
        "evaluation": {},
    }
    atomic_write_json(run / "config.json", config)
    save_weights(run / "model.safetensors", VAE((1, 8, 8), latent_dim=2, hidden_dims=(8,)))
    runner = CliRunner()
    result = runner.invoke(
        app, ["evaluate", str(run), "--memory-mb", "0.001", "--no-figures"], catch_exceptions=False
    )
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "error: a memory budget of 0.001 MiB cannot hold one sample" in text, text
    assert "raise the budget to at least 0.00129 MiB" in text and "Traceback" not in text
