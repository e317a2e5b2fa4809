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


_MOTION_ASF = """:version 1.10
:name tiny
:units
  mass 1.0
  length 0.45
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name spine
     direction 0 1 0
     length 2.5
     axis 0 0 0  XYZ
    dof rx ry rz
  end
  begin
     id 2
     name arm
     direction 1 0 0
     length 1.5
     axis 0 0 0  XYZ
    dof rz
  end
:hierarchy
  begin
    root spine
    spine arm
  end
"""


@pytest.fixture(scope="session")
def tiny_motion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 400-frame ASF/AMC pair of slow sinusoidal joint angles (10 channels)."""
    folder = tmp_path_factory.mktemp("tiny-motion")
    (folder / "tiny.asf").write_text(_MOTION_ASF)
    t = np.arange(400) / 30.0
    lines = [":FULLY-SPECIFIED", ":DEGREES"]
    for i, s in enumerate(t, start=1):
        root = [np.sin(s), 0.0, np.cos(s), 5 * np.sin(2 * s), 0.0, 0.0]
        lines += [
            str(i),
            "root " + " ".join(f"{v:.5f}" for v in root),
            "spine " + " ".join(f"{v:.5f}" for v in (10 * np.sin(s), 5 * np.cos(s), 0.0)),
            f"arm {30 * np.sin(3 * s):.5f}",
        ]
    (folder / "tiny.amc").write_text("\n".join(lines) + "\n")
    return folder
