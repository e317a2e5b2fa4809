"""Image binarisation (fixed or resampled per batch) and seeded train/validation splits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

__all__ = ["Binarize", "BinarizeMode", "binarize", "train_val_split"]

BinarizeMode = Literal["none", "threshold", "dynamic"]
_MODES = ("none", "threshold", "dynamic")


def binarize(
    images: Tensor,
    mode: BinarizeMode,
    *,
    threshold: float = 0.5,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Turn grey levels in [0, 1] into {0, 1} values.

    Args:
        images: ``(N, *shape)`` floating tensor with values in [0, 1].
        mode: ``"none"`` returns ``images`` unchanged; ``"threshold"`` gives 1 where
            ``images > threshold``; ``"dynamic"`` draws ``Bernoulli(images)``, a fresh sample on
            every call (Salakhutdinov & Murray, 2008).
        threshold: Cut-off for ``"threshold"``.
        generator: Random generator for ``"dynamic"``, on the device of ``images``.

    Returns:
        Tensor with the shape and dtype of ``images``.
    """
    if mode == "none":
        return images
    if mode == "threshold":
        return (images > threshold).to(images.dtype)
    if mode == "dynamic":
        return torch.bernoulli(images, generator=generator)
    raise ValueError(f"unknown binarize mode {mode!r}; choose one of {_MODES}")


@dataclass(frozen=True)
class Binarize:
    """A ``TensorBatcher`` transform that binarises ``batch[key]`` with :func:`binarize`.

    Args:
        mode: See :func:`binarize`; ``"dynamic"`` is the usual choice per batch.
        key: Which tensor of the batch to binarise.
        threshold: Cut-off for ``"threshold"``.
    """

    mode: BinarizeMode = "dynamic"
    key: str = "x"
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ValueError(f"unknown binarize mode {self.mode!r}; choose one of {_MODES}")

    def __call__(self, batch: dict[str, Tensor], generator: torch.Generator) -> dict[str, Tensor]:
        """Return a copy of ``batch`` with ``batch[key]`` binarised."""
        x = binarize(batch[self.key], self.mode, threshold=self.threshold, generator=generator)
        return {**batch, self.key: x}


def train_val_split(num_items: int, val_fraction: float, *, seed: int) -> tuple[Tensor, Tensor]:
    """Split ``range(num_items)`` into training and validation indices, the same for a seed.

    Args:
        num_items: How many items there are.
        val_fraction: Share held out for validation, in [0, 1); rounded to a whole count.
        seed: Seed of the permutation.

    Returns:
        ``(train_idx, val_idx)``: sorted int64 tensors that are disjoint and together cover
        ``range(num_items)``; ``val_idx`` is empty when ``val_fraction == 0``.
    """
    if num_items < 1:
        raise ValueError(f"cannot split {num_items} items; the dataset is empty")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    num_val = round(num_items * val_fraction)
    if val_fraction > 0 and not 0 < num_val < num_items:
        raise ValueError(
            f"val_fraction={val_fraction} of {num_items} items gives {num_val} validation and "
            f"{num_items - num_val} training items; both must be non-empty, so choose a "
            "fraction that leaves at least one item on each side (or 0 for no validation)"
        )
    perm = torch.randperm(num_items, generator=torch.Generator().manual_seed(seed))
    return perm[num_val:].sort().values, perm[:num_val].sort().values
