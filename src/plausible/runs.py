"""Run folders: train a recipe into a folder, and load a trained run back.

A run folder holds ``config.json`` (everything needed to rebuild the model and task),
``model.safetensors``, ``metrics.jsonl``, ``summary.json``, ``figures/*.png``, ``report.md`` and
``checkpoint/`` (weights, optimiser and RNG state for ``--resume``).
"""

from __future__ import annotations

import logging
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from plausible._version import __version__
from plausible.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    build_model,
    check_format_version,
    load_weights,
    read_json,
    save_weights,
)
from plausible.config import validate_config
from plausible.io import atomic_write_json
from plausible.metrics.suite import EvaluationInterrupted, run_metrics
from plausible.registry import TASKS
from plausible.reports import write_report
from plausible.reports.evaluation import (
    reattach_sections,
    suite_figures,
    summary_section,
    write_evaluation,
)
from plausible.run_folder import folder_state, resolve_run
from plausible.tasks.base import Task, TaskData
from plausible.training import ConfiguredObjective, Trainer, TrainerConfig, load_metrics

__all__ = [
    "EvaluationInterrupted",
    "Run",
    "build_task",
    "evaluate_run",
    "evaluation_settings",
    "load_baselines",
    "load_run",
    "train_baselines",
    "train_run",
]

log = logging.getLogger(__name__)

#: ``[evaluation]`` key read by :meth:`Task.baselines` (``baseline = false``: no companion runs).
COMPANION_KEY = "baseline"

#: Seed of an evaluation when neither the recipe nor ``plausible evaluate --seed`` gives one.
EVALUATION_SEED = 0


@dataclass
class Run:
    """A trained run loaded from its folder."""

    path: Path
    config: dict[str, Any]
    model: nn.Module
    task: Task

    def load_data(self) -> TaskData:
        """Rebuild the task's data splits exactly as in training."""
        return self.task.load()


def build_task(config: dict[str, Any]) -> Task:
    """The task a recipe's ``[task]`` table names, built with the table's other keys."""
    kwargs = dict(config["task"])
    return TASKS.get(kwargs.pop("name"))(**kwargs)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


def train_run(
    config: dict[str, Any], out_dir: str | Path, *, resume: bool = False, evaluate: bool = True
) -> Path:
    """Train a recipe into ``out_dir`` and write metrics, figures and the report.

    Args:
        config: A recipe (already loaded, overrides applied); validated here.
        out_dir: Run folder; created if missing. What happens to a folder that already holds a
            run is decided by :func:`plausible.run_folder.resolve_run`.
        resume: Continue the run in ``out_dir`` exactly where training stopped (from step 0
            when it stopped before its first checkpoint).
        evaluate: Run the task's test-set evaluation and figures after training.

    Returns:
        The run folder.
    """
    out = Path(out_dir)
    # Under torchrun every rank trains; rank 0 alone writes the run folder.
    is_main = int(os.environ.get("RANK", "0")) == 0
    # A mistake in the recipe is reported first, whatever the folder holds: it is the error the
    # user must fix either way (and the folder rules compare valid recipes).
    validate_config(config)
    resolved = resolve_run(config, out, resume=resume, is_main=is_main)
    cfg = validate_config(resolved.config)
    resume = resolved.resume
    out.mkdir(parents=True, exist_ok=True)
    training = TrainerConfig(**cfg["training"])
    torch.manual_seed(training.seed)
    task = build_task(cfg)
    data = task.load()
    model_cfg = dict(cfg["model"])
    name = model_cfg.pop("name")
    model_kwargs = {**task.model_kwargs(data), **model_cfg}
    objective_cfg = dict(cfg["objective"])
    objective = ConfiguredObjective(
        objective_cfg.pop("name", task.default_objective), objective_cfg
    )
    model = build_model(name, model_kwargs)
    full_config = {
        "format_version": FORMAT_VERSION,
        "plausible_version": __version__,
        "description": cfg.get("description", ""),
        "task": cfg["task"],
        "model": {"name": name, **model_kwargs},
        "objective": {"name": objective.name, **objective.kwargs},
        "training": training.to_dict(),
        "evaluation": cfg["evaluation"],
    }
    if is_main:
        atomic_write_json(out / "config.json", _jsonable(full_config))
    trainer = Trainer(model, objective, training, run_dir=out, callbacks=task.callbacks(data))
    log.info(
        "training %s (%d parameters) on %s",
        name,
        sum(p.numel() for p in model.parameters()),
        trainer.device,
    )
    has_val = bool(data.val) and len(next(iter(data.val.values()))) > 0
    fit = trainer.fit(
        data.train, data.val if has_val else None, transform=task.batch_transform(), resume=resume
    )
    train_baselines(task, full_config, out)
    if not trainer.is_main:
        return out
    save_weights(out / "model.safetensors", model)
    n_train = len(next(iter(data.train.values())))
    summary: dict[str, Any] = {
        "training": {
            **fit,
            "train_examples": n_train,
            "examples_per_s": (n_train / fit["median_epoch_time_s"])
            if fit["median_epoch_time_s"]
            else None,
            "device": str(trainer.device),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        }
    }
    atomic_write_json(out / "summary.json", summary)
    if evaluate:
        evaluate_run(out, model=model, task=task, data=data, summary=summary)
    return out


