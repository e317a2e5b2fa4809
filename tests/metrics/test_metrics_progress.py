"""Progress of long evaluation steps: log lines at every tenth or 30 s; the estimators use it."""

from __future__ import annotations

import logging
import re

import pytest
import torch

from plausible.metrics.conditional import CONDITIONAL_DEFAULTS, conditional_likelihoods
from plausible.metrics.progress import format_duration, progress
from plausible.metrics.suite import run_metrics
from plausible.models import VAE
from plausible.models.cvae import CVAE
from plausible.tasks.base import TaskData

LOGGER = "plausible.metrics.progress"


class _Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_log_lines_come_at_every_tenth_with_the_time_left(caplog) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = _Clock()
    with progress("IS-NLL, K=1000", 1000, terminal=False, clock=clock) as advance:
        for _ in range(40):  # 25 examples a second
            clock.now += 1.0
            advance(25)
    lines = _lines(caplog)
    assert lines[0] == "IS-NLL, K=1000: 1000 examples"
    # 40 batches of 2.5 %: a line at each 10 % mark, none between.
    percents = [int(m) for line in lines[1:] for m in re.findall(r"\((\d+)%\)", line)]
    assert percents == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    # After 4 s, 10 % done: 36 s left.
    assert lines[1] == "IS-NLL, K=1000: 100/1000 examples (10%), 4 s elapsed, about 36 s left"
    assert lines[-1] == "IS-NLL, K=1000: 1000/1000 examples (100%), 40 s elapsed"


def test_a_slow_step_logs_at_least_every_30_seconds(caplog) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = _Clock()
    with progress("slow", 1000, terminal=False, clock=clock) as advance:
        for _ in range(10):  # 1 % per 20 s: the 10 % marks are 200 s apart
            clock.now += 20.0
            advance(10)
    lines = _lines(caplog)[1:]
    # At 40, 80, 120 and 160 s by the 30 s rule, and at 200 s the 10 % mark.
    assert [s.split("), ")[1].split(" elapsed")[0] for s in lines] == [
        "40 s",
        "1 min 20 s",
        "2 min 0 s",
        "2 min 40 s",
        "3 min 20 s",
    ]
    assert "(10%)" in lines[-1] and "3 min 20 s elapsed" in lines[-1]


def test_durations_read_as_a_person_reads_them() -> None:
    assert format_duration(42.4) == "42 s"
    assert format_duration(423) == "7 min 3 s"
    assert format_duration(7500) == "2 h 5 min"


def test_the_nll_metric_reports_the_progress_of_its_importance_sampling(caplog) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    torch.manual_seed(0)
    model = VAE((6,), latent_dim=2, hidden_dims=(8,)).eval()
    x = (torch.rand(50, 6) < 0.3).float()
    data = TaskData(train={"x": x}, val={}, test={"x": x}, info={})
    run_metrics(["nll"], model, data, {"nll": {"num_samples": 4, "batch_size": 10}})
    lines = _lines(caplog)
    assert lines[0] == "IS-NLL, K=4: 50 examples"
    assert lines[-1].startswith("IS-NLL, K=4: 50/50 examples (100%)")
    assert len(lines) == 1 + 5  # a line per batch of 10, each a 20 % step


def test_the_conditional_estimators_report_their_progress(caplog) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    torch.manual_seed(0)
    model = CVAE((4,), (6,), latent_dim=2, hidden_dims=(8,)).eval()
    x, y = torch.randn(40, 4), (torch.rand(40, 6) < 0.5).float()
    conditional_likelihoods(
        model, x, y, {**CONDITIONAL_DEFAULTS, "num_samples": 8, "batch_size": 20}
    )
    lines = _lines(caplog)
    for what in ("Monte Carlo, S=8", "importance sampling, S=8"):
        mine = [s for s in lines if what in s]
        assert mine[0] == f"-log p(y|x), {what}: 40 examples"
        assert mine[-1].startswith(f"-log p(y|x), {what}: 40/40 examples (100%)")
