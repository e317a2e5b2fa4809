"""Fixtures for CLI tests: a tiny Fashion-MNIST-shaped folder of IDX files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from plausible.data import write_idx


@pytest.fixture(scope="session")
def tiny_idx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """96 train and 40 test 28x28 images of blurred bars, labels 0..9, written as .gz IDX."""
    folder = tmp_path_factory.mktemp("tiny-idx")
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 96), ("t10k", 40)):
        labels = np.arange(n, dtype=np.uint8) % 10
        images = np.zeros((n, 28, 28), dtype=np.uint8)
        for i, label in enumerate(labels):
            images[i, 4 + 2 * label : 8 + 2 * label, 3:25] = 255
        images = np.clip(images + rng.integers(0, 40, images.shape), 0, 255).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images, compress=True)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels, compress=True)
    return folder
