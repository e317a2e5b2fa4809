"""The demo, SIGKILLed at fixed times from its start, resumes with the one documented command.

Marked slow (five full demo runs): ``pytest -m slow tests/reliability/test_rel_kill_schedule.py``.
The kill times span data loading, the first epochs before any checkpoint, and later epochs; which
of these a time lands in depends on the machine, so the fast suite also kills at chosen points
(``test_rel_kill_before_checkpoint.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

PLAUSIBLE = [sys.executable, "-m", "plausible.cli.main"]


@pytest.mark.parametrize("seconds", [4, 7, 11, 16, 23], ids=lambda s: f"{s}s")
def test_the_demo_killed_at_a_time_resumes_and_samples(tmp_path: Path, seconds: int) -> None:
    run = tmp_path / "RUN"
    env = {**os.environ, "PLAUSIBLE_NO_TENSORBOARD": "1"}
    child = subprocess.Popen(
        [*PLAUSIBLE, "train", "vae-digits", "--out", str(run)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        child.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        child.wait()
    started = time.monotonic()
    resumed = subprocess.run(
        [*PLAUSIBLE, "train", "vae-digits", "--out", str(run), "--resume"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    out = tmp_path / "samples.npy"
    sampled = subprocess.run(
        [*PLAUSIBLE, "sample", str(run), "-n", "16", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert sampled.returncode == 0, sampled.stdout + sampled.stderr
    samples = np.load(out)
    assert samples.shape == (16, 1, 8, 8) and np.isfinite(samples).all()
    print(f"killed at {seconds} s; resumed and finished in {time.monotonic() - started:.0f} s")
