"""A full disk (or a failing rename) while saving: a clear error, and the previous files intact."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from plausible.checkpoint import CheckpointError
from plausible.data import Binarize
from plausible.io import atomic_write_json
from plausible.models import VAE
from plausible.training import ConfiguredObjective, MetricsLog, Trainer, TrainerConfig
from plausible.training.checkpointing import find_checkpoint, read_checkpoint

needs_procfs = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="finds the file behind an fd through /proc"
)


def _data() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"x": torch.rand(64, 16, generator=g)}


def _trainer(run: Path, epochs: int) -> Trainer:
    torch.manual_seed(0)
    config = TrainerConfig(
        epochs=epochs, batch_size=16, progress=False, tensorboard="off", device="cpu"
    )
    return Trainer(
        VAE((16,), latent_dim=2, hidden_dims=(8,)), ConfiguredObjective("elbo"), config, run_dir=run
    )


def _fit(trainer: Trainer, *, resume: bool = False) -> None:
    data = _data()
    trainer.fit(data, {"x": data["x"][:16]}, transform=Binarize("dynamic"), resume=resume)


def _stray_temporaries(run: Path) -> list[Path]:
    return [p for p in run.rglob("*") if p.name.endswith(".tmp")]


@contextlib.contextmanager
def _disk_full_when_writing(monkeypatch: pytest.MonkeyPatch, part: str) -> Iterator[list[str]]:
    """Make ``fsync`` of any file whose path contains ``part`` fail with ENOSPC, as a file system
    with delayed allocation reports a full disk. Yields the paths that failed."""
    real_fsync, failed = os.fsync, []

    def fsync(fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        if part in path:
            failed.append(path)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    yield failed
    monkeypatch.setattr(os, "fsync", real_fsync)


@needs_procfs
@pytest.mark.parametrize(
    "file", ["model.safetensors", "best.safetensors", "trainer_state.pt", "meta.json"], ids=str
)
def test_full_disk_mid_checkpoint_is_a_clear_error_and_keeps_the_previous_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file: str
) -> None:
    run = tmp_path / "run"
    _fit(_trainer(run, epochs=1))
    before = read_checkpoint(find_checkpoint(run))[1]["step"]
    full = _disk_full_when_writing(monkeypatch, f"checkpoint.tmp/.{file}.")
    with full as failed, pytest.raises(CheckpointError) as info:
        _fit(_trainer(run, epochs=2), resume=True)
    assert failed, "the failing writer was never reached"
    message = str(info.value)
    assert "disk is full" in message and str(run) in message, message
    assert f"the previous checkpoint {run / 'checkpoint'} is intact" in message, message
    assert "--resume continues from it" in message
    path = find_checkpoint(run)
    assert path == run / "checkpoint"
    assert read_checkpoint(path)[1]["step"] == before
    assert not (run / "checkpoint.tmp").exists(), "the partial checkpoint was not cleaned up"
    assert not _stray_temporaries(run)
    _fit(_trainer(run, epochs=2), resume=True)  # with space again, resuming just works
    assert read_checkpoint(find_checkpoint(run))[1]["epoch"] == 2


def test_a_failing_rename_keeps_a_loadable_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    _fit(_trainer(run, epochs=1))
    real_rename = Path.rename

    def rename(self: Path, target: str | Path) -> Path:
        if self.name == "checkpoint.tmp":
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(CheckpointError, match=r"could not save a checkpoint.*intact"):
        _fit(_trainer(run, epochs=2), resume=True)
    _, state, _ = read_checkpoint(find_checkpoint(run))  # checkpoint.old, moved aside
    assert state["epoch"] == 1


@needs_procfs
def test_atomic_writes_on_a_full_disk_keep_the_old_file_and_say_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "summary.json"
    atomic_write_json(target, {"old": True})
    full = _disk_full_when_writing(monkeypatch, "summary.json")
    with full, pytest.raises(OSError, match="disk is full") as info:
        atomic_write_json(target, {"new": True})
    assert info.value.errno == errno.ENOSPC
    assert str(target) in str(info.value) and "unchanged" in str(info.value)
    assert target.read_text() == '{\n  "old": true\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_metrics_log_on_a_full_disk_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "metrics.jsonl"
    log = MetricsLog(path)
    log.write({"step": 1, "loss": 1.0})
    real_open = Path.open

    def full(self: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if self == path:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", full)
    with pytest.raises(OSError, match="disk is full") as info:
        log.write({"step": 2, "loss": 0.5})
    assert str(path) in str(info.value) and info.value.errno == errno.ENOSPC


@needs_procfs
def test_full_disk_in_plausible_train_is_one_paragraph_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plausible.cli.main import _register_commands, app

    _register_commands()
    run = tmp_path / "run"
    args = ["train", "vae-digits", "--out", str(run), "--no-eval"]
    for item in (
        "training.epochs=1",
        "task.max_train=64",
        "training.batch_size=32",
        "training.checkpoint_every=1",
    ):
        args += ["--set", item]
    with _disk_full_when_writing(monkeypatch, "checkpoint.tmp"):
        result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "error: could not save a checkpoint: writing" in text, text
    assert "disk is full" in text and "Traceback" not in text


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, where this process may mount one (root, mount available); else skip."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
        capture_output=True,
        timeout=30,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], capture_output=True, timeout=30)


def test_a_really_full_file_system_keeps_the_previous_checkpoint(small_filesystem: Path) -> None:
    run = small_filesystem / "run"
    _fit(_trainer(run, epochs=1))
    before = read_checkpoint(find_checkpoint(run))[1]["step"]
    # Fill the file system, leaving a little room for metrics rows but none for a checkpoint.
    stat = os.statvfs(small_filesystem)
    ballast = (stat.f_bavail - 2) * stat.f_frsize
    (small_filesystem / "ballast").write_bytes(b"\0" * ballast)
    with pytest.raises((CheckpointError, OSError), match="disk is full"):
        _fit(_trainer(run, epochs=3), resume=True)
    assert read_checkpoint(find_checkpoint(run))[1]["step"] == before
    assert not (run / "checkpoint.tmp").exists()
    (small_filesystem / "ballast").unlink()
    _fit(_trainer(run, epochs=3), resume=True)
    assert read_checkpoint(find_checkpoint(run))[1]["epoch"] == 3
