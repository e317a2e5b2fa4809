"""The trainer: learning, exact resume, NaN guard, early stopping, checkpoint safety."""

from __future__ import annotations

import math
import time

import pytest
import torch
from torch import nn

from plausible.data import Binarize
from plausible.models import VAE
from plausible.objectives import ObjectiveOutput
from plausible.training import (
    Callback,
    ConfiguredObjective,
    NonFiniteLossError,
    Trainer,
    TrainerConfig,
    TrainingInterrupted,
    load_metrics,
)
from plausible.training.checkpointing import find_checkpoint, read_checkpoint, write_checkpoint


def _data(n: int = 96) -> dict[str, torch.Tensor]:
    """Two prototype patterns with pixel noise: a VAE should reach well below the naive 16*log 2."""
    g = torch.Generator().manual_seed(0)
    protos = (torch.rand(2, 16, generator=g) > 0.5).float()
    which = torch.randint(0, 2, (n,), generator=g)
    probs = protos[which] * 0.9 + 0.05
    return {"x": probs}


def _config(**kw: object) -> TrainerConfig:
    defaults = {
        "epochs": 4,
        "batch_size": 16,
        "lr": 3e-3,
        "progress": False,
        "tensorboard": "off",
        "log_every": 3,
    }
    defaults.update(kw)
    return TrainerConfig(**defaults)  # type: ignore[arg-type]


def _model() -> VAE:
    torch.manual_seed(0)
    return VAE((16,), latent_dim=2, hidden_dims=(32,))


def _fit(tmp_path, *, callbacks=(), resume=False, model=None, **kw):
    model = model or _model()
    trainer = Trainer(
        model, ConfiguredObjective("elbo"), _config(**kw), run_dir=tmp_path, callbacks=callbacks
    )
    data = _data()
    trainer.fit(data, {"x": data["x"][:32]}, transform=Binarize("dynamic"), resume=resume)
    return model, trainer


def test_learning_reaches_a_bound_on_toy_data(tmp_path) -> None:
    _, trainer = _fit(tmp_path, epochs=40)
    val = [r for r in trainer.log.records if r["split"] == "val"]
    # Independent fair coins cost 16 log 2 = 11.1 nats; two noisy prototypes cost
    # log 2 + 16 * H(0.05) = 3.8 nats. The VAE must get close to the latter.
    assert val[-1]["loss"] < 6.0, val[-1]
    assert val[-1]["loss"] < val[0]["loss"]


def test_bf16_training_reaches_the_same_bound(tmp_path) -> None:
    """precision = "bf16" on a CPU: bfloat16 matrix products, float32 densities and weights."""
    inner = ConfiguredObjective("elbo")
    autocast_seen = set()

    def objective(model, batch, step):  # type: ignore[no-untyped-def]
        autocast_seen.add(torch.is_autocast_enabled("cpu"))
        return inner(model, batch, step)

    model = _model()
    trainer = Trainer(model, objective, _config(epochs=40, precision="bf16"), run_dir=tmp_path)
    data = _data()
    trainer.fit(data, {"x": data["x"][:32]}, transform=Binarize("dynamic"))
    assert autocast_seen == {True}
    val = [r for r in trainer.log.records if r["split"] == "val"]
    assert val[-1]["loss"] < 6.0, val[-1]
    assert all(p.dtype == torch.float32 for p in model.parameters())


class _InterruptAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer, out) -> None:
        if trainer.step == self.step:
            raise KeyboardInterrupt


@pytest.mark.parametrize("interrupt_step", [7, 12, 13], ids=str)
def test_interrupted_run_resumes_to_identical_weights(tmp_path, interrupt_step: int) -> None:
    straight, _ = _fit(tmp_path / "a", checkpoint_every=5)
    with pytest.raises(TrainingInterrupted, match="--resume"):
        _fit(tmp_path / "b", checkpoint_every=5, callbacks=[_InterruptAt(interrupt_step)])
    resumed, _ = _fit(tmp_path / "b", checkpoint_every=5, resume=True)
    for (name, a), b in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    # metrics.jsonl holds each row once, as if the run had never stopped.
    rows_a = [(r["step"], r["split"]) for r in load_metrics(tmp_path / "a" / "metrics.jsonl")]
    rows_b = [(r["step"], r["split"]) for r in load_metrics(tmp_path / "b" / "metrics.jsonl")]
    assert rows_a == rows_b


