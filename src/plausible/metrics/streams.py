"""Per-example random streams: seeded draws that do not depend on batching or chunking.

An estimator that draws its samples from one global stream gets different numbers when the
batch size or the memory budget changes how the draws are split. Here every example ``i`` owns a
stream seeded from ``(seed, i)``, and all its samples are drawn from it in one go, so the same
seed gives the same numbers however the work is divided.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

__all__ = [
    "ExampleDraws",
    "evaluating",
    "example_seed",
    "is_reparameterisable",
    "reparameterised",
    "standard_noise",
]


def example_seed(seed: int, index: int) -> int:
    """A 63-bit seed for example ``index`` of an evaluation seeded with ``seed``."""
    digest = hashlib.blake2b(f"{int(seed)}:{int(index)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def standard_noise(
    seed: int,
    first: int,
    count: int,
    num_samples: int,
    shape: tuple[int, ...],
    *,
    like: Tensor,
) -> Tensor:
    """Standard normal draws of examples ``first .. first + count - 1``, each from its own stream.

    Args:
        seed: Seed of the evaluation.
        first: Index of the first example in the whole data set (not in the batch).
        count: Number of examples.
        num_samples: Draws per example (all of them, so chunks can slice them).
        shape: Shape of one draw.
        like: Tensor whose device and dtype the draws take.

    Returns:
        ``(num_samples, count, *shape)`` noise.
    """
    gen = torch.Generator(device=like.device)
    out = torch.empty((count, num_samples, *shape), device=like.device, dtype=like.dtype)
    for j in range(count):
        gen.manual_seed(example_seed(seed, first + j))
        out[j] = torch.randn(
            (num_samples, *shape), generator=gen, device=like.device, dtype=like.dtype
        )
    return out.transpose(0, 1)


def _normal(dist: Distribution) -> Normal | None:
    base = dist.base_dist if isinstance(dist, Independent) else dist
    return base if isinstance(base, Normal) else None


def reparameterised(dist: Distribution, noise: Tensor) -> Tensor:
    """``loc + scale * noise``: the draws of a (factorised) Gaussian ``dist`` for given noise.

    Args:
        dist: ``Normal`` or ``Independent(Normal)`` with batch shape ``(B,)`` (any event shape).
        noise: ``(S, B, *event_shape)`` standard normal draws.

    Returns:
        ``(S, B, *event_shape)`` samples, differentiable in the distribution's parameters.

    Raises:
        TypeError: For any other distribution (check :func:`is_reparameterisable` first).
    """
    base = _normal(dist)
    if base is None:
        raise TypeError(
            f"per-example streams draw from Gaussian proposals only, got {type(dist).__name__}"
        )
    return base.loc + base.scale * noise


def is_reparameterisable(dist: Distribution) -> bool:
    """Whether :func:`reparameterised` can draw from ``dist``."""
    return _normal(dist) is not None


class ExampleDraws:
    """The ``num_samples`` draws of a batch's proposal, handed out chunk by chunk.

    Gaussian proposals (every encoder, prior and recognition network here) draw from per-example
    streams, so the values do not depend on the batching. Any other distribution draws from the
    global random stream, which the caller seeds (see :func:`evaluating`); its values then depend
    on how the samples are chunked.

    Args:
        dist: Proposal with batch shape ``(B,)``.
        seed: Seed of the evaluation.
        first: Index in the data set of the batch's first example.
        num_samples: Draws per example in all chunks together.
    """

    def __init__(self, dist: Distribution, *, seed: int, first: int, num_samples: int) -> None:
        self.dist = dist
        base = _normal(dist)
        self.noise = (
            None
            if base is None
            else standard_noise(
                seed,
                first,
                dist.batch_shape[0],
                num_samples,
                tuple(dist.event_shape),
                like=base.loc,
            )
        )

    def chunk(self, start: int, size: int) -> Tensor:
        """Draws ``start .. start + size - 1`` of every example: ``(size, B, *event_shape)``."""
        if self.noise is None:
            return self.dist.sample((size,))
        return reparameterised(self.dist, self.noise[start : start + size])


@contextlib.contextmanager
def evaluating(module: nn.Module, seed: int | None) -> Iterator[torch.device]:
    """Eval mode and a seeded, forked global RNG (the caller's random stream is left untouched).

    Yields:
        The module's device.
    """
    device = next(module.parameters()).device
    was_training = module.training
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        module.eval()
        try:
            yield device
        finally:
            module.train(was_training)
