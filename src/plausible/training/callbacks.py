"""Hooks into the training loop: the callback base class and the graceful stop on Ctrl-C / SIGTERM.

The trainer imports this module; the hooks name the trainer only for type checking, so the two
never import each other when the program runs.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

import torch

from plausible.objectives.output import ObjectiveOutput
from plausible.training.distributed import DistributedContext, all_true
from plausible.training.errors import TrainingInterrupted

if TYPE_CHECKING:  # the trainer imports this module; the name is for annotations only
    from plausible.training.trainer import Trainer

__all__ = ["Callback", "GracefulStop"]

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
            raise TrainingInterrupted(
                f"stopped at once by a second {name}, without saving; the last checkpoint "
                "written stays in the run folder and --resume continues from it"
            )
        self.requested = signum

    def on_step_end(self, trainer: Trainer, out: ObjectiveOutput) -> None:
        requested = self.requested is not None
        ctx = trainer.dist
        if ctx.enabled:
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
