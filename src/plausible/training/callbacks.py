"""Trainer side channels: callbacks, the metrics.jsonl log, the progress bar and TensorBoard."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor

if TYPE_CHECKING:
    from plausible.objectives.output import ObjectiveOutput
    from plausible.training.trainer import Trainer

__all__ = ["Callback", "MetricsLog", "ProgressBar", "open_tensorboard"]

log = logging.getLogger(__name__)


class Callback:
    """Hooks the trainer calls; override the ones you need."""

    def on_step_end(self, trainer: Trainer, out: ObjectiveOutput) -> None:
        """After each optimiser step."""

    def on_epoch_end(self, trainer: Trainer) -> None:
        """After each training epoch, before validation."""


class MetricsLog:
    """Append-only JSON lines; each row is flushed so a crash loses at most the row being written.

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
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
        self.records.append(clean)
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps(clean) + "\n")
                f.flush()

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
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
            from rich.progress import TimeElapsedColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                transient=False,
            )
            self._task = self._progress.add_task("train", total=total, completed=completed,
                                                 epoch=0, loss="-")
        self._count = 0

    def __enter__(self) -> ProgressBar:
        if self._progress is not None:
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def advance(self, epoch: int, loss: Tensor) -> None:
        if self._progress is None:
            return
        self._count += 1
        # Reading the loss synchronises with the device, so refresh the text only now and then.
        fields = {"epoch": epoch + 1}
        if self._count % 20 == 1:
            fields["loss"] = f"{float(loss):.3f}"
        self._progress.update(self._task, advance=1, **fields)


def open_tensorboard(run_dir: Path | None, mode: str) -> Any:
    """A TensorBoard ``SummaryWriter`` in ``run_dir/tensorboard``, or ``None``."""
    if run_dir is None or mode == "off" or os.environ.get("PLAUSIBLE_NO_TENSORBOARD"):
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        if mode == "on":
            raise ImportError("training.tensorboard = 'on' needs: pip install 'plausible[tensorboard]'")
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))