def train_baselines(task: Task, config: dict[str, Any], out: Path) -> None:
    """Train the task's companion runs (:meth:`Task.baselines`) into ``out/baseline/<name>``.

    Each is a run folder of its own, under the same folder rule as any run: a finished one is
    kept, an interrupted one resumes, one stopped before its first checkpoint starts again.
    """
    for name, recipe in task.baselines(config).items():
        folder = out / "baseline" / name
        state = folder_state(folder)
        if state == "finished":
            continue
        log.info("training the companion run %s", folder)
        train_run(recipe, folder, resume=state == "checkpointed", evaluate=False)


def load_baselines(
    task: Task, config: dict[str, Any], path: Path, *, device: torch.device
) -> dict[str, nn.Module | None]:
    """The trained companion runs of the run in ``path``; ``None`` where one is missing."""
    out: dict[str, nn.Module | None] = {}
    for name in task.baselines(config):
        folder = path / "baseline" / name
        if (folder / "model.safetensors").exists():
            out[name] = load_run(folder, device=device).model
        else:
            log.warning("companion run %s is missing; it is left out of the evaluation", folder)
            out[name] = None
    return out


def load_run(path: str | Path, *, device: str | torch.device = "cpu") -> Run:
    """Rebuild the model of a run folder from ``config.json`` and ``model.safetensors``."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"run folder {path} does not exist")
    config = read_json(path / "config.json")
    check_format_version(config, path)
    model_cfg = dict(config["model"])
    model = build_model(model_cfg.pop("name"), model_cfg)
    weights = path / "model.safetensors"
    if not weights.exists():
        raise CheckpointError(
            f"{weights} is missing: training did not finish; continue it with "
            f"`plausible train {path / 'config.json'} --out {path} --resume`"
        )
    load_weights(weights, model)
    model.to(device).eval()
    return Run(path=path, config=config, model=model, task=build_task(config))


def evaluation_settings(
    task: Task, config: dict[str, Any], extra: dict[str, Any] | None
) -> dict[str, Any]:
    """The ``[evaluation]`` table a run is evaluated with: the task's defaults, then the run's
    recipe, then ``extra`` (``plausible evaluate`` options); sub-tables are merged key by key."""
    settings = _merge(_merge(task.evaluation_defaults(), config.get("evaluation", {})), extra or {})
    # Read by Task.baselines to switch companion runs off, not a suite setting.
    settings.pop(COMPANION_KEY, None)
    return settings


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``extra``, table by table (nested dicts merge, other values replace)."""
    out = dict(base)
    for key, value in extra.items():
        old = out.get(key)
        out[key] = (
            _merge(old, value) if isinstance(value, dict) and isinstance(old, dict) else value
        )
    return out


def evaluate_run(
    path: str | Path,
    *,
    settings: dict[str, Any] | None = None,
    model: nn.Module | None = None,
    task: Task | None = None,
    data: TaskData | None = None,
    summary: dict[str, Any] | None = None,
    figures: bool = True,
) -> dict[str, Any]:
    """Evaluate a run on its test split; update ``summary.json``, figures and ``report.md``.

    The suite metrics the task names (or the ``[evaluation] metrics`` list) run with
    :func:`plausible.metrics.suite.run_metrics`; their values become summary.json's ``test``
    section (:func:`plausible.reports.evaluation.summary_section`). The evaluation is seeded
    (``seed`` in ``settings`` or the recipe's ``[evaluation]``, else :data:`EVALUATION_SEED`),
    so evaluating a run twice gives the same numbers; summary.json's ``evaluation`` section
    records the seed and the settings.

    Raises:
        EvaluationInterrupted: On Ctrl-C, naming ``plausible evaluate`` on the run folder.
    """
    path = Path(path)
    try:
        return _evaluate(path, settings, model, task, data, summary, figures=figures)
    except KeyboardInterrupt:
        raise EvaluationInterrupted(path) from None


