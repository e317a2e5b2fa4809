"""Data-parallel training through ``torch.distributed`` (DDP), launched by ``torchrun``.

``torchrun`` (or ``plausible train --devices N``) starts one process per device and sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``. Each process runs
the same trainer: the batcher gives it every ``WORLD_SIZE``-th example of the shared epoch
permutation, gradients are averaged across processes after each backward pass, logged sums are
reduced across processes, and only rank 0 writes the run folder.

Gradients are averaged with one all-reduce of all gradients flattened together, rather than by
wrapping the model in ``DistributedDataParallel``: DDP synchronises only through ``forward``,
while objectives here call other methods too (``encode``, ``decode``, ``prior``...).
"""

from __future__ import annotations

import atexit
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

__all__ = [
    "DistributedContext",
    "all_reduce_sum",
    "all_true",
    "average_gradients",
    "broadcast_module",
    "setup_distributed",
    "shutdown_distributed",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands among the data-parallel processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes files and prints."""
        return self.rank == 0


def setup_distributed(device_type: str) -> DistributedContext:
    """Join the process group described by torchrun's environment variables, if any.

    Args:
        device_type: ``"cuda"`` selects the NCCL backend, anything else gloo.

    Returns:
        The context; ``world_size == 1`` when not launched by torchrun.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        # Without this, gloo's threads are still running at interpreter exit and the process
        # aborts ("terminate called without an active exception") after training succeeded.
        atexit.register(_destroy_process_group)
        log.info("joined %s process group as rank %d of %d", backend, rank, world_size)
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank)


def all_reduce_sum(values: Tensor, ctx: DistributedContext) -> Tensor:
    """Sum a tensor over all processes (identity when not distributed)."""
    if ctx.enabled:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def all_true(flags: Tensor, ctx: DistributedContext) -> Tensor:
    """Element-wise, whether each of ``flags`` holds on every process (any shape, one
    all-reduce); all processes must skip a bad batch together."""
    if not ctx.enabled:
        return flags
    value = flags.to(torch.int32).reshape(-1)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return value.reshape(flags.shape).bool()


def average_gradients(module: nn.Module, ctx: DistributedContext) -> None:
    """Replace every gradient by its mean over the processes (one all-reduce per call)."""
    if not ctx.enabled:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= ctx.world_size
    for grad, synced in zip(grads, _unflatten_dense_tensors(flat, grads), strict=True):
        grad.copy_(synced)


def broadcast_module(module: nn.Module, ctx: DistributedContext) -> None:
    """Copy rank 0's parameters and buffers to every process, so all start identical."""
    if not ctx.enabled:
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)


def shutdown_distributed(ctx: DistributedContext) -> None:
    """Leave the process group once every rank has arrived (no-op when not distributed)."""
    if not ctx.enabled or not dist.is_initialized():
        return
    dist.barrier()
    dist.destroy_process_group()


def _destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
