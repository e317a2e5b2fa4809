"""Mix-and-Match units: exact subset sizes, the uniform law over subsets, independent rows."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from scipy import stats

from plausible.nn import mix_and_match, sample_units


@pytest.mark.parametrize(
    ("size", "rate"), [(10, 0.3), (7, 0.5), (8, 0.0), (8, 1.0), (5, 0.7)], ids=str
)
def test_every_row_selects_exactly_round_rate_times_size_units(size: int, rate: float) -> None:
    g = torch.Generator().manual_seed(0)
    mask = sample_units((50, 3), size, rate, generator=g)
    assert mask.shape == (50, 3, size) and mask.dtype == torch.bool
    assert (mask.sum(-1) == round(rate * size)).all()


def test_a_tensor_rate_gives_the_same_count_as_the_float() -> None:
    for rate in (0.125, 0.25, 0.3, 0.5, 0.8):
        mask = sample_units((20,), 12, torch.tensor(rate))
        assert (mask.sum(-1) == round(rate * 12)).all(), rate


def test_subsets_are_uniform_over_all_k_subsets() -> None:
    """H = 5, k = 2: each of the C(5, 2) = 10 subsets has probability 1/10 (chi-square)."""
    n, size, rate = 20_000, 5, 0.4
    g = torch.Generator().manual_seed(1)
    mask = sample_units((n,), size, rate, generator=g)
    subsets = list(itertools.combinations(range(size), 2))
    codes = (mask.long() * (2 ** torch.arange(size))).sum(-1)
    counts = torch.stack([(codes == (1 << a) + (1 << b)).sum() for a, b in subsets])
    assert int(counts.sum()) == n
    p_value = stats.chisquare(counts.numpy(), [n / len(subsets)] * len(subsets)).pvalue
    assert p_value > 1e-3, counts
    # Hence every unit is selected with probability k / H.
    frequency = mask.float().mean(0)
    assert torch.allclose(frequency, torch.full((size,), 0.4), atol=4 * math.sqrt(0.24 / n))


def test_rows_are_independent() -> None:
    """Two independent uniform k-subsets of H units share a hypergeometric number of units."""
    n, size, k = 20_000, 10, 4
    g = torch.Generator().manual_seed(2)
    mask = sample_units((n, 2), size, k / size, generator=g)
    overlap = (mask[:, 0] & mask[:, 1]).sum(-1)
    law = stats.hypergeom(size, k, k)  # population H, k marked, k drawn
    values = range(k + 1)
    counts = [int((overlap == v).sum()) for v in values]
    expected = [n * law.pmf(v) for v in values]
    assert stats.chisquare(counts, expected).pvalue > 1e-3, (counts, expected)


def test_a_seeded_generator_reproduces_the_units() -> None:
    a = sample_units((4,), 9, 0.5, generator=torch.Generator().manual_seed(3))
    b = sample_units((4,), 9, 0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_a_rate_outside_the_unit_interval_is_refused() -> None:
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\]"):
        sample_units((2,), 4, 1.5)


def test_mix_and_match_takes_the_condition_on_the_mask_and_the_data_elsewhere() -> None:
    g = torch.Generator().manual_seed(4)
    condition = torch.randn(6, 10)
    data = torch.randn(3, 6, 10)  # e.g. 3 latent samples against 6 conditions
    mixed, mask = mix_and_match(condition, data, 0.3, generator=g)
    assert mixed.shape == mask.shape == (3, 6, 10)
    assert (mask.sum(-1) == 3).all()
    full_condition = condition.expand_as(data)
    assert torch.equal(mixed[mask], full_condition[mask])
    assert torch.equal(mixed[~mask], data[~mask])
    # Each sample gets its own subset: the three rows of one condition are not all the same.
    assert not all(torch.equal(mask[0, i], mask[1, i]) for i in range(6))


def test_mix_and_match_at_the_end_rates_returns_one_signal() -> None:
    condition, data = torch.randn(4, 6), torch.randn(4, 6)
    assert torch.equal(mix_and_match(condition, data, 1.0)[0], condition)
    assert torch.equal(mix_and_match(condition, data, 0.0)[0], data)


def test_mix_and_match_refuses_signals_of_different_widths() -> None:
    with pytest.raises(ValueError, match=r"same width H.*\(4, 6\) and \(4, 5\)"):
        mix_and_match(torch.zeros(4, 6), torch.zeros(4, 5), 0.5)
