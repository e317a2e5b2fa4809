"""Crash safety: SIGKILL training at random points, mid-checkpoint too; resume exactly.

A real process is killed (forked by the fork server in ``rel_launcher.py``), over and over, in one
run folder. After every kill the folder must hold a loadable checkpoint that lost at most the step
in progress, and ``resume`` must go on from it; after the last kill, resuming to the end must give
weights and metrics identical to a run that was never interrupted.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from pathlib import Path

import pytest

from plausible.training import load_metrics
from plausible.training.checkpointing import find_checkpoint, read_checkpoint

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork server needs os.fork")

NUM_KILLS = 12
EPOCHS = 20  # the job: 20 epochs of 3 steps, a checkpoint after every step
PACE = 0.025  # seconds each child sleeps after reporting a step, so kills land where aimed


def test_sigkill_at_random_points_never_loses_the_checkpoint_and_resumes_exactly(
    launcher, reference_runs, tmp_path: Path
) -> None:
    run = tmp_path / "killed"

    rng = random.Random(20261121)
    last_step = 0
    kills = mid_checkpoint = 0
    for attempt in range(NUM_KILLS):
        # Every other child sleeps around each checkpoint file and rename, so that most of its
        # kills land mid-checkpoint; the others are killed wherever they happen to be.
        slow = 0.03 if attempt % 2 == 0 else 0.0
        progress = tmp_path / f"progress-{attempt}.txt"
        log = tmp_path / f"child-{attempt}.log"
        resume = attempt > 0
        job = launcher.train_job(
            run, log, epochs=EPOCHS, resume=resume, slow=slow, pace=PACE, progress=str(progress)
        )
        pid = launcher.start(job)
        # Aim by step, not by wall clock: a fast machine must not finish the run between kills.
        target = last_step + rng.randint(1, 3)
        launcher.wait_until(
            lambda p=progress, t=target: max(launcher.progress_steps(p), default=0) >= t,
            what=f"child {attempt} reached step {target} (see {log})",
        )
        # A slow child's checkpoint starts PACE after its report and lasts 8 * slow or more: aim
        # inside it. A fast child's takes milliseconds: aim anywhere around the step.
        time.sleep(rng.uniform(PACE, PACE + 6 * slow) if slow else rng.uniform(0.0, 2 * PACE))
        with contextlib.suppress(ProcessLookupError):  # it may have ended (and been reaped)
            os.kill(pid, signal.SIGKILL)
        code = launcher.wait()
        if code == 0:  # it finished before the kill landed: nothing left to kill
            break
        assert code == -signal.SIGKILL, log.read_text()
        kills += 1

        mid_checkpoint += (run / "checkpoint.tmp").exists() or (run / "checkpoint.old").exists()
        path = find_checkpoint(run)
        assert path is not None, f"kill {attempt} left no complete checkpoint"
        _, state, _ = read_checkpoint(path)
        reported = launcher.progress_steps(progress)
        # Steps are reported before their checkpoint is written: at most that one step is lost.
        assert state["step"] >= max(reported) - 1, (state["step"], reported)
        assert state["step"] >= last_step, "a kill lost an earlier checkpoint"
        last_step = state["step"]
        load_metrics(run / "metrics.jsonl")  # readable, even if the last line was cut short

    assert kills == NUM_KILLS, f"only {kills} kills landed before training finished"
    assert mid_checkpoint >= 1, "no kill landed while a checkpoint was being written"
    final_log = tmp_path / "final.log"
    job = launcher.train_job(run, final_log, epochs=EPOCHS, resume=True)
    assert launcher.run(job) == 0, final_log.read_text()
    launcher.assert_same_run(reference_runs(EPOCHS), run)