def test_resume_without_checkpoint_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="holds no checkpoint"):
        _fit(tmp_path, resume=True)


class _Poisoned:
    """The ELBO, but non-finite on chosen steps (in the KL term) to exercise the guard."""

    def __init__(self, bad_steps: set[int]) -> None:
        self.inner = ConfiguredObjective("elbo")
        self.bad_steps = bad_steps
        self.calls = 0

    def __call__(self, model, batch, step) -> ObjectiveOutput:
        out = self.inner(model, batch, step)
        self.calls += 1
        if step is not None and self.calls in self.bad_steps:
            kl = out.terms["kl"] * math.nan
            return ObjectiveOutput(
                loss=out.terms["reconstruction"] + kl, terms={**out.terms, "kl": kl}
            )
        return out


def test_nan_guard_skips_bad_batches_and_names_the_term(tmp_path, caplog) -> None:
    model = _model()
    trainer = Trainer(model, _Poisoned({2, 5}), _config(epochs=1), run_dir=tmp_path)
    trainer.fit(_data())
    # A step is a batch; the two bad ones were kept from the weights.
    assert (trainer.step, trainer.skipped_batches) == (len(_data()["x"]) // 16, 2)
    bad = [r for r in trainer.log.records if r["split"] == "nonfinite"]
    assert [r["terms"] for r in bad] == ["kl", "kl"]
    assert "non-finite: kl" in caplog.text
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_nan_guard_stops_after_repeated_failures(tmp_path) -> None:
    trainer = Trainer(
        _model(), _Poisoned(set(range(1, 100))), _config(max_nonfinite=3), run_dir=tmp_path
    )
    with pytest.raises(NonFiniteLossError, match=r"non-finite: kl.*3 batches in a row.*grad_clip"):
        trainer.fit(_data())
    assert find_checkpoint(tmp_path) is not None


def test_nonfinite_gradient_is_caught(tmp_path) -> None:
    model = _model()
    model.decoder[0].weight.register_hook(lambda g: g * math.inf)
    trainer = Trainer(
        model, ConfiguredObjective("elbo"), _config(epochs=1, max_nonfinite=2), run_dir=tmp_path
    )
    before = model.decoder[0].weight.detach().clone()
    with pytest.raises(NonFiniteLossError, match="non-finite gradient"):
        trainer.fit(_data())
    assert torch.equal(model.decoder[0].weight, before)


def test_early_stopping_restores_the_best_weights(tmp_path) -> None:
    model, trainer = _fit(tmp_path, epochs=60, lr=3e-2, early_stopping_patience=2)
    val = [r["loss"] for r in trainer.log.records if r["split"] == "val"]
    assert trainer.should_stop and len(val) < 60
    assert trainer.best_val == min(val)
    _, _, best = read_checkpoint(find_checkpoint(tmp_path))
    assert best is not None
    for name, value in model.state_dict().items():
        assert torch.equal(value, best[name]), name


def test_validation_does_not_perturb_training(tmp_path) -> None:
    a, _ = _fit(tmp_path / "a", val_every=1, restore_best=False)
    b, _ = _fit(tmp_path / "b", val_every=3, restore_best=False)
    for x, y in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(x, y)


def test_checkpoint_survives_a_crash_between_renames(tmp_path) -> None:
    _fit(tmp_path, epochs=1)
    final = tmp_path / "checkpoint"
    final.rename(tmp_path / "checkpoint.old")  # as if the process died mid-swap
    found = find_checkpoint(tmp_path)
    assert found == tmp_path / "checkpoint.old"
    _, state, _ = read_checkpoint(found)
    assert state["epoch"] == 1


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match=r"training\.epochs must be >= 1"):
        TrainerConfig(epochs=0)
    with pytest.raises(ValueError, match=r"training\.lr must be > 0"):
        TrainerConfig(lr=-1.0)


class _SGDTrainer(Trainer):
    """A user's own optimiser: plain SGD has no device-side skip, so the host reads the verdict."""

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return torch.optim.SGD(self.model.parameters(), lr=0.1), None


