"""Binarisation modes and the seeded train/validation split."""

from __future__ import annotations

import pytest
import torch

from plausible.data import Binarize, binarize, train_val_split


def test_binarize_none_and_threshold() -> None:
    images = torch.tensor([0.0, 0.3, 0.5, 0.51, 1.0])
    assert binarize(images, "none") is images
    assert binarize(images, "threshold").tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert binarize(images, "threshold", threshold=0.2).tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]


def test_dynamic_binarize_is_unbiased_and_resampled() -> None:
    images = torch.rand(1000, generator=torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack([binarize(images, "dynamic", generator=gen) for _ in range(400)])
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    assert abs(draws.mean() - images.mean()) < 0.01
    assert (draws.mean(0) - images).abs().max() < 0.15  # 6 standard errors at p = 0.5
    assert not torch.equal(draws[0], draws[1])


def test_dynamic_binarize_is_deterministic_given_a_seed() -> None:
    images = torch.rand(4, 1, 5, 5)
    first = binarize(images, "dynamic", generator=torch.Generator().manual_seed(3))
    again = binarize(images, "dynamic", generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, again)


def test_binarize_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown binarize mode 'soft'"):
        binarize(torch.rand(3), "soft")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown binarize mode 'soft'"):
        Binarize("soft")  # type: ignore[arg-type]


def test_binarize_transform_touches_only_its_key() -> None:
    batch = {"x": torch.rand(3, 4), "label": torch.arange(3)}
    out = Binarize("threshold")(batch, torch.Generator())
    assert torch.equal(out["x"], (batch["x"] > 0.5).float())
    assert out["label"] is batch["label"] and out is not batch


def test_train_val_split_sizes_disjoint_and_deterministic() -> None:
    train, val = train_val_split(100, 0.2, seed=0)
    assert (len(train), len(val)) == (80, 20)
    assert torch.equal(torch.cat([train, val]).sort().values, torch.arange(100))
    again = train_val_split(100, 0.2, seed=0)
    assert torch.equal(train, again[0]) and torch.equal(val, again[1])
    assert not torch.equal(val, train_val_split(100, 0.2, seed=1)[1])


def test_train_val_split_without_validation() -> None:
    train, val = train_val_split(5, 0.0, seed=0)
    assert train.tolist() == [0, 1, 2, 3, 4] and len(val) == 0


@pytest.mark.parametrize(
    ("num_items", "fraction", "message"),
    [
        (10, 1.0, r"in \[0, 1\)"),
        (10, -0.1, r"in \[0, 1\)"),
        (3, 0.1, "gives 0 validation and 3 training"),
        (2, 0.9, "gives 2 validation and 0 training"),
        (0, 0.1, "empty"),
    ],
    ids=str,
)
def test_train_val_split_errors(num_items: int, fraction: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        train_val_split(num_items, fraction, seed=0)
