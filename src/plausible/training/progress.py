"""What a person watches during training: the progress bar and TensorBoard."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["ProgressBar", "log_scalars", "open_tensorboard"]


class ProgressBar:
    """A rich progress bar over all training steps; a no-op when disabled or not a terminal."""

    def __init__(self, *, enabled: bool, total: int, completed: int = 0) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        if enabled:
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

    def __exit__(self, *exc: Any) -> None:
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
        # Imported here: tensorboard is an optional extra, and slow to import.
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        if mode == "on":
            raise ImportError(
                "training.tensorboard = 'on' needs: pip install 'plausible[tensorboard]'"
            ) from None
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def log_scalars(tb: Any, split: str, row: dict[str, Any], step: int) -> None:
    """Write a metrics row's float values to TensorBoard as ``split/key`` (no-op without ``tb``)."""
    if tb is None:
        return
    for k, v in row.items():
        if isinstance(v, float):
            tb.add_scalar(f"{split}/{k}", v, step)
