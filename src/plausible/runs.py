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

import plausible
from plausible.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    build_model,
    check_format_version,
    load_weights,
    read_json,
    save_weights,
)
from plausible.config import ConfigError, validate_config
from plausible.io import atomic_write_json
from plausible.registry import TASKS
from plausible.tasks.base import Task, TaskData
from plausible.training import ConfiguredObjective, Trainer, TrainerConfig, load_metrics

__all__ = ["Run", "evaluate_run", "load_run", "train_run"]

log = logging.getLogger(__name__)


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


def _build_task(config: dict[str, Any]) -> Task:
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
        out_dir: Run folder; created if missing. Refuses a folder that already holds a run unless
            ``resume`` is set.
        resume: Continue from ``out_dir/checkpoint`` exactly where training stopped.
        evaluate: Run the task's test-set evaluation and figures after training.

    Returns:
        The run folder.
    """
    cfg = validate_config(config)
    out = Path(out_dir)
    # Under torchrun every rank trains; rank 0 alone writes the run folder.
    is_main = int(os.environ.get("RANK", "0")) == 0
    if is_main and not resume and (out / "config.json").exists():
        raise ConfigError(
            f"{out} already holds a run; pass --resume to continue it or choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    training = TrainerConfig(**cfg["training"])
    torch.manual_seed(training.seed)
    task = _build_task(cfg)
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
        "plausible_version": plausible.__version__,
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
    return Run(path=path, config=config, model=model, task=_build_task(config))


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
    """Evaluate a run on its test split; update ``summary.json``, figures and ``report.md``."""
    from plausible.metrics.suite import reattach_sections
    from plausible.viz import write_report

    path = Path(path)
    if model is None or task is None:
        run = load_run(path, device="cuda" if torch.cuda.is_available() else "cpu")
        model, task = run.model, run.task
        config = run.config
    else:
        config = read_json(path / "config.json")
    data = task.load() if data is None else data
    eval_settings = {**config.get("evaluation", {}), **(settings or {})}
    tic = time.perf_counter()
    model.eval()
    metrics = task.evaluate(model, data, settings=eval_settings)
    metrics["evaluation_time_s"] = time.perf_counter() - tic
    if summary is None:
        summary = read_json(path / "summary.json") if (path / "summary.json").exists() else {}
    summary["test"] = metrics
    atomic_write_json(path / "summary.json", summary)
    records = load_metrics(path / "metrics.jsonl") if (path / "metrics.jsonl").exists() else []
    figs = task.figures(model, data, path / "figures", records=records) if figures else {}
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
    return {**test, **{f"training {k}": v for k, v in train.items()}}
