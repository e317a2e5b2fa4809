"""Where training runs: the device, this process's place among data-parallel ones, the precision."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

from plausible.training.config import TrainerConfig
from plausible.training.distributed import DistributedContext, setup_distributed

__all__ = [
    "SMALL_MODEL_PARAMETERS",
    "autocast",
    "choose_threads",
    "cpu_has_native_bf16",
    "place_training",
    "resolve_device",
]

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; other names are checked for availability."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {name!r} was asked for but CUDA is not available; use 'cpu' or 'auto'"
        )
    return device


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (AVX512-BF16 or AMX tiles)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    # Private torch helpers that older releases lack: a missing one means "no".
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def place_training(config: TrainerConfig) -> tuple[torch.device, DistributedContext]:
    """Resolve the device and join the process group (if launched by torchrun).

    Under data parallelism on GPUs each process takes the GPU of its local rank.

    Returns:
        The training device and this process's place among the data-parallel processes.
    """
    device = resolve_device(config.device)
    ctx = setup_distributed(device.type)
    if ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if config.precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        log.warning(
            "training.precision = 'bf16' on a CPU without native bfloat16 instructions "
            "(AVX512-BF16 or AMX): autocast emulates them and is slower than fp32 here; "
            "set training.precision = 'fp32'"
        )
    return device, ctx


#: Below this many parameters a CPU training step gains nothing from a second thread, and loses
#: several-fold when another process competes for the cores (threads then wait at every barrier
#: for one that is descheduled): ``num_threads = 0`` trains such models on one thread.
SMALL_MODEL_PARAMETERS = 500_000


def choose_threads(config: TrainerConfig, model: torch.nn.Module, device: torch.device) -> int:
    """Set and return the CPU threads of a training run.

    ``training.num_threads`` when given; else (``0``, automatic) one thread for a model under
    :data:`SMALL_MODEL_PARAMETERS` parameters trained on the CPU, and PyTorch's default otherwise.
    See docs/training.md for the measurements behind the rule.
    """
    if config.num_threads:
        threads = config.num_threads
    elif (
        device.type == "cpu" and sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMETERS
    ):
        threads = 1
    else:
        return torch.get_num_threads()
    torch.set_num_threads(threads)
    return threads


def autocast(precision: str, device: torch.device) -> AbstractContextManager[Any]:
    """The autocast context of ``precision`` on ``device`` (a no-op for fp32).

    bf16 autocast runs the networks' matrix products in bfloat16 (the heads turn their outputs
    back to float32 for the densities). On a CPU it pays only with native bfloat16 instructions
    (AVX512-BF16, AMX): W1 trains 1.66x as fast on such a CPU.
    """
    if precision == "bf16" and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
