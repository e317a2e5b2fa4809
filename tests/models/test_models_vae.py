"""VAE.sample: chunked decoding and a memory budget that teaches; old config names still load."""

from __future__ import annotations

import inspect

import pytest
import torch

from plausible.models import VAE


def test_sample_decodes_in_chunks_and_refuses_what_the_budget_cannot_hold() -> None:
    model = VAE((1, 4, 4), latent_dim=2, hidden_dims=(8,))
    torch.manual_seed(0)
    chunked = model.sample(10, chunk_size=3)
    torch.manual_seed(0)
    whole = torch.cat([model.sample(3), model.sample(3), model.sample(3), model.sample(1)])
    assert torch.equal(chunked, whole)  # chunks draw z in order: one stream, any chunk size
    # 1 MiB holds 2**20 / (16 values * 4 bytes) = 16384 samples of 4 x 4 float32.
    assert model.sample(16384, memory_budget_mb=1.0).shape == (16384, 1, 4, 4)
    with pytest.raises(ValueError, match=r"16385 samples .* need 1 MiB.*at most 16384"):
        model.sample(16385, memory_budget_mb=1.0)
    with pytest.raises(ValueError, match="positive number of MiB"):
        model.sample(1, memory_budget_mb=0.0)


def test_a_model_converted_to_bfloat16_stays_in_it() -> None:
    """Only autocast's half-precision outputs are turned back to float32 by the heads."""
    torch.manual_seed(0)
    model = VAE((16,), latent_dim=2, hidden_dims=(8,)).to(torch.bfloat16)
    x = (torch.rand(4, 16) > 0.5).to(torch.bfloat16)
    out = model(x)
    assert out.z.dtype == out.p_x.base_dist.logits.dtype == torch.bfloat16
    assert model.sample(3).dtype == torch.bfloat16


def test_an_old_config_with_min_posterior_scale_builds_the_same_model() -> None:
    """``min_posterior_scale`` is ``min_scale`` since the scale floors share one name; run
    folders written before keep loading, into the same model."""
    from plausible.checkpoint import build_model

    kwargs = {"x_shape": [1, 4, 4], "latent_dim": 2, "hidden_dims": [8]}
    torch.manual_seed(0)
    old = build_model("vae", {**kwargs, "min_posterior_scale": 0.5})
    torch.manual_seed(0)
    new = build_model("vae", {**kwargs, "min_scale": 0.5})
    assert old.posterior_head.min_scale == new.posterior_head.min_scale == 0.5
    x = torch.rand(3, 1, 4, 4)
    with torch.no_grad():
        # A floor of 0.5 under a softplus: every posterior scale exceeds it, in both models.
        scale_old, scale_new = old.encode(x).stddev, new.encode(x).stddev
    assert torch.equal(scale_old, scale_new) and bool((scale_old > 0.5).all())
    assert "min_posterior_scale" not in inspect.signature(VAE).parameters
    with pytest.raises(ValueError, match="pass only min_scale"):
        build_model("vae", {**kwargs, "min_scale": 0.5, "min_posterior_scale": 0.5})
