"""Markdown cells for run documents: numbers, estimates with their standard errors, mappings."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["ESTIMATE_KEYS", "format_estimate", "format_value"]

#: Keys that make a mapping an estimate (one cell "m ± s"), not a nested table.
ESTIMATE_KEYS = frozenset({"mean", "stderr"})


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.4g}"


def format_estimate(mean: float, stderr: float) -> str:
    """``"m ± s"`` with the standard error to two significant figures and the mean to as many
    decimals, the usual way to quote a measurement (``23.00 ± 0.21``, ``12.740 ± 0.068``).

    A standard error that is zero, not finite or absent falls back to four significant figures.
    """
    if not (math.isfinite(mean) and math.isfinite(stderr) and stderr > 0):
        return f"{_number(mean)} ± {_number(stderr)}"
    decimals = min(max(0, 1 - math.floor(math.log10(stderr))), 8)
    return f"{mean:.{decimals}f} ± {stderr:.{decimals}f}"


def format_value(value: Any) -> str:
    """Format one summary value for a markdown cell.

    Floats get 4 significant figures, integers stay exact, an estimate
    ``{"mean": m, "stderr": s, "num_samples": k}`` becomes ``"m ± s (K=k)"`` (see
    :func:`format_estimate`), other mappings
    ``"a: 1, b: 2"``, sequences are comma-joined, ``None`` is an em dash, 0-d tensors and numpy
    scalars count as numbers. ``|`` is escaped so the table stays intact.
    """
    if isinstance(value, torch.Tensor | np.ndarray | np.generic) and value.ndim == 0:
        value = value.item()
    if value is None:
        text = "—"
    elif isinstance(value, numbers.Real):
        text = _number(value)
    elif isinstance(value, Mapping):
        if set(value) >= ESTIMATE_KEYS:
            text = format_estimate(float(value["mean"]), float(value["stderr"]))
            if "num_samples" in value:
                text += f" (K={format_value(value['num_samples'])})"
        else:
            text = ", ".join(f"{k}: {format_value(v)}" for k, v in value.items())
    elif isinstance(value, str):
        text = value
    elif isinstance(value, Iterable):
        text = ", ".join(format_value(v) for v in value)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")
