"""One pass over the validation data: the mean loss and terms, with noise of its own."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from plausible.data.batching import TensorBatcher
from plausible.objectives.output import ObjectiveOutput

__all__ = ["validation_means"]


def validation_means(
    step: Callable[[dict[str, Tensor]], ObjectiveOutput],
    batcher: TensorBatcher,
    *,
    seed: int,
    device: torch.device,
) -> dict[str, float]:
    """Per-example means of the loss and each term over every validation batch.

    The sums stay on the device and are read once at the end. The pass draws its noise from a
    forked generator seeded with ``seed``, so it never shifts the training RNG stream.

    Args:
        step: The validation step, ``batch -> ObjectiveOutput``.
        batcher: The validation batches, in a fixed order.
        seed: Seed of the pass's own noise.
        device: The training device (its CUDA generator is forked too).

    Returns:
        ``{"loss": ..., <term>: ...}`` in nats per example (as the objective counts them).
    """
    sums: dict[str, Tensor] = {}
    count = 0
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for batch in batcher.epoch_batches(0):
            out = step(batch)
            count += out.loss.shape[0]
            for key, value in {"loss": out.loss, **out.terms}.items():
                total = value.float().sum()
                sums[key] = sums[key] + total if key in sums else total
    totals = torch.stack(list(sums.values())).tolist()
    return {k: v / count for k, v in zip(sums, totals, strict=True)}
