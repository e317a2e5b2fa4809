"""Shared test set-up: no network, no TensorBoard, few threads, fixed seeds."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("PLAUSIBLE_OFFLINE", "1")
os.environ.setdefault("PLAUSIBLE_NO_TENSORBOARD", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
