"""The NaN guard: batches whose loss or gradient is not finite never reach the weights.

The verdict of each step stays on the device: the trainer hands it to the optimiser, which skips
a bad batch's update there (fused Adam's ``found_inf``), and the host reads the verdicts of many
steps at once, when it writes a training row or a checkpoint. On a GPU a read per step would
leave the device idle while Python prepares the next step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from plausible.training.distributed import DistributedContext, all_true

__all__ = ["NanGuard", "SkippedBatch"]


@dataclass(frozen=True)
class SkippedBatch:
    """A batch the guard kept from the weights.

    Attributes:
        step: Its step (0-based; a step is a batch, skipped or not).
        epoch: Its epoch.
        batch: Its index within the epoch.
        examples: Its size.
        what: ``"loss"`` or ``"gradient"``: which was not finite.
        terms: The loss terms that were not finite, comma-separated (``"gradient"`` for a
            gradient).
    """

    step: int
    epoch: int
    batch: int
    examples: int
    what: str
    terms: str

    def message(self) -> str:
        return (
            f"non-finite {self.what} at step {self.step} (epoch {self.epoch}, batch {self.batch}); "
            f"non-finite: {self.terms}"
        )

    def row(self) -> dict[str, Any]:
        """The ``"split": "nonfinite"`` row of metrics.jsonl."""
        return {
            "step": self.step,
            "epoch": self.epoch,
            "split": "nonfinite",
            "batch": self.batch,
            "what": self.what,
            "terms": self.terms,
        }


@dataclass
class _Pending:
    """A step whose verdict is still on the device, with what is needed to report it."""

    finite: Tensor  # (2,) bool: loss finite, gradient norm finite (on every process)
    terms: dict[str, Tensor]  # the step's loss terms, detached, to name the bad ones
    examples: int
    step: int
    epoch: int
    batch: int

    def skipped(self, loss_ok: bool) -> SkippedBatch:
        if loss_ok:
            what, terms = "gradient", "gradient"
        else:
            bad = [k for k, v in self.terms.items() if not torch.isfinite(v).all()]
            what, terms = "loss", ", ".join(bad or ["loss"])
        return SkippedBatch(self.step, self.epoch, self.batch, self.examples, what, terms)


class NanGuard:
    """Judge every step on the device; read and report the verdicts now and then.

    Args:
        max_nonfinite: Bad batches in a row that end training.
    """

    def __init__(self, max_nonfinite: int) -> None:
        self.max_nonfinite = max_nonfinite
        self.streak = 0  # bad batches in a row, as of the last read
        self.skipped = 0  # bad batches in all, as of the last read
        self._pending: list[_Pending] = []

    @staticmethod
    def judge(loss: Tensor, grad_norm: Tensor, ctx: DistributedContext) -> tuple[Tensor, Tensor]:
        """``(finite, good)`` on the device: the ``(2,)`` verdicts (loss, gradient) and their
        conjunction. With several processes one all-reduce makes all of them skip a bad batch
        alike."""
        finite = all_true(torch.stack([torch.isfinite(loss), torch.isfinite(grad_norm)]), ctx)
        return finite, finite.all()

    def record(
        self,
        finite: Tensor,
        terms: dict[str, Tensor],
        *,
        examples: int,
        step: int,
        epoch: int,
        batch: int,
    ) -> None:
        """Keep a step's verdict (and its detached loss terms) until the next :meth:`settle`."""
        self._pending.append(_Pending(finite, terms, examples, step, epoch, batch))

    def settle(self) -> tuple[list[SkippedBatch], bool]:
        """Read the verdicts recorded since the last call: one read from the device.

        Returns:
            The skipped batches in order, and whether the last of them completed
            ``max_nonfinite`` bad batches in a row (later verdicts are then dropped).
        """
        pending, self._pending = self._pending, []
        if not pending:
            return [], False
        skipped = []
        verdicts = torch.stack([p.finite for p in pending]).tolist()
        for entry, (loss_ok, grad_ok) in zip(pending, verdicts, strict=True):
            if loss_ok and grad_ok:
                self.streak = 0
                continue
            self.streak += 1
            self.skipped += 1
            skipped.append(entry.skipped(loss_ok))
            if self.streak >= self.max_nonfinite:
                return skipped, True
        return skipped, False
