"""A run killed before its first checkpoint, or while loading its data, resumes with one command.

The folder of such a run holds only ``config.json``: ``--resume`` starts it from step 0 with the
stored config, and a plain ``train`` into it does the same; a command describing another run is
refused with the differing keys. Kills after a checkpoint resume from it (the exact-resume
property itself is tested in ``test_rel_kill_resume.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from plausible.training import load_metrics
from plausible.training.checkpointing import find_checkpoint

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork server needs os.fork")

QUICK = [
    "--set",
    "training.epochs=2",
    "--set",
    "task.max_train=64",
    "--set",
    "task.max_test=16",
    "--set",
    "evaluation.num_samples=4",
]

# Where the kill lands: while the data set is read (no file written yet, or only config.json),
# and after config.json, the data and the model, as training starts (before any checkpoint).
HOLDS = {
    "data-loading": "plausible.data.datasets:ImageDataset.__post_init__",
    "before-first-checkpoint": "plausible.training.trainer:Trainer.fit",
}


def _kill_at(launcher, run: Path, tmp_path: Path, hold: str, argv: list[str]) -> None:
    marker = tmp_path / "held"
    marker.unlink(missing_ok=True)
    log = tmp_path / "killed.log"
    launcher.start(
        {"kind": "cli", "argv": argv, "log": str(log), "hold": hold, "marker": str(marker)}
    )
    launcher.wait_until(marker.exists, what=f"the child reached {hold} (see {log})")
    with contextlib.suppress(ProcessLookupError):
        os.kill(launcher.pid, signal.SIGKILL)
    assert launcher.wait() == -signal.SIGKILL


def _cli(launcher, tmp_path: Path, name: str, *argv: str) -> tuple[int, str]:
    log = tmp_path / f"{name}.log"
    code = launcher.run({"kind": "cli", "argv": list(argv), "log": str(log)})
    return code, log.read_text()


@pytest.mark.parametrize("where", sorted(HOLDS), ids=str)
@pytest.mark.parametrize("then", ["resume", "plain"], ids=str)
def test_a_run_killed_before_its_first_checkpoint_starts_again(
    launcher, tmp_path: Path, where: str, then: str
) -> None:
    run = tmp_path / "run"
    start = ["train", "vae-digits", "--out", str(run), *QUICK]
    _kill_at(launcher, run, tmp_path, HOLDS[where], start)
    assert find_checkpoint(run) is None and not (run / "model.safetensors").exists()
    if (run / "config.json").exists():
        # A stale row of the killed attempt must not survive into the restarted run.
        (run / "metrics.jsonl").write_text('{"split": "train", "step": 999}\n')

    again = start + (["--resume"] if then == "resume" else [])
    code, out = _cli(launcher, tmp_path, "again", *again)
    assert code == 0, out
    if (run / "config.json").exists() and where != "data-loading":
        assert "never reached its first checkpoint" in " ".join(out.split())
    assert all(r.get("step") != 999 for r in load_metrics(run / "metrics.jsonl"))
    code, out = _cli(
        launcher,
        tmp_path,
        "sample",
        "sample",
        str(run),
        "-n",
        "4",
        "--out",
        str(tmp_path / "s.npy"),
    )
    assert code == 0, out
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (4, 1, 8, 8) and np.isfinite(samples).all()


def test_a_run_killed_after_a_checkpoint_resumes_from_it(launcher, tmp_path: Path) -> None:
    run = tmp_path / "run"
    start = [
        "train",
        "vae-digits",
        "--out",
        str(run),
        *QUICK,
        "--set",
        "training.checkpoint_every=1",
    ]
    log = tmp_path / "killed.log"
    launcher.start({"kind": "cli", "argv": start, "log": str(log)})
    launcher.wait_until(lambda: find_checkpoint(run) is not None, what=f"a checkpoint (see {log})")
    with contextlib.suppress(ProcessLookupError):
        os.kill(launcher.pid, signal.SIGKILL)
    launcher.wait()  # killed, or finished first on a fast machine: both must resume
    code, out = _cli(launcher, tmp_path, "again", *start, "--resume")
    assert code == 0, out
    assert "never reached its first checkpoint" not in " ".join(out.split())
    code, out = _cli(
        launcher,
        tmp_path,
        "sample",
        "sample",
        str(run),
        "-n",
        "4",
        "--out",
        str(tmp_path / "s.npy"),
    )
    assert code == 0, out


def test_a_different_recipe_is_refused_with_the_differing_keys(launcher, tmp_path: Path) -> None:
    run = tmp_path / "run"
    start = ["train", "vae-digits", "--out", str(run), *QUICK]
    _kill_at(launcher, run, tmp_path, HOLDS["before-first-checkpoint"], start)
    code, out = _cli(launcher, tmp_path, "other", *start, "--set", "model.latent_dim=3", "--resume")
    assert code == 2, out
    assert "model.latent_dim: run 8, now 3" in out
    assert json.loads((run / "config.json").read_text())["model"]["latent_dim"] == 8


def test_resume_into_a_folder_without_a_run_names_the_command(launcher, tmp_path: Path) -> None:
    code, out = _cli(
        launcher,
        tmp_path,
        "none",
        "train",
        "vae-digits",
        "--out",
        str(tmp_path / "nothing"),
        "--resume",
    )
    assert code == 2, out
    assert "holds no run to resume" in out and "without --resume" in out and "does not exist" in out
