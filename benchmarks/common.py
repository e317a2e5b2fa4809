"""Shared benchmark helpers: machine description, JSON results and the interleaved race of
plausible's trainer against a plain PyTorch loop."""

from __future__ import annotations

import datetime as dt
import logging
import os
import platform
import resource
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from plausible.training import Trainer

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """Where and with what a benchmark ran."""
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": "cpu",
    }
    if torch.cuda.is_available():
        info["device"] = torch.cuda.get_device_name(0)
    return info


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Write ``results/<name>.json`` atomically and return the path."""
    from plausible.io import atomic_write_json

    path = RESULTS / f"{name}.json"
    atomic_write_json(path, result)
    return path


def race(
    trainer: Trainer,
    fit_epoch: Callable[[], object],
    reference_epoch: Callable[[], float],
    *,
    epochs: int,
    examples: int,
    unit: str,
) -> dict[str, Any]:
    """Train both loops for ``epochs`` epochs with their epochs interleaved (plausible epoch 1,
    reference epoch 1, ...), so that load from other processes falls on both alike.

    Args:
        trainer: Plausible's trainer; ``fit_epoch`` continues its ``fit`` by one epoch (its
            ``config.epochs`` is raised here before each call).
        fit_epoch: Runs ``trainer.fit`` on the training data.
        reference_epoch: Runs one epoch of the plain loop and returns its seconds.
        epochs: Epochs of each loop, at least 2 (the first is warm-up and left out).
        examples: Training examples per epoch.
        unit: Name of an example in the result keys (``images``, ``sequences``).

    Returns:
        Throughputs (median over epochs 2..N, ``{unit}`` per second), their per-epoch ratios
        and median, every epoch's seconds and the total training seconds of both loops.
    """
    if epochs < 2:
        raise ValueError(
            f"epochs must be >= 2 (throughput is the median of epochs 2..N), not {epochs}"
        )
    ref_times = []
    for epoch in range(epochs):
        trainer.config.epochs = epoch + 1
        fit_epoch()
        ref_times.append(reference_epoch())
        logging.info(
            "epoch %d: plausible %.1fs, reference %.1fs",
            epoch + 1,
            trainer.epoch_times[-1],
            ref_times[-1],
        )
    ours = [examples / t for t in trainer.epoch_times[1:]]
    theirs = [examples / t for t in ref_times[1:]]
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    return {
        f"plausible_{unit}_per_s": statistics.median(ours),
        f"reference_{unit}_per_s": statistics.median(theirs),
        "throughput_ratio": statistics.median(ratios),
        "throughput_ratios_per_epoch": ratios,
        "plausible_epoch_times_s": list(trainer.epoch_times),
        "reference_epoch_times_s": ref_times,
        "plausible_train_time_s": sum(trainer.epoch_times),
        "reference_train_time_s": sum(ref_times),
    }
