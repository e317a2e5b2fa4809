"""A recipe's KL warm-up reaches the objective through the trainer, one value per step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from plausible.models import VAE
from plausible.objectives import ObjectiveOutput
from plausible.training import Callback, ConfiguredObjective, Trainer, TrainerConfig, load_metrics


class _BetaSeen(Callback):
    """The beta each step's objective used, read back from its output.

    The ELBO's loss is ``reconstruction + beta * kl`` per example, so
    ``(loss - reconstruction) / kl`` is the beta the objective received.
    """

    def __init__(self) -> None:
        self.betas: dict[int, list[float]] = {}

    def on_step_end(self, trainer: Trainer, out: ObjectiveOutput) -> None:
        terms = out.terms
        beta = (out.loss - terms["reconstruction"]) / terms["kl"]
        self.betas[trainer.step] = beta.detach().tolist()


def test_kl_warm_up_reaches_the_objective_step_by_step(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = VAE((8,), latent_dim=2, hidden_dims=(8,)).double()
    x = (torch.rand(12, 8, generator=torch.Generator().manual_seed(1)) > 0.5).double()
    warm_up = {"schedule": "linear", "start": 0.0, "end": 1.0, "steps": 4}
    objective = ConfiguredObjective("elbo", {"beta": warm_up})
    config = TrainerConfig(
        epochs=1,
        batch_size=4,
        device="cpu",
        progress=False,
        tensorboard="off",
        log_every=1,
        restore_best=False,
    )
    seen = _BetaSeen()
    Trainer(model, objective, config, run_dir=tmp_path, callbacks=[seen]).fit({"x": x}, {"x": x})
    # Steps 0, 1, 2 (reported after the update as 1, 2, 3) get 0, 1/4 and 2/4 of the ramp.
    assert sorted(seen.betas) == [1, 2, 3]
    for step, betas in seen.betas.items():
        assert betas == pytest.approx([(step - 1) / 4] * 4, abs=1e-9)
    # Validation scores the final value, beta = 1: its loss is then the negative ELBO.
    (val,) = [row for row in load_metrics(tmp_path / "metrics.jsonl") if row["split"] == "val"]
    assert val["loss"] == pytest.approx(-val["elbo"], rel=1e-6)
    assert val["loss"] > val["reconstruction"] + 0.01  # beta = 0 would give the reconstruction