def test_an_optimiser_without_a_device_side_skip_still_keeps_bad_batches_out(tmp_path) -> None:
    model = _model()
    calls = {"n": 0}

    def poison(grad: torch.Tensor) -> torch.Tensor:  # every second backward pass
        calls["n"] += 1
        return grad * math.nan if calls["n"] % 2 == 0 else grad

    model.decoder[0].weight.register_hook(poison)
    weights = []

    class Snapshot(Callback):
        def on_step_end(self, trainer, out) -> None:
            weights.append(trainer.model.decoder[0].weight.detach().clone())

    trainer = _SGDTrainer(
        model,
        ConfiguredObjective("elbo"),
        _config(epochs=1),
        run_dir=tmp_path,
        callbacks=[Snapshot()],
    )
    assert not trainer._skip_on_device
    before = model.decoder[0].weight.detach().clone()
    trainer.fit(_data())
    # Steps 2, 4 and 6 were bad: the weights after each equal those before it.
    assert trainer.skipped_batches == 3
    assert not torch.equal(weights[0], before)
    for i in (1, 3, 5):
        assert torch.equal(weights[i], weights[i - 1]), i
    assert not torch.equal(weights[2], weights[1])


def test_bf16_on_a_cpu_without_native_bfloat16_warns(monkeypatch, caplog) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    Trainer(_model(), ConfiguredObjective("elbo"), _config(precision="bf16", device="cpu"))
    assert "slower than fp32 here" in caplog.text
    caplog.clear()
    Trainer(_model(), ConfiguredObjective("elbo"), _config(device="cpu"))
    assert "bfloat16" not in caplog.text


@pytest.mark.parametrize(
    ("num_threads", "width", "expected"),
    [(0, 8, 1), (2, 8, 2), (0, 1024, "default")],
    ids=["small-auto", "explicit", "large-auto"],
)
def test_automatic_threads_train_a_small_model_on_one_thread(
    num_threads: int, width: int, expected: int | str
) -> None:
    from plausible.training.device import SMALL_MODEL_PARAMETERS

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        model = nn.Sequential(nn.Linear(width, width), nn.Linear(width, width))
        big = sum(p.numel() for p in model.parameters()) >= SMALL_MODEL_PARAMETERS
        assert big == (expected == "default")
        config = TrainerConfig(num_threads=num_threads, device="cpu", progress=False)
        trainer = Trainer(model, ConfiguredObjective("elbo"), config)
        want = 2 if expected == "default" else expected
        assert trainer.threads == want and torch.get_num_threads() == want
    finally:
        torch.set_num_threads(before)


class _Slow(Callback):
    """Sleep after every step, so that a run's wall time is known to be at least a bound."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_step_end(self, trainer: Trainer, out: ObjectiveOutput) -> None:
        time.sleep(self.seconds)


def _fit_summary(run_dir, *, resume: bool, callbacks=(), epochs: int = 2) -> dict:
    trainer = Trainer(
        _model(),
        ConfiguredObjective("elbo"),
        _config(epochs=epochs),
        run_dir=run_dir,
        callbacks=callbacks,
    )
    return trainer.fit(_data(), transform=Binarize("dynamic"), resume=resume)


def test_wall_time_of_a_resumed_run_counts_every_session(tmp_path) -> None:
    # 2 epochs of 6 steps, each step sleeping 20 ms: the first session takes >= 0.24 s.
    first = _fit_summary(tmp_path, resume=False, callbacks=[_Slow(0.02)])
    assert first["wall_time_s"] >= 0.24
    # Resuming the finished run trains nothing more; its wall time is still the whole run's
    # (up to its last checkpoint, which is all a later session can know of it).
    again = _fit_summary(tmp_path, resume=True)
    assert 0.24 <= again["wall_time_s"] <= first["wall_time_s"] + 1.0
    more = _fit_summary(tmp_path, resume=True, callbacks=[_Slow(0.02)], epochs=3)
    assert more["wall_time_s"] >= 0.24 + 6 * 0.02


def test_a_checkpoint_without_the_wall_time_still_resumes(tmp_path) -> None:
    """Checkpoints written before the wall time was kept count the times of their epochs."""
    _fit_summary(tmp_path, resume=False, callbacks=[_Slow(0.02)])
    path = find_checkpoint(tmp_path)
    model_state, state, best = read_checkpoint(path)
    del state["wall_time_s"]
    write_checkpoint(tmp_path, model_state=model_state, trainer_state=state, best_state=best)
    again = _fit_summary(tmp_path, resume=True)
    assert again["epochs"] == 2
    assert again["wall_time_s"] >= sum(state["epoch_times"]) >= 0.24
