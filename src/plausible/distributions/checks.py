"""Argument checks: on by default, off inside the trainer's steps.

Each check reads a verdict from the device, so on a GPU it makes the host wait for all queued
work. Users calling a model get the checks (a NaN input is named, not passed on); the trainer's
steps run without them, where the data were checked once up front and the NaN guard catches a
non-finite result. :func:`unchecked_distributions` turns off both torch.distributions' checks
and plausible's own input checks (:func:`checks_enabled`). The latter have their own switch
because ``torch.compile`` turns torch's off for the rest of the process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from torch.distributions import Distribution

__all__ = ["checks_enabled", "unchecked_distributions"]

_unchecked: ContextVar[bool] = ContextVar("plausible_unchecked", default=False)


def checks_enabled() -> bool:
    """Whether plausible's input checks run here (everywhere but inside the trainer's steps)."""
    return not _unchecked.get()


@contextmanager
def unchecked_distributions() -> Iterator[None]:
    """Inside the block, skip torch.distributions' argument checks (a global switch, so for
    every thread) and plausible's input checks (for this thread only)."""
    previous = Distribution._validate_args
    token = _unchecked.set(True)
    Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(previous)
        _unchecked.reset(token)
