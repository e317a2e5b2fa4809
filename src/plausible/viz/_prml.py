"""The PRML look shared by the density and kinematics figures: colours and small helpers."""

from __future__ import annotations

import numpy as np

from plausible.viz._common import ArrayLike, to_numpy

__all__ = [
    "DATA_COLOUR",
    "FIT_COLOUR",
    "KERNEL_COLOURS",
    "flat",
    "hypothesis_colour",
    "kernel_colour",
]

# PRML draws data as open green circles and fits in red; kernels in blue, red, green.
DATA_COLOUR = "#2ca02c"
FIT_COLOUR = "#d62728"
KERNEL_COLOURS = (
    "#1f4fd1",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
)


def kernel_colour(k: int) -> str:
    """Colour of mixture kernel ``k`` (cycling)."""
    return KERNEL_COLOURS[k % len(KERNEL_COLOURS)]


# Hypotheses drawn next to a red least-squares answer avoid red themselves.
_HYPOTHESIS_COLOURS = tuple(c for c in KERNEL_COLOURS if c != FIT_COLOUR)


def hypothesis_colour(rank: int) -> str:
    """Colour of the hypothesis of weight rank ``rank`` (never the least-squares red)."""
    return _HYPOTHESIS_COLOURS[rank % len(_HYPOTHESIS_COLOURS)]


def flat(a: ArrayLike) -> np.ndarray:
    """``a`` as a flat float64 array."""
    return np.asarray(to_numpy(a), dtype=np.float64).reshape(-1)
