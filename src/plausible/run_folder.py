"""The states of a run folder, and what ``train`` and ``train --resume`` do in each.

A folder is in one of five states:

- ``missing``: no such folder. ``train`` starts the run; ``--resume`` is refused, naming the
  command that starts it (a misspelt folder must not start a new run).
- ``empty``: a folder without ``config.json``: a run stopped while reading its data set (the
  config is written once the data has fixed the model's shapes), or a folder made by hand.
  ``train`` and ``train --resume`` both start the run.
- ``unstarted``: ``config.json`` but no checkpoint and no final weights: the run was stopped
  (killed, out of memory, power cut, Ctrl-C while loading data) before its first checkpoint.
  Nothing was lost but time, so ``train`` and ``train --resume`` both start it from step 0 with its
  stored config, saying so in one line.
- ``checkpointed``: a checkpoint, the run was interrupted. ``--resume`` continues it exactly;
  ``train`` without it is refused (it would overwrite the run).
- ``finished``: final weights. ``--resume`` continues it (with more epochs, say); ``train`` is
  refused.

Whenever a folder holds a run, the command must describe the same run: every key the recipe sets
(after ``--set``) must equal the stored one, except the execution settings in
:data:`MAY_CHANGE_ON_RESUME` and the ``[evaluation]`` table, which may change between sessions.
A difference is refused with every differing key listed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from plausible.checkpoint import read_json
from plausible.config import ConfigError
from plausible.training.checkpointing import find_checkpoint

__all__ = [
    "MAY_CHANGE_ON_RESUME",
    "FolderState",
    "ResolvedRun",
    "config_differences",
    "folder_state",
    "resolve_run",
]

log = logging.getLogger(__name__)

FolderState = Literal["missing", "empty", "unstarted", "checkpointed", "finished"]

#: ``[training]`` keys that say how to run, not what is trained: a resumed run may change them.
MAY_CHANGE_ON_RESUME = frozenset({"epochs", "device", "num_threads", "progress", "tensorboard"})

#: Keys of ``config.json`` that describe the file, not the run.
_FILE_KEYS = ("format_version", "plausible_version")


def folder_state(out: Path) -> FolderState:
    """Which of the five states the run folder ``out`` is in."""
    if not out.is_dir():
        return "missing"
    if not (out / "config.json").is_file():
        return "empty"
    if find_checkpoint(out) is not None:
        return "checkpointed"
    if (out / "model.safetensors").is_file():
        return "finished"
    return "unstarted"


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values (a TOML integer equals the float it became; lists equal tuples)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _same_name(a: Any, b: Any) -> bool:
    """Registry names match whatever their separators (``mdn_nll`` and ``mdn-nll``)."""
    return isinstance(a, str) and isinstance(b, str) and a.replace("_", "-") == b.replace("_", "-")


def config_differences(asked: Mapping[str, Any], stored: Mapping[str, Any]) -> list[str]:
    """``table.key: run <stored>, now <asked>`` for every key ``asked`` sets differently.

    Only keys that ``asked`` sets are compared (the stored config also holds what the task
    derived from its data, such as shapes). The ``[evaluation]`` table and the training keys in
    :data:`MAY_CHANGE_ON_RESUME` are not compared.
    """
    diffs = []
    for table in ("task", "model", "objective", "training"):
        mine, theirs = asked.get(table) or {}, stored.get(table) or {}
        for key, value in mine.items():
            if table == "training" and key in MAY_CHANGE_ON_RESUME:
                continue
            if key not in theirs:
                diffs.append(f"{table}.{key}: run (not set), now {value!r}")
            elif key == "name" and _same_name(value, theirs[key]):
                continue
            elif not _same(value, theirs[key]):
                diffs.append(f"{table}.{key}: run {theirs[key]!r}, now {value!r}")
    return diffs


@dataclass(frozen=True)
class ResolvedRun:
    """What to train, decided from the command and the folder.

    Attributes:
        config: The recipe to train: the stored one (with this command's execution settings and
            evaluation table) when the folder holds a run, else the command's.
        state: The folder's state before training.
        resume: Continue from the folder's checkpoint (else start at step 0).
    """

    config: dict[str, Any]
    state: FolderState
    resume: bool


def resolve_run(
    config: Mapping[str, Any], out: Path, *, resume: bool, is_main: bool = True
) -> ResolvedRun:
    """Decide how to train ``config`` into ``out`` (see the module docstring for the rules).

    Args:
        config: The recipe the command asks for, overrides applied.
        out: The run folder.
        resume: Whether ``--resume`` was given.
        is_main: Whether this process writes the folder (rank 0): only it removes the rows a run
            stopped before its first checkpoint had logged.

    Raises:
        ConfigError: ``--resume`` into a folder without a run; a run folder given without
            ``--resume`` that holds a checkpoint or weights; a command whose recipe differs from
            the stored run.
    """
    asked = {k: v for k, v in config.items() if k not in _FILE_KEYS}
    state = folder_state(out)
    if state == "missing" and resume:
        raise ConfigError(
            f"--resume was given but {out} does not exist, so it holds no run to resume; "
            "check the folder name, or start the run without --resume"
        )
    if state in ("missing", "empty"):
        if resume:
            log.warning(
                "%s holds no config yet (stopped while loading data); starting the run", out
            )
        return ResolvedRun(config=asked, state=state, resume=False)
    if state in ("checkpointed", "finished") and not resume:
        raise ConfigError(
            f"{out} already holds a run; pass --resume to continue it or choose another --out"
        )
    stored = {k: v for k, v in read_json(out / "config.json").items() if k not in _FILE_KEYS}
    diffs = config_differences(asked, stored)
    if diffs:
        listed = "\n  ".join(diffs)
        raise ConfigError(
            f"{out} holds a different run; these settings differ:\n  {listed}\n"
            f"Resume it with the recipe and --set values it was started with, or with "
            f"`plausible train {out / 'config.json'} --out {out} --resume`; "
            "or choose another --out"
        )
    training = dict(stored.get("training") or {})
    for key in MAY_CHANGE_ON_RESUME & set(asked.get("training") or {}):
        training[key] = asked["training"][key]
    merged = {**stored, "training": training, "evaluation": asked.get("evaluation", {})}
    if state == "unstarted":
        log.warning(
            "%s never reached its first checkpoint; starting it from step 0 with its stored config",
            out,
        )
        if is_main:
            # Rows of the stopped attempt: the restarted run writes them again.
            (out / "metrics.jsonl").unlink(missing_ok=True)
        return ResolvedRun(config=merged, state=state, resume=False)
    return ResolvedRun(config=merged, state=state, resume=True)
