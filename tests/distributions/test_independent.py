"""plausible's Independent: torch's values, and an empty batch scores to an empty result."""

from __future__ import annotations

import pytest
import torch
from torch import distributions as td

from plausible.distributions.independent import Independent


def _pair(batch: tuple[int, ...]) -> tuple[td.Normal, td.Normal]:
    g = torch.Generator().manual_seed(0)
    shape = (*batch, 3, 4)
    loc, raw = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    return td.Normal(loc, raw.exp()), td.Normal(loc.flip(-1), (raw / 2).exp())


@pytest.mark.parametrize("event_dims", [0, 1, 2])
def test_values_equal_torchs(event_dims: int) -> None:
    p, q = _pair((5,))
    ours, theirs = Independent(p, event_dims), td.Independent(p, event_dims)
    other, other_theirs = Independent(q, event_dims), td.Independent(q, event_dims)
    x = theirs.sample()
    torch.testing.assert_close(ours.log_prob(x), theirs.log_prob(x), rtol=0, atol=1e-6)
    torch.testing.assert_close(ours.entropy(), theirs.entropy(), rtol=0, atol=1e-6)
    torch.testing.assert_close(
        td.kl_divergence(ours, other), td.kl_divergence(theirs, other_theirs), rtol=0, atol=1e-6
    )
    assert torch.equal(ours.support.check(x), theirs.support.check(x))
    assert ours.support.event_dim == theirs.support.event_dim


def test_an_empty_batch_scores_to_an_empty_result() -> None:
    p, q = _pair((0,))
    ours, other = Independent(p, 2), Independent(q, 2)
    x = ours.sample()
    assert x.shape == (0, 3, 4)
    assert ours.log_prob(x).shape == ours.entropy().shape == (0,)
    assert td.kl_divergence(ours, other).shape == (0,)
    assert ours.support.check(x).shape == (0,)
    with pytest.raises(RuntimeError, match="cannot reshape"):
        td.Independent(p, 2).log_prob(x)  # what this class is for
