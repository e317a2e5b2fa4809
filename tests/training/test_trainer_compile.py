"""``training.compile``: the compiled model trains to the eager model's weights."""

from __future__ import annotations

import shutil

import pytest
import torch

from plausible.data import Binarize
from plausible.models import VAE
from plausible.training import ConfiguredObjective, Trainer, TrainerConfig


def _train(**config: object) -> VAE:
    torch.manual_seed(0)
    model = VAE((16,), latent_dim=2, hidden_dims=(16,))
    settings = {"epochs": 2, "batch_size": 16, "device": "cpu", "progress": False}
    trainer = Trainer(
        model,
        ConfiguredObjective("elbo"),
        TrainerConfig(**{**settings, "tensorboard": "off", **config}),  # type: ignore[arg-type]
    )
    g = torch.Generator().manual_seed(1)
    trainer.fit({"x": torch.rand(80, 16, generator=g)}, transform=Binarize("dynamic"))
    return model


@pytest.mark.skipif(
    shutil.which("c++") is None and shutil.which("g++") is None,
    reason="torch.compile on a CPU needs a C++ compiler",
)
@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_compiled_training_reaches_the_eager_weights(mode: str) -> None:
    eager = _train()
    compiled = _train(compile=True, compile_mode=mode)
    # Ten Adam steps, the same batches and noise; fused kernels may round differently.
    for (name, a), b in zip(
        eager.state_dict().items(), compiled.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)


def test_a_compile_mode_without_compile_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"compile_mode = 'reduce-overhead' needs training\.compile"
    ):
        TrainerConfig(compile_mode="reduce-overhead")
