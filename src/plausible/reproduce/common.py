"""What the reproductions share: train-or-reuse one run folder, the time left, and the loop
that fills a table of models per data set below the law's own row."""

from __future__ import annotations

import dataclasses
import logging
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch

from plausible._version import __version__
from plausible.io import atomic_write_json, atomic_write_text
from plausible.metrics.progress import format_duration

__all__ = [
    "Eta",
    "TableSettings",
    "format_cell",
    "override_budget",
    "reproduce_table",
    "software_versions",
    "train_and_evaluate",
]

log = logging.getLogger(__name__)


def software_versions() -> dict[str, str]:
    """The versions a reproduction's ``results.json`` records: torch, Python and plausible."""
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "plausible": __version__,
    }


def train_and_evaluate(
    config: dict[str, Any], run_dir: Path, *, resume: bool
) -> tuple[dict[str, Any], bool]:
    """Train and evaluate one run; returns its summary and whether a finished run was reused.

    With ``resume``, a run folder that already holds weights must hold this run: a stored
    recipe that differs (another protocol, budget or seed) raises a ``ConfigError`` naming the
    settings, instead of scoring the stale run.
    """
    from plausible.checkpoint import read_json
    from plausible.run_folder import folder_state, resolve_run
    from plausible.runs import evaluate_run, train_run

    if resume and (run_dir / "model.safetensors").exists():
        resolve_run(config, run_dir, resume=True)  # raises when the stored run differs
    summary_path = run_dir / "summary.json"
    if resume and summary_path.exists() and "test" in read_json(summary_path):
        log.info("reusing finished run %s", run_dir)
        return read_json(summary_path), True
    if resume and (run_dir / "model.safetensors").exists():
        return evaluate_run(run_dir), False
    # The run-folder rule decides the rest: a checkpoint resumes, anything else starts.
    train_run(config, run_dir, resume=resume and folder_state(run_dir) == "checkpointed")
    return read_json(summary_path), False


class Eta:
    """The time left for the models not yet run, from the mean time of those that ran here.

    Reused finished runs take no time, so they count as done but not in the mean. Models differ
    in cost (a baseline has no latents), so the estimate is rough until every kind has run once.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.times: list[float] = []

    def add(self, seconds: float, *, reused: bool) -> None:
        self.done += 1
        if not reused:
            self.times.append(seconds)

    def __str__(self) -> str:
        if not self.times or self.done >= self.total:
            return ""
        left = (self.total - self.done) * sum(self.times) / len(self.times)
        return f"; about {format_duration(left)} left in all"


def format_cell(row: dict[str, Any], metric: str, key: str, decimals: int) -> str:
    """One table cell: ``mean ± stderr`` of ``row[metric][key]``, a plain number, or a dash.

    An empty ``key`` takes the metric's own mean and standard error (the nll metric's headline).
    """
    result = row.get(metric, {})
    value = result.get(key) if key else result
    if value is None or (isinstance(value, dict) and "mean" not in value):
        return "—"
    if isinstance(value, dict):
        stderr = value.get("stderr")
        mean = value["mean"]
        if stderr is None or stderr != stderr:  # NaN: one example
            return f"{mean:.{decimals}f}"
        return f"{mean:.{decimals}f} ± {stderr:.{decimals}f}"
    return f"{float(value):.{decimals}f}"


def override_budget(budget: Any, **overrides: int | None) -> Any:
    """``budget`` (a frozen dataclass) with the given fields replaced; ``None`` keeps a field.

    Raises:
        ValueError: An override below 1 (epochs, image counts), naming the setting.
    """
    given = {name: value for name, value in overrides.items() if value is not None}
    for name, value in given.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    return dataclasses.replace(budget, **given)


class TableSettings(Protocol):
    """What :func:`reproduce_table` reads of a reproduction's settings."""

    @property
    def datasets(self) -> Sequence[str]: ...

    @property
    def budget(self) -> str: ...

    @property
    def latent_dim(self) -> int: ...

    @property
    def seed(self) -> int: ...

    def resolved_budget(self) -> Any:
        """The budget (a dataclass) with the settings' overrides applied."""
        ...


S = TypeVar("S", bound=TableSettings)


def reproduce_table(
    settings: S,
    *,
    experiment: str,
    protocol: dict[str, Any],
    models: Sequence[str],
    truth_row: Callable[[S, str], dict[str, Any]],
    run_config: Callable[[S, str, str], dict[str, Any]],
    format_table: Callable[[dict[str, Any]], str],
    out_dir: str | Path,
    resume: bool,
) -> dict[str, Any]:
    """Score the law's own sampler, then train and score each model, on each data set.

    Args:
        settings: The reproduction's settings; its data sets are the table's sections.
        experiment: Title of the table.
        protocol: The settings that describe the runs beyond data sets, budget, latent size
            and seed (which are taken from ``settings``), stored with the results.
        models: Model keys, in the table's order.
        truth_row: ``(settings, dataset) -> metrics`` of the exact law's sampler (first row).
        run_config: ``(settings, dataset, model) -> recipe`` of one run.
        format_table: ``results -> markdown``.
        out_dir: Receives ``<dataset>/<model>/`` run folders, ``table.md`` and
            ``results.json``.
        resume: Reuse finished runs and continue checkpointed ones.

    Returns:
        ``experiment``, ``protocol``, ``versions``, ``machine``, ``datasets`` (per data set,
        the test metrics of ``truth`` and of every model) and ``wall_time_s``.
    """
    out = Path(out_dir)
    tic = time.perf_counter()
    results: dict[str, Any] = {
        "experiment": experiment,
        "protocol": {
            "datasets": list(settings.datasets),
            "budget_name": settings.budget,
            "budget": dataclasses.asdict(settings.resolved_budget()),
            "latent_dim": settings.latent_dim,
            "seed": settings.seed,
            **protocol,
        },
        "versions": software_versions(),
        "machine": platform.machine(),
        "datasets": {},
    }
    eta = Eta(len(settings.datasets) * len(models))
    for dataset in settings.datasets:
        rows: dict[str, Any] = {"truth": truth_row(settings, dataset)}
        for model in models:
            t0 = time.perf_counter()
            log.info("model %d of %d: %s on %s%s", eta.done + 1, eta.total, model, dataset, eta)
            config = run_config(settings, dataset, model)
            run_summary, reused = train_and_evaluate(config, out / dataset / model, resume=resume)
            eta.add(time.perf_counter() - t0, reused=reused)
            rows[model] = run_summary.get("test", {})
        results["datasets"][dataset] = rows
    results["wall_time_s"] = time.perf_counter() - tic
    atomic_write_text(out / "table.md", format_table(results))
    atomic_write_json(out / "results.json", results)
    log.info("wrote %s in %.0f s", out / "table.md", results["wall_time_s"])
    return results
