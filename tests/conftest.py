"""Shared test set-up: no network, no TensorBoard, few threads, fixed seeds."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

os.environ.setdefault("PLAUSIBLE_OFFLINE", "1")
os.environ.setdefault("PLAUSIBLE_NO_TENSORBOARD", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _distribution_checks() -> Iterator[None]:
    """torch.compile turns torch.distributions' argument checks off for the whole process; put
    them back so that no test depends on whether a compile test ran before it."""
    from torch.distributions import Distribution

    checks = Distribution._validate_args
    yield
    Distribution.set_default_validate_args(checks)
