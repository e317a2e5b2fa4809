"""Batches taken by index from tensors held in memory, reproducible per (seed, epoch, batch)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator, Mapping

import torch
from torch import Tensor

__all__ = ["BatchTransform", "TensorBatcher"]

BatchTransform = Callable[[dict[str, Tensor], torch.Generator], dict[str, Tensor]]


def _derive_seed(tag: str, *numbers: int) -> int:
    """A 63-bit seed that is a pure function of its arguments (stable across runs and machines)."""
    text = ",".join([tag, *(str(int(n)) for n in numbers)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


class TensorBatcher:
    """Iterate over equally long tensors in batches, with no per-item Python work.

    The permutation of epoch ``e`` depends only on ``(seed, e)`` and the random generator handed
    to ``transform`` for batch ``i`` only on ``(seed, e, i, rank)``, so
    ``epoch_batches(e, start=i)`` resumes mid-epoch with exactly the batches an uninterrupted run
    would have produced.

    For data-parallel training, rank ``r`` of ``world_size`` takes every ``world_size``-th item
    of the epoch permutation, padded by wrapping around so every rank gets as many batches: the
    ranks' batch ``i`` together are the single-process batch ``i`` of size
    ``world_size * batch_size`` (when ``world_size`` divides the dataset length).

    Args:
        tensors: Named tensors with the same first dimension, e.g. ``{"x": images, "label": y}``.
        batch_size: Items per batch on this rank.
        shuffle: Draw a new permutation each epoch; otherwise keep the stored order.
        drop_last: Drop the last, short batch of each epoch.
        seed: Seed of the permutations and of the transform's generators.
        device: Move the tensors there once, up front; ``None`` keeps them where they are.
        transform: ``(batch, generator) -> batch`` applied to each batch, e.g. ``Binarize()``;
            ``generator`` lives on the data's device.
        rank: This process's rank in ``[0, world_size)``.
        world_size: Number of data-parallel processes.
    """

    def __init__(
        self,
        tensors: Mapping[str, Tensor],
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        device: torch.device | str | None = None,
        transform: BatchTransform | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if not tensors:
            raise ValueError("TensorBatcher needs at least one tensor, got an empty mapping")
        lengths = {key: len(t) for key, t in tensors.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"all tensors must have the same length, got lengths {lengths}")
        num_items = next(iter(lengths.values()))
        if num_items == 0:
            raise ValueError("the dataset is empty (all tensors have length 0); nothing to batch")
        for key, t in tensors.items():
            # Checked once here so a NaN in the data is named up front, not met as a NaN loss.
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                bad = ~torch.isfinite(t.reshape(len(t), -1)).all(1)
                raise ValueError(
                    f"{key} holds {int((~torch.isfinite(t)).sum())} NaN or infinite values (first "
                    f"in example {int(bad.nonzero()[0])}); clean the data or drop those examples"
                )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(
                f"need world_size >= 1 and 0 <= rank < world_size, got {rank=}, {world_size=}"
            )
        self.tensors = {k: t.to(device) if device is not None else t for k, t in tensors.items()}
        devices = {t.device for t in self.tensors.values()}
        if len(devices) != 1:
            raise ValueError(
                f"tensors are on different devices {devices}; pass device= to move them"
            )
        self.device = devices.pop()
        self.num_items = num_items
        self.num_items_per_rank = math.ceil(num_items / world_size)
        if drop_last and batch_size > self.num_items_per_rank:
            raise ValueError(
                f"batch_size={batch_size} is larger than the {self.num_items_per_rank} items per "
                f"rank ({num_items} items, world_size={world_size}), so drop_last=True would "
                "leave no batch; use a smaller batch_size or drop_last=False"
            )
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.transform = transform
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0  # the epoch that the next plain ``iter(batcher)`` yields

    def __len__(self) -> int:
        """Batches per epoch on this rank."""
        if self.drop_last:
            return self.num_items_per_rank // self.batch_size
        return math.ceil(self.num_items_per_rank / self.batch_size)

    def epoch_indices(self, epoch: int) -> Tensor:
        """``(num_items_per_rank,)`` int64 indices this rank visits in ``epoch``, on ``device``."""
        if self.shuffle:
            gen = torch.Generator().manual_seed(_derive_seed("perm", self.seed, epoch))
            order = torch.randperm(self.num_items, generator=gen)
        else:
            order = torch.arange(self.num_items)
        total = self.num_items_per_rank * self.world_size
        if total > self.num_items:  # pad by wrapping around
            order = order.repeat(math.ceil(total / self.num_items))[:total]
        return order[self.rank :: self.world_size].to(self.device)

    def epoch_batches(self, epoch: int, start: int = 0) -> Iterator[dict[str, Tensor]]:
        """Yield the batches of ``epoch`` from batch index ``start`` on.

        Args:
            epoch: Epoch number (>= 0); fixes the permutation and the transform's randomness.
            start: Index of the first batch, in ``[0, len(self)]``, to resume mid-epoch.

        Yields:
            ``{key: tensor[indices]}`` with ``batch_size`` items (fewer in a last short batch),
            after ``transform`` when one is set.
        """
        if epoch < 0 or not 0 <= start <= len(self):
            raise ValueError(
                f"need epoch >= 0 and 0 <= start <= {len(self)} (batches per epoch), "
                f"got {epoch=}, {start=}"
            )
        return self._batches(self.epoch_indices(epoch), epoch, start)

    def _batches(self, indices: Tensor, epoch: int, start: int) -> Iterator[dict[str, Tensor]]:
        for i in range(start, len(self)):
            rows = indices[i * self.batch_size : (i + 1) * self.batch_size]
            batch = {k: t.index_select(0, rows) for k, t in self.tensors.items()}
            if self.transform is not None:
                gen = torch.Generator(device=self.device)
                gen.manual_seed(_derive_seed("transform", self.seed, epoch, i, self.rank))
                batch = self.transform(batch, gen)
            yield batch

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        """Yield the batches of epoch ``self.epoch`` and advance ``self.epoch`` by one."""
        epoch, self.epoch = self.epoch, self.epoch + 1
        return self.epoch_batches(epoch)
