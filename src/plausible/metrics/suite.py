"""The evaluation suite's plumbing: the registry of named metrics, their settings, and the runner.

Every suite metric is registered in ``plausible.registry.METRICS`` as a :class:`SuiteMetric`
taking ``(model, data, settings)`` and returning a JSON-serialisable dict whose top-level numbers
and estimates are its headline values (``plausible compare`` shows those); details and the settings
used sit under ``"details"`` and ``"settings"``. A metric that does not apply to a model or task
raises :class:`NotApplicableError`, and the suite records ``{"skipped": reason}`` instead. Metrics
are registered next to their mathematics (``likelihood.py``, ``conditional.py``, ``diversity.py``
...) with :func:`suite_metric`; importing :mod:`plausible.metrics` registers them all.

Settings: the recipe's ``[evaluation]`` table. Each metric reads its own sub-table
(``[evaluation.disentanglement]``) over the top-level keys it shares (``seed``, ``num_examples``,
``output``, and for ``nll`` the sample counts); :func:`options` refuses unknown keys everywhere.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from plausible.data.task_data import TaskData
from plausible.registry import METRICS

__all__ = [
    "DIRECTIONS",
    "SHARED",
    "EvaluationInterrupted",
    "NotApplicableError",
    "SuiteMetric",
    "check_settings",
    "conditional",
    "headline",
    "held_out_inputs",
    "options",
    "parse_metric_names",
    "run_metrics",
    "suite_metric",
    "suite_metric_names",
    "summary",
]

log = logging.getLogger(__name__)

MetricFn = Callable[[nn.Module, TaskData, dict[str, Any]], dict[str, Any]]

#: Which way is better for each headline value (``metric.key``): ``lower``, ``higher`` or
#: ``half`` (closest to 0.5, for the real-vs-generated classifier). Others are descriptive.
#: Filled by :func:`suite_metric` from each metric's ``directions``.
DIRECTIONS: dict[str, str] = {}

#: Top-level keys of ``[evaluation]`` that most metrics share (when they have the setting).
SHARED: tuple[str, ...] = ("seed", "num_examples", "output")


class NotApplicableError(Exception):
    """The metric does not apply to this model or task; the message says why and what does."""


class EvaluationInterrupted(Exception):  # noqa: N818  (a stop, not an error)
    """Ctrl-C during the evaluation of a run; the message names the command that finishes it.

    Args:
        path: The run folder.
        command: The command that finishes the evaluation (default ``plausible evaluate PATH``).
    """

    def __init__(self, path: str | Path, command: str | None = None) -> None:
        self.path = Path(path)
        self.command = command or f"plausible evaluate {path}"
        super().__init__(
            f"the evaluation of {path} stopped before it finished; the trained model is saved "
            f"and `{self.command}` finishes the evaluation"
        )


@dataclass(frozen=True)
class SuiteMetric:
    """A registered suite metric.

    Attributes:
        name: Registry name (what ``--metrics`` takes).
        fn: ``(model, data, settings) -> dict``.
        description: One line for listings and errors.
        shared: Top-level ``[evaluation]`` keys the metric reads when it has them.
    """

    name: str
    fn: MetricFn
    description: str
    shared: tuple[str, ...] = SHARED

    def __call__(
        self, model: nn.Module, data: TaskData, settings: dict[str, Any]
    ) -> dict[str, Any]:
        return self.fn(model, data, settings)


def suite_metric(
    name: str,
    description: str,
    *,
    directions: Mapping[str, str] | None = None,
    shared: Sequence[str] = SHARED,
) -> Callable[[MetricFn], MetricFn]:
    """Register ``fn`` in ``METRICS`` as the suite metric ``name``.

    Args:
        name: What ``--metrics`` takes.
        description: One line for listings.
        directions: Headline key -> ``lower`` / ``higher`` / ``half`` (which way is better).
        shared: Top-level ``[evaluation]`` keys the metric reads when it has them.
    """

    def decorate(fn: MetricFn) -> MetricFn:
        METRICS.register(name)(SuiteMetric(name, fn, description, tuple(shared)))
        DIRECTIONS.update({f"{name}.{key}": way for key, way in (directions or {}).items()})
        return fn

    return decorate


def suite_metric_names() -> list[str]:
    """Names of the registered suite metrics (``METRICS`` also holds plain functions)."""
    return [n for n in METRICS.names() if isinstance(METRICS.get(n), SuiteMetric)]


def parse_metric_names(text: str | Sequence[str]) -> list[str]:
    """``"nll,apd"`` (or a list) to validated names; ``"all"`` means every suite metric."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    valid = suite_metric_names()
    if names == ["all"]:
        return valid
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        raise ValueError(
            f"unknown metric(s) {', '.join(map(repr, unknown)) or '(none given)'}; suite metrics: "
            f"{', '.join(valid)} (or 'all')"
        )
    return list(dict.fromkeys(names))


