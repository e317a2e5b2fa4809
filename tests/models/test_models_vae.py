"""VAE.sample: chunked decoding from one random stream and a memory budget that teaches."""

from __future__ import annotations

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
