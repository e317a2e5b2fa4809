"""Fork server of the crash tests: import torch and plausible once, fork one child per job.

Run as a script (never collected by pytest). Each line on stdin is a JSON job; the launcher forks,
answers ``pid <pid>`` at once, waits for the child and answers ``exit <code>`` (``-9`` when it was
killed by SIGKILL). The test kills children with real signals, so a forked child is a real
process that dies mid-write exactly as a crashed training run would, without paying the import
time of a fresh interpreter per kill.

Jobs:
    ``{"kind": "train", "run_dir", "resume", "slow", "pace", "progress", "log", "epochs"}``: train
    the tiny VAE of the crash tests with ``checkpoint_every=1``; ``slow`` seconds of sleep are added
    around every checkpoint write and after the checkpoint renames (widening the window a kill must
    hit; test-only monkeypatching, in the child only); ``pace`` seconds of sleep follow every step
    report, so that a test can place a signal at a chosen step on a fast machine. The final weights
    go to
    ``run_dir/final.safetensors``. Exit 0 when done, 130 on ``TrainingInterrupted``.
    ``{"kind": "cli", "argv", "log"[, "hold", "marker"]}``: run ``plausible <argv>`` (the real
    console script's code); with ``hold`` (``module:Class.method``) the child writes ``marker``
    when it reaches that call and waits there to be killed.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

import torch
import torch._dynamo  # optimizers import it lazily: seconds per child otherwise

import plausible.cli.main as cli_main
from plausible.checkpoint import save_state_dict
from plausible.data import Binarize
from plausible.models import VAE
from plausible.training import (
    Callback,
    ConfiguredObjective,
    Trainer,
    TrainerConfig,
    TrainingInterrupted,
    checkpointing,
)

torch.set_num_threads(1)


def tiny_data(n: int = 48) -> dict[str, torch.Tensor]:
    """Two noisy 16-pixel prototypes; fixed by seed so every process sees the same data."""
    g = torch.Generator().manual_seed(0)
    protos = (torch.rand(2, 16, generator=g) > 0.5).float()
    which = torch.randint(0, 2, (n,), generator=g)
    return {"x": protos[which] * 0.9 + 0.05}


class _Progress(Callback):
    """Append the step number to a file after every step, so the test knows where training is.

    Then sleep ``pace`` seconds: tiny steps take milliseconds, faster than a test can react to.
    """

    def __init__(self, path: str, pace: float) -> None:
        self.path = path
        self.pace = pace

    def on_step_end(self, trainer: Trainer, out: object) -> None:
        with open(self.path, "a") as f:
            f.write(f"{trainer.step}\n")
        time.sleep(self.pace)


def _slow_down(seconds: float) -> None:
    """Sleep around each file of a checkpoint and after its renames (this child only)."""

    def wrap(fn):  # type: ignore[no-untyped-def]
        def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
            time.sleep(seconds)
            result = fn(*args, **kwargs)
            time.sleep(seconds)
            return result

        return slow

    for name in ("save_state_dict", "atomic_write_bytes", "atomic_write_json"):
        setattr(checkpointing, name, wrap(getattr(checkpointing, name)))
    rename = Path.rename

    def slow_rename(self: Path, target: str | Path) -> Path:
        result = rename(self, target)
        if self.name.startswith("checkpoint"):
            time.sleep(seconds)
        return result

    Path.rename = slow_rename  # type: ignore[method-assign]


def train(job: dict) -> int:
    if job.get("slow"):
        _slow_down(float(job["slow"]))
    torch.manual_seed(0)
    model = VAE((16,), latent_dim=2, hidden_dims=(16,))
    config = TrainerConfig(
        epochs=int(job.get("epochs", 10)),
        batch_size=16,
        lr=3e-3,
        checkpoint_every=1,
        log_every=2,
        restore_best=False,
        progress=False,
        tensorboard="off",
        device="cpu",
    )
    callbacks = (
        [_Progress(job["progress"], float(job.get("pace", 0)))] if job.get("progress") else []
    )
    trainer = Trainer(
        model, ConfiguredObjective("elbo"), config, run_dir=job["run_dir"], callbacks=callbacks
    )
    data = tiny_data()
    try:
        trainer.fit(
            data,
            {"x": data["x"][:16]},
            transform=Binarize("dynamic"),
            resume=bool(job.get("resume")),
        )
    except TrainingInterrupted as err:
        print(f"interrupted: {err}", flush=True)
        return 130
    save_state_dict(Path(job["run_dir"]) / "final.safetensors", model.state_dict())
    return 0


def _hold(spec: str, marker: str) -> None:
    """Make ``module:Class.method`` (or ``module:function``) write ``marker`` and wait to be killed.

    Patched on the class or module object itself, so every importer sees it (this child only).
    """
    import importlib

    module_name, _, qualname = spec.partition(":")
    owner: object = importlib.import_module(module_name)
    *path, attr = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)

    def held(*args, **kwargs):  # type: ignore[no-untyped-def]
        Path(marker).write_text(spec)
        while True:
            time.sleep(1)

    setattr(owner, attr, held)


def cli(job: dict) -> int:
    if job.get("hold"):
        _hold(job["hold"], job["marker"])
    sys.argv = ["plausible", *job["argv"]]
    try:
        cli_main.main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def _child(job: dict) -> None:
    log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.stdin.close()
    code = 1
    try:
        code = train(job) if job["kind"] == "train" else cli(job)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    print("ready", flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(job)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(f"exit {code}", flush=True)


if __name__ == "__main__":
    main()
