"""Trainer side channels: callbacks, the metrics.jsonl log, the progress bar and TensorBoard."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import torch

from plausible.training.distributed import DistributedContext, all_true

if TYPE_CHECKING:
    from plausible.objectives.output import ObjectiveOutput
    from plausible.training.trainer import Trainer

__all__ = ["Callback", "GracefulStop", "MetricsLog", "ProgressBar", "open_tensorboard"]

log = logging.getLogger(__name__)


class Callback:
    """Hooks the trainer calls; override the ones you need."""

    def on_step_end(self, trainer: Trainer, out: ObjectiveOutput) -> None:
        """After each optimiser step."""

    def on_epoch_end(self, trainer: Trainer) -> None:
        """After each training epoch, before validation."""


class GracefulStop(Callback):
    """Turn Ctrl-C (SIGINT) and SIGTERM into a stop between two steps, after a checkpoint.

    Used as a context manager around the training loop, in the main thread: it installs handlers
    for the signals (except ones the process ignores, e.g. under ``nohup``) and restores the
    previous handlers on exit. The first signal only sets :attr:`requested`; the next
    ``on_step_end`` raises ``KeyboardInterrupt``, which the trainer answers by saving a checkpoint
    of a consistent state (never half an optimiser step) and raising ``TrainingInterrupted``.
    Under data parallelism the processes vote every step and read the vote a step later (see
    :class:`_StopVote`), so they all stop at the same step, one step after the request, without
    waiting for the device. A second signal stops at once,
    without saving: the last checkpoint written stays the one to resume from. A request that the
    loop finishes before seeing is raised on exit, so a run stopped in its last epoch does not go
    on to evaluation.

    Args:
        signals: Signals to handle.
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
        self.signals = signals
        self.requested: int | None = None
        self._previous: dict[int, object] = {}
        self._vote: _StopVote | None = None

    def __enter__(self) -> GracefulStop:
        self.requested = None
        self._vote = None
        if threading.current_thread() is not threading.main_thread():
            return self  # only the main thread may install signal handlers
        for sig in self.signals:
            if signal.getsignal(sig) is not signal.SIG_IGN:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous.clear()
        if self.requested is not None and exc_type is None:
            raise KeyboardInterrupt

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested is not None:
            from plausible.training.trainer import TrainingInterrupted

            raise TrainingInterrupted(
                f"stopped at once by a second {name}, without saving; the last checkpoint "
                "written stays in the run folder and --resume continues from it"
            )
        self.requested = signum

    def on_step_end(self, trainer: Trainer, out: ObjectiveOutput) -> None:
        requested = self.requested is not None
        ctx = getattr(trainer, "dist", None)
        if ctx is not None and ctx.enabled:
            previous, self._vote = self._vote, _StopVote(not requested, trainer.device, ctx)
            requested = previous is not None and not previous.outcome()
        if requested:
            name = signal.Signals(self.requested).name if self.requested else "a stop request"
            log.warning(
                "%s received: saving a checkpoint at step %d and stopping (send it "
                "again to stop at once without saving)",
                name,
                trainer.step,
            )
            raise KeyboardInterrupt


class _StopVote:
    """One step's vote of all processes on going on, read by the host a step later.

    The vote goes into an all-reduce and its result is copied to pinned host memory without
    waiting; :meth:`outcome` waits only for that copy. Read at the next step, the device has long
    finished it while it works on that next step, so the host never waits for the device to
    drain. Every process reads the same outcome at the same step.

    Args:
        keep_going: This process's vote (no stop requested).
        device: The training device.
        ctx: The data-parallel context.
    """

    def __init__(self, keep_going: bool, device: torch.device, ctx: DistributedContext) -> None:
        on_gpu = device.type == "cuda"
        vote = torch.tensor(keep_going)
        # From pageable memory the copy to the device would wait for the device's queue.
        vote = vote.pin_memory().to(device, non_blocking=True) if on_gpu else vote.to(device)
        agreed = all_true(vote, ctx)
        self._host = torch.empty((), dtype=torch.bool, pin_memory=on_gpu)
        self._host.copy_(agreed, non_blocking=on_gpu)
        self._copied: torch.cuda.Event | None = None
        if on_gpu:
            self._copied = torch.cuda.Event()
            self._copied.record()

    def outcome(self) -> bool:
        """Whether every process voted to go on."""
        if self._copied is not None:
            self._copied.synchronize()
        return bool(self._host)


class MetricsLog:
    """Append-only JSON lines; each row is flushed so a crash loses at most the row being written.

    The one file of a run not written by temp file + rename (rewriting it for every row would
    cost time growing with the run): a row cut short by a crash is skipped by ``load_metrics``,
    and resuming rewrites the file atomically with the rows of the checkpoint (:meth:`truncate`).

    Args:
        path: File to append to, or ``None`` to keep rows in memory only.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.records: list[dict[str, Any]] = []
        if path is not None and path.exists():
            from plausible.training.trainer import load_metrics

            self.records = load_metrics(path)

    @property
    def rows(self) -> int:
        return len(self.records)

    def write(self, row: dict[str, Any]) -> None:
        clean = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in row.items()
        }
        self.records.append(clean)
        if self.path is not None:
            try:
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(clean) + "\n")
            except OSError as err:
                from plausible.io import write_error

                note = "earlier rows are kept; --resume rewrites the log from its checkpoint"
                raise write_error(err, self.path, note) from err

    def truncate(self, rows: int) -> None:
        """Drop rows written after the checkpoint being resumed (they will be written again)."""
        self.records = self.records[:rows]
        if self.path is not None:
            from plausible.io import atomic_write_text

            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in self.records))


class ProgressBar:
    """A rich progress bar over all training steps; a no-op when disabled or not a terminal."""

    def __init__(self, *, enabled: bool, total: int, completed: int = 0) -> None:
        self.enabled = enabled
        self._progress: Any = None
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]epoch {task.fields[epoch]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=False,
            )
            self._task = self._progress.add_task(
                "train", total=total, completed=completed, epoch=0, loss="-"
            )

    def __enter__(self) -> ProgressBar:
        if self._progress is not None:
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def advance(self, epoch: int) -> None:
        """One step done in ``epoch`` (0-based)."""
        if self._progress is not None:
            self._progress.update(self._task, advance=1, epoch=epoch + 1)

    def show_loss(self, loss: float) -> None:
        """Show the mean loss of the latest training row.

        The bar never reads the loss tensor of a step itself: that would make the host wait for
        the device.
        """
        if self._progress is not None:
            self._progress.update(self._task, loss=f"{loss:.3f}")


def open_tensorboard(run_dir: Path | None, mode: str) -> Any:
    """A TensorBoard ``SummaryWriter`` in ``run_dir/tensorboard``, or ``None``."""
    if run_dir is None or mode == "off" or os.environ.get("PLAUSIBLE_NO_TENSORBOARD"):
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        if mode == "on":
            raise ImportError(
                "training.tensorboard = 'on' needs: pip install 'plausible[tensorboard]'"
            ) from None
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))
