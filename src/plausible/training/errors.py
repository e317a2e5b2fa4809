"""How training ends when it does not finish: too many bad batches, or a stop request."""

from __future__ import annotations

__all__ = ["NonFiniteLossError", "TrainingInterrupted"]


class NonFiniteLossError(RuntimeError):
    """Training met too many consecutive batches whose loss or gradient was NaN or infinite."""


class TrainingInterrupted(RuntimeError):  # noqa: N818  (an outcome, not a failure)
    """Training was stopped (Ctrl-C); a checkpoint to resume from was saved first."""
