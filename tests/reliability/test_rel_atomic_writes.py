"""Every file a run folder holds was written to a temporary file and renamed into place.

The audit records each rename (``os.replace`` for files, ``Path.rename`` for the checkpoint
folder) while ``plausible train`` (with evaluation, figures and report) and ``plausible sample``
run; afterwards every file must be accounted for by one of them. ``metrics.jsonl`` is the one,
documented exception: an append-only log whose torn last line is ignored and rewritten on resume.

Every writer gives its files one mode, the one a plain ``open(path, "w")`` gives under the
process umask, whoever wrote the file before; and a write that dies half way leaves the old file.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

APPEND_ONLY = {"metrics.jsonl"}

#: umask -> the mode of a new file, as POSIX defines it (0666 less the umask's bits).
EXPECTED_MODE = {0o022: 0o644, 0o027: 0o640}


@pytest.fixture(params=sorted(EXPECTED_MODE), ids=lambda m: f"umask{m:03o}")
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _plain_file_mode(folder: Path) -> int:
    """The mode a file gets from a plain ``open``: the reference every writer must match."""
    reference = folder / "reference-by-open"
    with open(reference, "w") as f:
        f.write("x")
    mode = _mode(reference)
    reference.unlink()
    return mode


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


def test_train_and_sample_write_every_file_atomically_with_one_mode(
    tmp_path: Path, renames: list[tuple[Path, Path]]
) -> None:
    from plausible.cli.main import _register_commands, app

    old_umask = os.umask(0o027)  # not 022, so a writer that sets 0644 itself stands out

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
    try:
        result = runner.invoke(app, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        for out in ("samples.png", "samples.npy"):
            result = runner.invoke(app, ["sample", str(run), "-n", "4", "--out", str(run / out)])
            assert result.exit_code == 0, result.output
        expected = _plain_file_mode(tmp_path)
    finally:
        os.umask(old_umask)

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
    modes = {str(p.relative_to(run)): oct(_mode(p)) for p in files}
    assert set(modes.values()) == {oct(expected)}, f"expected {oct(expected)} for all: {modes}"


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


# -- one file mode for every writer ----------------------------------------------------------------
def _io_writers() -> dict[str, Callable[[Path], object]]:
    from plausible import io

    def with_open(folder: Path) -> None:
        with io.atomic_open(folder / "sample.npy", "wb") as f:
            f.write(b"\x93NUMPY")

    return {
        "atomic_write_text": lambda d: io.atomic_write_text(d / "report.md", "# r\n"),
        "atomic_write_bytes": lambda d: io.atomic_write_bytes(d / "blob.bin", b"\x00\x01"),
        "atomic_write_json": lambda d: io.atomic_write_json(d / "config.json", {"a": 1}),
        "atomic_open": with_open,
    }


def _report_writers() -> dict[str, Callable[[Path], object]]:
    from plausible import reports

    table = {
        "runs": ["a", "b"],
        "names": ["a", "b"],
        "rows": [{"key": "nll", "values": [1.0, 2.0], "better": "lower", "best": 0}],
    }
    return {
        "write_report": lambda d: reports.write_report(
            d, title="t", summary={"nll": 1.0}, figures={}
        ),
        "write_comparison": lambda d: reports.write_comparison(d, table, {}),
        "add_to_run_reports": lambda d: reports.add_to_run_reports({**table, "runs": [str(d)]}, {}),
    }


def _model_writers() -> dict[str, Callable[[Path], object]]:
    import torch

    from plausible.checkpoint import save_state_dict
    from plausible.training.checkpointing import write_checkpoint

    state = {"w": torch.arange(3.0)}
    return {
        "save_state_dict": lambda d: save_state_dict(d / "model.safetensors", state),
        "write_checkpoint": lambda d: write_checkpoint(
            d, model_state=state, trainer_state={"step": 1}, best_state=state
        ),
    }


def _figure_writer(folder: Path) -> None:
    from plausible.viz._common import new_figure, save_figure

    with new_figure((1.0, 1.0)) as fig:
        fig.add_subplot().plot([0, 1])
        save_figure(fig, folder / "figures" / "curve.png")


WRITERS = ["io", "reports", "models", "figures"]


def _writers(group: str) -> dict[str, Callable[[Path], object]]:
    if group == "io":
        return _io_writers()
    if group == "reports":
        return _report_writers()
    if group == "models":
        return _model_writers()
    return {"save_figure": _figure_writer}


@pytest.mark.parametrize("group", WRITERS, ids=str)
def test_every_writer_gives_the_mode_of_a_plain_new_file(
    tmp_path: Path, umask: int, group: str
) -> None:
    """One mode for every file, even over a file that an earlier writer left with another."""
    expected = _plain_file_mode(tmp_path)
    assert expected == EXPECTED_MODE[umask]
    for name, write in _writers(group).items():
        folder = tmp_path / name
        folder.mkdir()
        write(folder)
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert files, name
        for path in files:
            path.chmod(0o600)  # as the previous writer of run folders left them
        write(folder)
        modes = {str(p.relative_to(tmp_path)): oct(_mode(p)) for p in folder.rglob("*")}
        modes = {k: v for k, v in modes.items() if (tmp_path / k).is_file()}
        assert set(modes.values()) == {oct(expected)}, (name, modes)


# -- a write that dies half way --------------------------------------------------------------------
def test_an_exception_mid_write_keeps_the_old_file(tmp_path: Path) -> None:
    from plausible.io import atomic_open, atomic_write_text

    target = atomic_write_text(tmp_path / "report.md", "old\n")
    with pytest.raises(KeyboardInterrupt), atomic_open(target) as f:
        f.write("new, half writ")
        raise KeyboardInterrupt
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_a_killed_process_mid_write_leaves_the_old_file(tmp_path: Path) -> None:
    """A crash runs no clean-up: the half-written temporary stays, the target is untouched."""
    from plausible.io import atomic_write_text

    target = atomic_write_text(tmp_path / "config.json", '{"old": true}\n')
    script = (
        "import os, sys\n"
        "from plausible.io import atomic_open\n"
        "with atomic_open(sys.argv[1]) as f:\n"
        "    f.write('{\"new\": ')\n"
        "    f.flush()\n"
        "    os._exit(9)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(target)], timeout=60, check=False)
    assert done.returncode == 9
    assert target.read_text() == '{"old": true}\n'
    (torn,) = [p for p in tmp_path.iterdir() if p != target]
    assert torn.name.startswith(".config.json.") and torn.name.endswith(".tmp")
    assert torn.read_text() == '{"new": '


def test_a_report_that_cannot_be_written_keeps_the_old_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plausible.reports import write_report

    old = write_report(tmp_path, title="old", summary={}, figures={}).read_text()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="disk is full") as info:
        write_report(tmp_path, title="new", summary={"nll": 1.0}, figures={})
    assert info.value.errno == errno.ENOSPC
    assert (tmp_path / "report.md").read_text() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]
