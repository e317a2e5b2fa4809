"""Fixtures of the reliability tests: a fork server for real processes to kill, and tiny data."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from plausible.training import load_metrics

LAUNCHER = Path(__file__).with_name("rel_launcher.py")


class Launcher:
    """Client of ``rel_launcher.py``: start a job in a fresh forked process, then wait for it."""

    def __init__(self, log_dir: Path) -> None:
        env = {**os.environ, "PLAUSIBLE_NO_TENSORBOARD": "1", "OMP_NUM_THREADS": "1"}
        self.stderr = (log_dir / "launcher.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, str(LAUNCHER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=env,
        )
        self._expect("ready")
        self.pid: int | None = None

    def _expect(self, word: str) -> str:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith(word):
            raise RuntimeError(f"launcher said {line!r}, expected {word!r}; see {self.stderr.name}")
        return line.split(maxsplit=1)[1].strip() if " " in line else ""

    def start(self, job: dict) -> int:
        """Fork a child running ``job``; returns its pid."""
        self.proc.stdin.write(json.dumps(job) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        self.pid = int(self._expect("pid"))
        return self.pid

    def wait(self) -> int:
        """Exit code of the child started last; ``-signal`` when a signal killed it."""
        self.pid = None
        return int(self._expect("exit"))

    def run(self, job: dict) -> int:
        self.start(job)
        return self.wait()

    def child_alive(self) -> bool:
        """Whether the child started last still runs (not exited and waiting to be reaped)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:  # reaped already, or no procfs (not Linux), where it cannot be told
            return not Path("/proc/self").exists()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"

    def wait_until(
        self, condition: Callable[[], object], *, what: str, timeout: float = 60
    ) -> None:
        """Poll ``condition`` every 10 ms; fail if the child exits first or after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.pid is not None and not self.child_alive():
                pytest.fail(f"the child exited (code {self.wait()}) before {what}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.01)

    @staticmethod
    def train_job(run_dir: Path, log: Path, **kw: object) -> dict:
        """A training job of the fork server: 10 epochs of 3 steps, a checkpoint every step."""
        return {"kind": "train", "run_dir": str(run_dir), "log": str(log), "epochs": 10, **kw}

    @staticmethod
    def assert_same_run(a: Path, b: Path) -> None:
        """Final weights and every metrics row equal (rows hold losses and learning rates)."""
        wa, wb = load_file(a / "final.safetensors"), load_file(b / "final.safetensors")
        assert wa.keys() == wb.keys()
        for name in wa:
            assert torch.equal(wa[name], wb[name]), f"{name} differs from the reference run"

        # Rows carry the wall-clock time they were written at; everything else must match.
        def rows(path: Path) -> list[dict]:
            return [{k: v for k, v in r.items() if k != "time"} for r in load_metrics(path)]

        assert rows(a / "metrics.jsonl") == rows(b / "metrics.jsonl")

    @staticmethod
    def progress_steps(path: Path) -> list[int]:
        """Steps a child reported, ignoring a line cut short by a kill."""
        if not path.exists():
            return []
        return [int(s) for s in path.read_text().split("\n")[:-1] if s.strip().isdigit()]

    def reap(self) -> None:
        """Kill and collect a child that a failed test left behind, so the next test starts clean.

        Without this, the ``exit`` line of the abandoned child would be read as the answer to the
        next test's ``start`` and every later test would fail for the first one's reason.
        """
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, 9)
            self.wait()

    def close(self) -> None:
        self.reap()
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(timeout=30)
        self.stderr.close()


@pytest.fixture(scope="session")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    """One fork server for all reliability tests of a session (imports torch once)."""
    server = Launcher(tmp_path_factory.mktemp("launcher"))
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _reap_children(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that used the fork server, collect any child it left running."""
    yield
    if "launcher" in request.fixturenames:
        request.getfixturevalue("launcher").reap()


@pytest.fixture(scope="session")
def reference_runs(
    launcher: Launcher, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[int], Path]:
    """Uninterrupted runs of the crash tests' job, one per epoch count, made once each."""
    made: dict[int, Path] = {}

    def reference(epochs: int) -> Path:
        if epochs not in made:
            run = tmp_path_factory.mktemp(f"reference-{epochs}") / "run"
            log = run.parent / "child.log"
            job = launcher.train_job(run, log, epochs=epochs)
            assert launcher.run(job) == 0, log.read_text()
            made[epochs] = run
        return made[epochs]

    return reference


@pytest.fixture
def reference_run(reference_runs: Callable[[int], Path]) -> Path:
    """An uninterrupted run of the default job (10 epochs), to compare resumed runs with."""
    return reference_runs(10)