def _metric(name: str) -> SuiteMetric:
    metric = METRICS.get(name)
    assert isinstance(metric, SuiteMetric), name
    return metric


def options(settings: Mapping[str, Any], name: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """Defaults, then the shared top-level keys, then the metric's own table.

    Unknown keys in the metric's table are an error that lists the valid ones.
    """
    own = settings.get(name, {})
    if not isinstance(own, Mapping):
        raise ValueError(f"evaluation.{name} must be a table of settings, got {own!r}")
    unknown = sorted(set(own) - set(defaults))
    if unknown:
        raise ValueError(
            f"unknown evaluation.{name} setting(s) {unknown}; valid: {', '.join(sorted(defaults))}"
        )
    shared = _metric(name).shared if name in METRICS.names() else SHARED
    picked = {k: settings[k] for k in shared if k in settings and k in defaults}
    return {**defaults, **picked, **own}


def check_settings(settings: Mapping[str, Any]) -> None:
    """Refuse top-level ``[evaluation]`` keys that no registered suite metric reads.

    A sub-table must be named after a metric; ``metrics`` lists the metrics to run.
    """
    names = suite_metric_names()
    valid = {"metrics", *names, *(k for n in names for k in _metric(n).shared)}
    unknown = sorted(set(settings) - valid)
    if unknown:
        raise ValueError(
            f"unknown [evaluation] setting(s) {unknown}; valid top-level keys: "
            f"{', '.join(sorted(valid - set(names)))}; metric tables: {', '.join(names)}"
        )


def run_metrics(
    names: Sequence[str],
    model: nn.Module,
    data: TaskData,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run suite metrics in order; each result gets its wall time, skipped ones a reason.

    Args:
        names: Metric names (or ``["all"]``).
        model: The model, put in eval mode here.
        data: The task's splits; metrics score the test split.
        settings: The ``[evaluation]`` table (validated here).

    Returns:
        ``{name: result}`` in the order run.
    """
    settings = dict(settings or {})
    check_settings(settings)
    results: dict[str, dict[str, Any]] = {}
    model.eval()
    names = parse_metric_names(names)
    for i, name in enumerate(names, 1):
        metric = _metric(name)
        # Some metrics run for minutes: the log says which one runs now.
        log.info("%s: running (metric %d of %d)", name, i, len(names))
        tic = time.perf_counter()
        try:
            result = metric(model, data, settings)
        except NotApplicableError as why:
            log.info("%s: skipped (%s)", name, why)
            results[name] = {"skipped": str(why)}
            continue
        result["time_s"] = round(time.perf_counter() - tic, 2)
        values = headline({name: result}).items()
        log.info("%s: %s", name, ", ".join(f"{k} {_scalar(v):.4g}" for k, v in values))
        results[name] = result
    return results


def headline(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``{"metric.key": value}`` for each top-level number or estimate of each result."""
    out: dict[str, Any] = {}
    for name, result in results.items():
        for key, value in result.items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if key != "time_s" and (number or (isinstance(value, Mapping) and "mean" in value)):
                out[f"{name}.{key}"] = value
    return out


def _scalar(value: Any) -> float:
    """The number of a headline value (an estimate's mean)."""
    return float(value["mean"] if isinstance(value, Mapping) else value)


# -- helpers shared by the metrics -----------------------------------------------------------------
def conditional(data: TaskData) -> bool:
    """Whether the task pairs inputs with targets (``"y"`` in its test split)."""
    return "y" in data.test


def held_out_inputs(data: TaskData, n: int) -> Tensor:
    """The first ``n`` test inputs (all of them for ``n = 0``)."""
    if "x" not in data.test:
        raise NotApplicableError(f"the task's test split has no 'x' (keys: {sorted(data.test)})")
    return data.test["x"][: n or None]


def summary(values: Tensor) -> dict[str, float]:
    """Mean and standard error across examples of per-example values."""
    v = values.double()
    return {
        "mean": float(v.mean()),
        "stderr": float(v.std() / math.sqrt(len(v))) if len(v) > 1 else float("nan"),
    }
