"""The run's ``metrics.jsonl``: the append-only log and the running sums behind its rows."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from plausible.io import atomic_write_text, write_error
from plausible.training.distributed import DistributedContext, all_reduce_sum

__all__ = ["DURING_EPOCH", "MetricsLog", "RowWindow", "load_metrics", "utc_timestamp"]

#: Splits of rows written while an epoch runs (the trainer's epoch counter is then the 0-based
#: index of that epoch); rows of other splits (``val``, ``collapse``) are written after the epoch,
#: when the counter is the number of epochs completed, i.e. the 1-based number of the epoch.
DURING_EPOCH = frozenset({"train", "nonfinite"})


def utc_timestamp() -> str:
    """The current time as ISO-8601 UTC to the second, e.g. ``"2026-12-05T14:03:22Z"``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Read metrics.jsonl rows, ignoring a final line cut short by a crash."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


class MetricsLog:
    """Append-only JSON lines; each row is flushed so a crash loses at most the row being written.

    The one file of a run not written by temp file + rename (rewriting it for every row would
    cost time growing with the run): a row cut short by a crash is skipped by ``load_metrics``,
    and resuming rewrites the file atomically with the rows of the checkpoint (:meth:`truncate`).

    Every row gets a ``time`` (ISO-8601 UTC, :func:`utc_timestamp`) when written, and its
    ``epoch`` is the 1-based number of the epoch the row belongs to, whatever its split: a
    training row of the first epoch and the validation row after it both say ``"epoch": 1``.

    Args:
        path: File to append to, or ``None`` to keep rows in memory only.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.records: list[dict[str, Any]] = []
        if path is not None and path.exists():
            self.records = load_metrics(path)

    @property
    def rows(self) -> int:
        return len(self.records)

    def write(self, row: dict[str, Any]) -> None:
        """Append ``row``, with non-finite floats as ``null``, a ``time`` and a 1-based ``epoch``.

        Args:
            row: ``{"step", "epoch", "split", <values>}``. For the splits in
                :data:`DURING_EPOCH` ``epoch`` is the 0-based index of the epoch in progress (the
                trainer's counter); for the others it is the number of epochs completed.
        """
        clean = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in row.items()
        }
        if row.get("split") in DURING_EPOCH and isinstance(row.get("epoch"), int):
            clean["epoch"] = row["epoch"] + 1
        clean.setdefault("time", utc_timestamp())
        self.records.append(clean)
        if self.path is not None:
            try:
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(clean) + "\n")
            except OSError as err:
                note = "earlier rows are kept; --resume rewrites the log from its checkpoint"
                raise write_error(err, self.path, note) from err

    def truncate(self, rows: int) -> None:
        """Drop rows written after the checkpoint being resumed (they will be written again)."""
        self.records = self.records[:rows]
        if self.path is not None:
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in self.records))


class RowWindow:
    """Sums of the loss and terms over the steps since the last training row, kept on the device.

    Adding a step reads nothing on the host; :meth:`pop_means` reads all the sums at once, when
    a row is written. The sums are checkpointed, so the rows of a resumed run are exact.
    """

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.count = 0

    def add(self, values: dict[str, Tensor], good: Tensor, examples: int) -> None:
        """Add one batch's per-example ``values`` (each ``(B,)``) unless ``good`` is false.

        Args:
            values: The loss and named terms of the batch, detached.
            good: 0-d bool tensor on the device, the NaN guard's verdict on the batch.
            examples: The batch size ``B``; counted now, and taken back by :meth:`drop` if the
                guard later reports the batch as skipped.
        """
        self.count += examples
        for key, value in values.items():
            # A bad batch's sums are left out without reading its verdict (NaN * 0 is NaN).
            total = torch.where(good, value.float().sum(), 0.0)
            self.sums[key] = self.sums[key] + total if key in self.sums else total

    def drop(self, examples: int) -> None:
        """Take a skipped batch's examples back out of the count (its sums were never added)."""
        self.count -= examples

    def pop_means(self, ctx: DistributedContext) -> dict[str, float] | None:
        """Per-example means over every process since the last row, then start a new window.

        Returns:
            ``{"loss": ..., <term>: ...}`` in the order first added, or ``None`` when no step
            was added or every batch since the last row was skipped.
        """
        sums, count = self.sums, self.count
        self.sums, self.count = {}, 0
        if not sums:
            return None
        keys = list(sums)
        totals = all_reduce_sum(
            torch.stack(
                [sums[k] for k in keys] + [torch.tensor(float(count), device=sums[keys[0]].device)]
            ),
            ctx,
        ).tolist()
        if totals[-1] == 0:  # every batch since the last row was skipped
            return None
        return {k: v / totals[-1] for k, v in zip(keys, totals[:-1], strict=True)}

    def state_dict(self) -> dict[str, Any]:
        """The sums (on the CPU) and the count, for a checkpoint."""
        return {"sums": {k: v.detach().cpu() for k, v in self.sums.items()}, "count": self.count}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        """Continue from a checkpointed window, with the sums back on ``device``."""
        self.sums = {k: v.to(device) for k, v in state["sums"].items()}
        self.count = int(state["count"])
