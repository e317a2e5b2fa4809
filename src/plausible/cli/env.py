"""``plausible env``: versions and devices, for bug reports."""

from __future__ import annotations

import platform
import sys

import typer

__all__ = ["env"]


def env() -> None:
    """Print versions of plausible and its dependencies and the devices PyTorch sees.

    Example:

        plausible env
    """
    import numpy
    import torch

    from plausible._version import __version__
    from plausible.training.device import cpu_has_native_bf16

    lines = [
        f"plausible  {__version__}",
        f"python     {sys.version.split()[0]} ({platform.platform()})",
        f"torch      {torch.__version__} (threads: {torch.get_num_threads()})",
        f"numpy      {numpy.__version__}",
        f"cuda       {torch.cuda.is_available()}"
        + (
            f" ({torch.cuda.device_count()} x {torch.cuda.get_device_name(0)})"
            if torch.cuda.is_available()
            else ""
        ),
        f"mps        {torch.backends.mps.is_available()}",
        "cpu bf16   "
        + (
            "native (training.precision = 'bf16' trains faster on this CPU)"
            if cpu_has_native_bf16()
            else "emulated (keep training.precision = 'fp32' on this CPU)"
        ),
    ]
    for name in ("matplotlib", "sklearn", "safetensors", "typer", "rich", "tensorboard"):
        try:
            module = __import__(name)
            lines.append(f"{name:<10} {getattr(module, '__version__', '?')}")
        except ImportError:
            lines.append(f"{name:<10} not installed")
    typer.echo("\n".join(lines))
