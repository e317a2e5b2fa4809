"""Every file a run folder holds was written to a temporary file and renamed into place.

The audit records each rename (``os.replace`` for files, ``Path.rename`` for the checkpoint
folder) while ``plausible train`` (with evaluation, figures and report) and ``plausible sample``
run; afterwards every file must be accounted for by one of them. ``metrics.jsonl`` is the one,
documented exception: an append-only log whose torn last line is ignored and rewritten on resume.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

APPEND_ONLY = {"metrics.jsonl"}


@pytest.fixture
def renames(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, Path]]:
    done: list[tuple[Path, Path]] = []
    real_replace, real_rename = os.replace, Path.rename

    def replace(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
        real_replace(src, dst, *args, **kwargs)
        done.append((Path(src), Path(dst)))

    def rename(self: Path, target):  # type: ignore[no-untyped-def]
        result = real_rename(self, target)
        done.append((self, Path(target)))
        return result

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(Path, "rename", rename)
    return done


def _renamed_into_place(path: Path, renames: list[tuple[Path, Path]]) -> bool:
    """``path`` (or a folder holding it) was the target of a rename from a temporary name."""
    for src, dst in renames:
        if dst == path and src.name.endswith(".tmp"):
            return True
        if dst in path.parents and src.name.endswith(".tmp"):  # checkpoint.tmp -> checkpoint
            inner = src / path.relative_to(dst)
            if _renamed_into_place(inner, renames):
                return True
    return False


def test_train_and_sample_write_every_file_atomically(
    tmp_path: Path, renames: list[tuple[Path, Path]]
) -> None:
    from plausible.cli.main import _register_commands, app

    _register_commands()
    run = tmp_path / "run"
    sets = [
        "training.epochs=2",
        "task.max_train=64",
        "task.max_test=16",
        "training.batch_size=32",
        "training.checkpoint_every=1",
        "evaluation.num_samples=4",
    ]
    args = ["train", "vae-digits", "--out", str(run)]
    for item in sets:
        args += ["--set", item]
    runner = CliRunner()
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for out in ("samples.png", "samples.npy"):
        result = runner.invoke(app, ["sample", str(run), "-n", "4", "--out", str(run / out)])
        assert result.exit_code == 0, result.output

    files = [p for p in run.rglob("*") if p.is_file()]
    assert {"config.json", "model.safetensors", "summary.json", "report.md"} <= {
        p.name for p in files
    }
    assert any(p.suffix == ".png" for p in (run / "figures").iterdir())
    not_atomic = [
        str(p.relative_to(run))
        for p in files
        if p.name not in APPEND_ONLY and not _renamed_into_place(p, renames)
    ]
    assert not not_atomic, f"written in place, not via temporary file + rename: {not_atomic}"
    assert not [p for p in files if p.name.endswith(".tmp")], "temporary files left behind"


def test_every_rename_is_followed_by_an_fsync_of_its_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A rename is durable only once its folder is on disk: a power cut must not undo it."""
    import torch

    from plausible.io import atomic_write_json
    from plausible.training.checkpointing import write_checkpoint

    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_rename = os.fsync, os.replace, Path.rename

    def fsync(fd: int) -> None:
        real_fsync(fd)
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            events.append(("fsync", os.path.realpath(f"/proc/self/fd/{fd}")))

    def replace(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
        real_replace(src, dst, *args, **kwargs)
        events.append(("rename", os.path.realpath(Path(dst).parent)))

    def rename(self: Path, target):  # type: ignore[no-untyped-def]
        result = real_rename(self, target)
        events.append(("rename", os.path.realpath(Path(target).parent)))
        return result

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to tell a folder's file descriptor from a file's")
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(Path, "rename", rename)
    atomic_write_json(tmp_path / "summary.json", {"a": 1})
    state = {"w": torch.zeros(2)}
    for _ in range(2):  # the second write swaps the first checkpoint aside
        write_checkpoint(tmp_path, model_state=state, trainer_state={"step": 1}, best_state=None)
    renames = [i for i, (kind, _) in enumerate(events) if kind == "rename"]
    assert len(renames) >= 4, events
    # The last rename into each folder is followed by an fsync of that folder.
    for folder in {events[i][1] for i in renames}:
        last = max(i for i in renames if events[i][1] == folder)
        assert ("fsync", folder) in events[last + 1 :], (folder, events)
