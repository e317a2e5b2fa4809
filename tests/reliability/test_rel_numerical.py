"""Numerical faults: the NaN guard reports loss term, step and batch; extreme inputs stay finite."""

from __future__ import annotations

import logging
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from plausible.models import VAE
from plausible.objectives import ObjectiveOutput, elbo
from plausible.objectives.iwae import iwae_bound
from plausible.training import ConfiguredObjective, NonFiniteLossError, Trainer, TrainerConfig
from plausible.training.checkpointing import find_checkpoint, read_checkpoint

STEPS_PER_EPOCH = 4  # 64 examples, batches of 16


def _data() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"x": (torch.rand(64, 16, generator=g) > 0.5).float()}


def _config(**kw: object) -> TrainerConfig:
    base = {"epochs": 2, "batch_size": 16, "progress": False, "tensorboard": "off", "device": "cpu"}
    return TrainerConfig(**{**base, **kw})  # type: ignore[arg-type]


def _model() -> VAE:
    torch.manual_seed(0)
    return VAE((16,), latent_dim=2, hidden_dims=(16,))


class _Inject:
    """The ELBO, with one term made ``value`` on chosen calls (1-based, training calls only)."""

    def __init__(self, calls: set[int], term: str, value: float) -> None:
        self.inner, self.calls, self.term, self.value, self.n = (
            ConfiguredObjective("elbo"),
            calls,
            term,
            value,
            0,
        )

    def __call__(self, model, batch, step) -> ObjectiveOutput:  # type: ignore[no-untyped-def]
        out = self.inner(model, batch, step)
        if step is None:
            return out
        self.n += 1
        if self.n not in self.calls:
            return out
        bad = out.terms[self.term] * 0 + self.value
        terms = {**out.terms, self.term: bad}
        loss = terms["reconstruction"] + terms["kl"]
        return ObjectiveOutput(loss=loss, terms=terms)


