"""Ctrl-C and SIGTERM stop training between two steps after saving; a second signal stops at once.

Signals go to real processes (forked by the fork server in ``rel_launcher.py``); the CLI test runs
the ``plausible train`` command's own code and checks its exit code and message.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from plausible.training.checkpointing import find_checkpoint, read_checkpoint

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork server needs os.fork")


def _started(launcher, run: Path, progress: Path) -> bool:
    return bool(launcher.progress_steps(progress)) and find_checkpoint(run) is not None


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_signal_saves_the_step_it_finished_and_resume_is_exact(
    launcher, reference_run: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    run, progress, log = tmp_path / "run", tmp_path / "progress.txt", tmp_path / "child.log"
    pid = launcher.start(launcher.train_job(run, log, progress=str(progress), pace=0.02))
    launcher.wait_until(lambda: _started(launcher, run, progress), what="the first step")
    os.kill(pid, sig)
    assert launcher.wait() == 130, log.read_text()  # TrainingInterrupted, not a crash
    text = log.read_text()
    assert f"{sig.name} received: saving a checkpoint" in text
    assert "a checkpoint was saved and --resume continues from it" in text
    # Graceful: the checkpoint holds the last step that finished; no work is lost.
    _, state, _ = read_checkpoint(find_checkpoint(run))
    assert state["step"] == max(launcher.progress_steps(progress))
    assert not (run / "checkpoint.tmp").exists()
    assert launcher.run(launcher.train_job(run, tmp_path / "resume.log", resume=True)) == 0
    launcher.assert_same_run(reference_run, run)


def test_a_second_ctrl_c_stops_at_once_and_keeps_the_last_checkpoint(
    launcher, reference_run: Path, tmp_path: Path
) -> None:
    run, progress, log = tmp_path / "run", tmp_path / "progress.txt", tmp_path / "child.log"
    # Checkpoints take seconds (sleeps in the writer), so both signals land inside one.
    job = launcher.train_job(run, log, progress=str(progress), slow=0.3)
    pid = launcher.start(job)
    launcher.wait_until(lambda: _started(launcher, run, progress), what="the first step")
    before = read_checkpoint(find_checkpoint(run))[1]["step"]
    os.kill(pid, signal.SIGINT)
    time.sleep(0.1)
    os.kill(pid, signal.SIGINT)
    assert launcher.wait() == 130, log.read_text()
    assert "stopped at once by a second SIGINT, without saving" in log.read_text()
    _, state, _ = read_checkpoint(find_checkpoint(run))
    assert state["step"] >= before
    assert launcher.run(launcher.train_job(run, tmp_path / "resume.log", resume=True)) == 0
    launcher.assert_same_run(reference_run, run)


def test_ctrl_c_in_plausible_train_exits_130_with_a_resume_hint(launcher, tmp_path: Path) -> None:
    run, log = tmp_path / "run", tmp_path / "cli.log"
    tiny = ["--set", "task.max_train=96", "--set", "training.batch_size=32", "--no-eval"]
    argv = [
        "train",
        "vae-digits",
        "--out",
        str(run),
        "--set",
        "training.checkpoint_every=1",
        "--set",
        "training.early_stopping_patience=0",
        *tiny,
    ]
    pid = launcher.start({"kind": "cli", "argv": argv, "log": str(log)})
    launcher.wait_until(lambda: find_checkpoint(run) is not None, what="the first checkpoint")
    os.kill(pid, signal.SIGINT)
    assert launcher.wait() == 130, log.read_text()
    text = " ".join(log.read_text().split())
    assert "interrupted:" in text and "--resume continues from it" in text
    assert "Traceback" not in text
    _, state, _ = read_checkpoint(find_checkpoint(run))

    # --resume goes on from the checkpoint; one more epoch finishes the run.
    # The same command as the one that started the run, plus --resume and more epochs.
    more = ["--set", f"training.epochs={state['epoch'] + 1}"]
    argv = [*argv, "--resume", *more]
    assert launcher.run({"kind": "cli", "argv": argv, "log": str(log)}) == 0, log.read_text()
    assert (run / "model.safetensors").is_file()
    assert read_checkpoint(find_checkpoint(run))[1]["epoch"] == state["epoch"] + 1


@pytest.mark.parametrize("command", ["train", "evaluate"], ids=str)
def test_ctrl_c_during_evaluation_exits_130_naming_plausible_evaluate(
    launcher, tmp_path: Path, command: str
) -> None:
    """Ctrl-C in the evaluation after training, or in `plausible evaluate`, names the command
    that finishes the evaluation; that command then finishes it."""
    run, log, marker = tmp_path / "run", tmp_path / "cli.log", tmp_path / "held"
    small = ["--set", "evaluation.num_examples=20", "--set", "evaluation.num_samples=2"]
    tiny = ["--set", "task.max_train=96", "--set", "training.batch_size=32", *small]
    train = ["train", "vae-digits", "--out", str(run), "--set", "training.epochs=1", *tiny]
    if command == "evaluate":
        assert launcher.run({"kind": "cli", "argv": train, "log": str(log)}) == 0, log.read_text()
    argv = ["evaluate", str(run), "--no-figures"] if command == "evaluate" else train
    # The child waits inside the importance-sampled likelihood until the signal comes.
    hold = "plausible.metrics.likelihood:importance_sampled_nll"
    pid = launcher.start(
        {"kind": "cli", "argv": argv, "log": str(log), "hold": hold, "marker": str(marker)}
    )
    launcher.wait_until(marker.exists, what="the evaluation", timeout=120)
    os.kill(pid, signal.SIGINT)
    assert launcher.wait() == 130, log.read_text()
    text = " ".join(log.read_text().split())
    assert "interrupted:" in text and f"`plausible evaluate {run}` finishes the evaluation" in text
    assert "Traceback" not in text
    finish = ["evaluate", str(run), "--no-figures"]
    assert launcher.run({"kind": "cli", "argv": finish, "log": str(log)}) == 0, log.read_text()
    assert "test_nll" in json.loads((run / "summary.json").read_text())["test"]
