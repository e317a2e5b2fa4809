"""Progress of long evaluation steps: a bar on a terminal, periodic log lines everywhere else.

An importance-sampled likelihood over 10,000 images can run for minutes. On a terminal
:func:`progress` shows a rich bar (with the time left) that disappears when the step ends; when
standard error is not a terminal (a log file, a batch job) it logs a line every tenth of the work
or every :data:`LOG_EVERY_S` seconds, whichever comes first, so a log shows the step moving.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator

__all__ = ["LOG_EVERY_FRACTION", "LOG_EVERY_S", "format_duration", "progress"]

log = logging.getLogger(__name__)

#: Share of the work between two log lines when not on a terminal.
LOG_EVERY_FRACTION = 0.1
#: Most seconds between two log lines when not on a terminal.
LOG_EVERY_S = 30.0


def format_duration(seconds: float) -> str:
    """``42 s``, ``7 min 3 s`` or ``2 h 5 min``: a duration as a person reads it."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


class _LogLines:
    """Log ``what: done/total unit (p%), elapsed, time left`` at every tenth or 30 s."""

    def __init__(self, what: str, total: int, unit: str, clock: Callable[[], float]) -> None:
        self.what, self.total, self.unit, self.clock = what, total, unit, clock
        self.done = 0
        self.start = self.last = clock()
        self.next_mark = LOG_EVERY_FRACTION
        log.info("%s: %d %s", what, total, unit)

    def __call__(self, n: int) -> None:
        self.done += n
        now = self.clock()
        fraction = self.done / self.total if self.total else 1.0
        if fraction + 1e-12 < self.next_mark and now - self.last < LOG_EVERY_S:
            return
        while self.next_mark <= fraction + 1e-12:
            self.next_mark += LOG_EVERY_FRACTION
        self.last = now
        elapsed = now - self.start
        left = (
            f", about {format_duration(elapsed * (1 - fraction) / fraction)} left"
            if 0 < fraction < 1
            else ""
        )
        log.info(
            "%s: %d/%d %s (%.0f%%), %s elapsed%s",
            self.what,
            self.done,
            self.total,
            self.unit,
            100 * fraction,
            format_duration(elapsed),
            left,
        )


@contextlib.contextmanager
def progress(
    what: str,
    total: int,
    *,
    unit: str = "examples",
    terminal: bool | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Callable[[int], None]]:
    """Report the progress of a step of ``total`` items; yields ``advance(n)``.

    Args:
        what: What runs, e.g. ``"IS-NLL, K=1000"``.
        total: Items in all.
        unit: What an item is, for the log lines.
        terminal: Draw a bar (``True``) or log lines (``False``); ``None``: a bar when standard
            error is a terminal.
        clock: Seconds, for the log lines' timing (a test passes its own).

    Yields:
        ``advance(n)``: ``n`` more items are done.
    """
    if terminal is None:
        terminal = sys.stderr.isatty()
    if not terminal:
        yield _LogLines(what, total, unit, clock)
        return
    # Imported here: rich is only needed when a person watches.
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(what, total=total)
    with bar:
        yield lambda n: bar.advance(task, n)
    log.info("%s: %d %s in %s", what, total, unit, format_duration(bar.tasks[0].elapsed or 0))