def _evaluate(
    path: Path,
    settings: dict[str, Any] | None,
    model: nn.Module | None,
    task: Task | None,
    data: TaskData | None,
    summary: dict[str, Any] | None,
    *,
    figures: bool,
) -> dict[str, Any]:
    if model is None or task is None:
        run = load_run(path, device="cuda" if torch.cuda.is_available() else "cpu")
        model, task = run.model, run.task
        config = run.config
    else:
        config = read_json(path / "config.json")
    data = task.load() if data is None else data
    eval_settings = evaluation_settings(task, config, settings)
    names = eval_settings.pop("metrics", None) or task.metrics
    seed = int(eval_settings.setdefault("seed", EVALUATION_SEED))
    log.info("evaluating %s on its test split (seed %d)", path, seed)
    # Whatever still draws from the global stream (a metric without its own stream, a figure)
    # draws the same numbers at every evaluation.
    torch.manual_seed(seed)
    tic = time.perf_counter()
    model.eval()
    results = run_metrics(names, model, data, eval_settings) if names else {}
    metrics = summary_section(results)
    baselines = load_baselines(task, config, path, device=next(model.parameters()).device)
    for name in task.compared_baselines:
        base = baselines.get(name)
        if name not in baselines:
            continue
        if base is None:
            metrics[name] = {"skipped": f"companion run baseline/{name} is missing"}
            continue
        log.info("evaluating the companion run baseline/%s", name)
        metrics[name] = summary_section(run_metrics(names, base, data, eval_settings))
        if "nll" in metrics and "nll" in metrics[name]:
            gain = metrics[name]["nll"]["mean"] - metrics["nll"]["mean"]
            metrics.setdefault("comparison", {})[f"nll_gain_over_{name}"] = gain
    metrics["evaluation_time_s"] = time.perf_counter() - tic
    if summary is None:
        summary = read_json(path / "summary.json") if (path / "summary.json").exists() else {}
    summary["test"] = metrics
    summary["evaluation"] = {"seed": eval_settings["seed"], "settings": _jsonable(eval_settings)}
    atomic_write_json(path / "summary.json", summary)
    if results:
        # The metrics' details (curves, per-dimension KLs) live in evaluation.json, as after
        # `plausible evaluate --metrics`; summary.json keeps the headline values.
        write_evaluation(path, results)
    records = load_metrics(path / "metrics.jsonl") if (path / "metrics.jsonl").exists() else []
    if figures:
        log.info("drawing the figures into %s", path / "figures")
    figs = (
        task.figures(
            model,
            data,
            path / "figures",
            records=records,
            baselines=baselines,
            settings=eval_settings,
        )
        if figures
        else {}
    )
    if figures and results:
        # The suite's own figures (the diversity-quality curve, KL bars, labelled traversals).
        title = str(config.get("description", ""))[:60] or path.name
        figs.update(suite_figures(model, data, results, path / "figures", title=title))
    old_report = (path / "report.md").read_text() if (path / "report.md").exists() else ""
    write_report(
        path,
        title=f"Run report: {config.get('description') or path.name}",
        summary=_report_table(summary),
        figures=figs,
    )
    # Sections added by `evaluate --metrics` and `compare` survive a re-evaluation.
    reattach_sections(path, old_report)
    return summary


def _report_table(summary: dict[str, Any]) -> dict[str, Any]:
    # Long per-dimension lists read badly in a table; they stay in summary.json.
    test = {k: v for k, v in summary.get("test", {}).items() if not isinstance(v, list)}
    train = {
        k: v
        for k, v in summary.get("training", {}).items()
        if k
        in (
            "epochs",
            "steps",
            "skipped_batches",
            "best_epoch",
            "best_val_loss",
            "wall_time_s",
            "examples_per_s",
            "device",
        )
    }
    seed = summary.get("evaluation", {}).get("seed")
    return {
        **test,
        **({"evaluation seed": seed} if seed is not None else {}),
        **{f"training {k}": v for k, v in train.items()},
    }
