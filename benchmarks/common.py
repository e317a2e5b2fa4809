"""Shared benchmark helpers: machine description and JSON results."""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource
import sys
from pathlib import Path
from typing import Any

import torch

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