@pytest.mark.parametrize(
    ("term", "value"), [("kl", math.nan), ("reconstruction", math.inf)], ids=["nan-kl", "inf-recon"]
)
def test_a_non_finite_loss_is_skipped_and_reported_with_term_step_and_batch(
    tmp_path, caplog, term: str, value: float
) -> None:
    # Training call 6 is step 5: epoch 1, batch 1.
    trainer = Trainer(_model(), _Inject({6}, term, value), _config(), run_dir=tmp_path)
    with caplog.at_level(logging.WARNING):
        trainer.fit(_data())
    assert trainer.step == 2 * STEPS_PER_EPOCH, "training goes on after one bad batch"
    assert trainer.skipped_batches == 1
    (row,) = [r for r in trainer.log.records if r["split"] == "nonfinite"]
    # Epochs are numbered from 1 in every metrics.jsonl row: step 5 is in the second epoch.
    assert (row["step"], row["epoch"], row["batch"], row["terms"]) == (5, 2, 1, term)
    assert f"non-finite loss at step 5 (epoch 1, batch 1); non-finite: {term}" in caplog.text
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_too_many_non_finite_losses_stop_with_a_report_and_keep_the_last_good_checkpoint(
    tmp_path,
) -> None:
    after_good_steps = {}

    class Snapshot:
        def on_step_end(self, trainer, out) -> None:  # type: ignore[no-untyped-def]
            if trainer.step == 2:
                after_good_steps.update(
                    {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
                )

        def on_epoch_end(self, trainer) -> None:  # type: ignore[no-untyped-def]
            pass

    trainer = Trainer(
        _model(),
        _Inject(set(range(3, 100)), "kl", math.nan),
        _config(max_nonfinite=3, checkpoint_every=1),
        run_dir=tmp_path,
        callbacks=[Snapshot()],
    )
    with pytest.raises(NonFiniteLossError) as info:
        trainer.fit(_data())
    message = str(info.value)
    # Steps 2, 3 and 4 (epoch 0 batches 2 and 3, epoch 1 batch 0) were bad.
    assert "non-finite loss at step 4 (epoch 1, batch 0); non-finite: kl" in message, message
    assert "3 batches in a row" in message and "grad_clip" in message
    weights, state, _ = read_checkpoint(find_checkpoint(tmp_path))
    assert state["skipped_batches"] == 3
    for name, value in after_good_steps.items():  # the weights of the two good steps
        assert torch.equal(weights[name], value), name


def test_a_non_finite_gradient_is_skipped_without_touching_the_weights(tmp_path, caplog) -> None:
    model = _model()
    calls = {"n": 0}

    def poison(grad: torch.Tensor) -> torch.Tensor:  # only the third backward pass
        calls["n"] += 1
        return grad * math.inf if calls["n"] == 3 else grad

    model.decoder[0].weight.register_hook(poison)
    snapshots = []

    class Snapshot:
        def on_step_end(self, trainer, out) -> None:  # type: ignore[no-untyped-def]
            snapshots.append(trainer.model.decoder[0].weight.detach().clone())

        def on_epoch_end(self, trainer) -> None:  # type: ignore[no-untyped-def]
            pass

    trainer = Trainer(
        model,
        ConfiguredObjective("elbo"),
        _config(epochs=1),
        run_dir=tmp_path,
        callbacks=[Snapshot()],
    )
    with caplog.at_level(logging.WARNING):
        trainer.fit(_data())
    assert "non-finite gradient at step 2 (epoch 0, batch 2)" in caplog.text
    assert (trainer.step, trainer.skipped_batches) == (STEPS_PER_EPOCH, 1)
    (row,) = [r for r in trainer.log.records if r["split"] == "nonfinite"]
    assert (row["what"], row["step"], row["batch"]) == ("gradient", 2, 2)
    assert all(torch.isfinite(w).all() for w in snapshots)
    assert torch.equal(snapshots[2], snapshots[1]), "the bad step (index 2) left the weights alone"
    assert not torch.equal(snapshots[3], snapshots[2])


def test_persistent_non_finite_gradients_stop_training(tmp_path) -> None:
    model = _model()
    model.decoder[0].weight.register_hook(lambda g: g * math.nan)
    trainer = Trainer(
        model, ConfiguredObjective("elbo"), _config(max_nonfinite=2), run_dir=tmp_path
    )
    with pytest.raises(
        NonFiniteLossError, match=r"non-finite gradient at step 1 \(epoch 0, batch 1\)"
    ):
        trainer.fit(_data())


# -- extreme inputs ------------------------------------------------------------------------------
LIKELIHOODS = [
    ("gaussian", "fixed"),
    ("gaussian", "per_dim"),
    ("laplace", "shared"),
    ("bernoulli", "fixed"),
    ("continuous_bernoulli", "fixed"),
]
EXTREME = settings(max_examples=25, deadline=None, derandomize=True)


def _objectives_are_finite(model: VAE, x: torch.Tensor) -> None:
    out = elbo(model(x), x)
    for name, value in {"loss": out.loss, **out.terms}.items():
        assert torch.isfinite(value).all(), (name, value)
    iw = iwae_bound(model, x, num_samples=8)
    assert torch.isfinite(iw.loss).all()
    out.loss.mean().backward()
    for p in model.parameters():
        assert p.grad is None or torch.isfinite(p.grad).all()


@pytest.mark.parametrize(("likelihood", "scale"), LIKELIHOODS, ids=lambda v: str(v))
@EXTREME
@given(
    magnitude=st.sampled_from([0.0, 1e-42, 1e-30, 1e-6, 1.0, 1e3, 1e6, 1e9]),
    seed=st.integers(0, 2**16),
    weight_scale=st.sampled_from([1.0, 30.0]),
)
def test_extreme_inputs_keep_every_objective_finite(
    likelihood: str, scale: str, magnitude: float, seed: int, weight_scale: float
) -> None:
    """Real-valued data from 1e-42 (subnormal) to 1e9; binary data at its 0/1 edges; weights
    scaled up 30x to push logits and scales to their extremes."""
    torch.manual_seed(seed)
    model = VAE(
        (8,),
        latent_dim=2,
        hidden_dims=(16,),
        likelihood=likelihood,  # type: ignore[arg-type]
        likelihood_scale=scale,
    )  # type: ignore[arg-type]
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(weight_scale)
    g = torch.Generator().manual_seed(seed)
    if "bernoulli" in likelihood:
        x = (torch.rand(4, 8, generator=g) < 0.5).float()
    else:
        x = torch.randn(4, 8, generator=g) * magnitude
    _objectives_are_finite(model, x)
