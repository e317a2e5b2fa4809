"""Recipes: TOML files naming a task, a model, an objective and trainer settings, checked up front.

A recipe has a top-level ``description`` and the tables ``[task]``, ``[model]``, ``[objective]``
(each with a registered ``name`` plus keyword arguments), ``[training]`` (:class:`TrainerConfig`
fields) and ``[evaluation]`` (settings for the task's evaluation). ``--set table.key=value``
overrides one value; values are parsed as TOML (``3``, ``1e-3``, ``"conv"``, ``[64, 64]``).
"""

from __future__ import annotations

import copy
import difflib
import inspect
import json
import math
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Union

from plausible.models._renamed import renamed_kwargs_of
from plausible.objectives.schedules import Kind, Schedule
from plausible.registry import MODELS, OBJECTIVES, TASKS
from plausible.training.config import TrainerConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["ConfigError", "apply_overrides", "list_recipes", "load_recipe", "validate_config"]

SECTIONS = ("task", "model", "objective", "training", "evaluation")
TOP_LEVEL = ("description",)


class ConfigError(ValueError):
    """A recipe or override is malformed; the message says which key and what is valid."""


def _recipe_dir() -> Any:
    return resources.files("plausible") / "recipes"


def list_recipes() -> dict[str, str]:
    """Shipped recipe names mapped to their one-line descriptions."""
    out = {}
    for entry in sorted(_recipe_dir().iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text())
            out[entry.name.removesuffix(".toml")] = str(data.get("description", ""))
    return out


def load_recipe(name_or_path: str | Path) -> dict[str, Any]:
    """Load a shipped recipe by name, or a TOML / JSON file by path."""
    path = Path(name_or_path)
    if path.suffix in (".toml", ".json") or path.is_file():
        if not path.is_file():
            what = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise ConfigError(f"recipe file {path} {what}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise ConfigError(
                f"{path} is not a UTF-8 text file ({err}); a recipe is a TOML or JSON file"
            ) from None
        try:
            data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as err:
            raise ConfigError(f"could not parse {path}: {err}") from err
        if not isinstance(data, dict):
            raise ConfigError(
                f"{path} must hold a table of settings ([task], [model], ...), got a JSON "
                f"{type(data).__name__}"
            )
        return data
    entry = _recipe_dir() / f"{name_or_path}.toml"
    if not entry.is_file():
        names = list(list_recipes())
        close = difflib.get_close_matches(str(name_or_path), names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"unknown recipe {str(name_or_path)!r}.{hint} Shipped recipes: {', '.join(names)}. "
            "Pass a path to a .toml file for your own recipe; `plausible recipes` lists them."
        )
    return tomllib.loads(entry.read_text())


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word such as conv or fashion-mnist is a string


def apply_overrides(config: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``config`` with ``table.key=value`` overrides applied.

    Raises:
        ConfigError: For an override without ``=``, or with a table that does not exist.
    """
    out = copy.deepcopy(dict(config))
    for item in overrides:
        key, sep, value = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) != 2 or not all(parts):
            raise ConfigError(
                f"--set expects table.key=value (e.g. training.epochs=5), got {item!r}; "
                f"tables: {', '.join(SECTIONS)}"
            )
        table, field = parts
        if table not in SECTIONS:
            raise ConfigError(
                f"--set {item!r}: unknown table {table!r}; tables: {', '.join(SECTIONS)}"
            )
        section = out.setdefault(table, {})
        if not isinstance(section, dict):
            raise ConfigError(
                f"--set {item!r}: [{table}] in the recipe is {section!r}, not a table; fix the "
                "recipe"
            )
        section[field] = _parse_value(value.strip())
    return out


# -- validation against signatures ---------------------------------------------------------------
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _check_value(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against annotation ``tp``; return it converted (lists to tuples, ints to
    floats)."""
    origin = typing.get_origin(tp)
    if tp is Any or tp is inspect.Parameter.empty:
        return value
    if origin is Literal:
        if value not in typing.get_args(tp):
            choices = ", ".join(repr(c) for c in typing.get_args(tp))
            raise ConfigError(f"{where} must be one of {choices}; got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return _check_value(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[-1] if errors else f"{where}: unexpected value {value!r}")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r} ({type(value).__name__})")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number, got {value!r} ({type(value).__name__})")
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r} ({type(value).__name__})")
        return value
    if origin in (tuple, list, Sequence, typing.Sequence) or tp in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} must be a list, got {value!r} ({type(value).__name__})")
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        item_tp = args[0] if args else Any
        return tuple(_check_value(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table, got {value!r}")
        return value
    return value


def _check_kwargs(
    fn: Callable[..., Any], kwargs: Mapping[str, Any], table: str, *, skip: int = 0
) -> dict[str, Any]:
    """Check recipe kwargs against ``fn``'s signature: unknown keys and wrong types are errors."""
    target = fn.__init__ if inspect.isclass(fn) else fn  # type: ignore[misc]
    sig = inspect.signature(target)
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolved forward references: fall back to no type checks
        hints = {}
    params = [p for p in sig.parameters.values() if p.name != "self"][skip:]
    named = {p.name: p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    open_kwargs = any(p.kind == p.VAR_KEYWORD for p in params)
    out = {}
    for key, value in kwargs.items():
        if key not in named:
            if open_kwargs:
                out[key] = value
                continue
            close = difflib.get_close_matches(key, named, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown key {table}.{key}.{hint} Valid keys for {table}: {', '.join(named)}"
            )
        tp = hints.get(key, named[key].annotation)
        if isinstance(value, dict) and table == "objective":
            out[key] = _check_schedule(value, f"{table}.{key}")
            continue
        out[key] = _check_value(value, tp, f"{table}.{key}")
    return out


def _check_schedule(spec: dict[str, Any], where: str) -> dict[str, Any]:
    """Check a schedule table (``{schedule = "linear", end = 1.0, steps = 100}``) up front."""
    if "schedule" not in spec:
        raise ConfigError(
            f"{where} is a table, so it must be a schedule with a 'schedule' key (constant, "
            f"linear or cyclical); got keys {sorted(map(str, spec))}"
        )
    _check_value(spec["schedule"], Kind, f"{where}.schedule")
    keys = ("schedule", "start", "end", "steps", "period", "ratio", "value")
    unknown = sorted(map(str, set(spec) - set(keys)))
    if unknown:
        raise ConfigError(f"unknown keys {unknown} in {where}; a schedule has {', '.join(keys)}")
    fields = {k: v for k, v in spec.items() if k not in ("schedule", "value")}
    if "value" in spec:
        fields["end"] = spec["value"]
    _check_kwargs(Schedule, fields, where)
    try:
        Schedule.from_config(spec)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from None
    return spec


def validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Check every table of a recipe against what it configures, before anything is built.

    Returns:
        A normalised copy (lists become tuples where a sequence is expected, ints become floats
        where a float is expected).

    Raises:
        ConfigError: Naming the first bad key or value and listing the valid choices.
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"a recipe is a table of settings, got {type(config).__name__}")
    unknown = sorted(map(str, set(config) - set(SECTIONS) - set(TOP_LEVEL)))
    if unknown:
        raise ConfigError(
            f"unknown top-level keys {unknown}; a recipe has: {', '.join(TOP_LEVEL + SECTIONS)}"
        )
    out: dict[str, Any] = {k: config[k] for k in TOP_LEVEL if k in config}
    if not isinstance(out.get("description", ""), str):
        raise ConfigError(f"description must be a string, got {out['description']!r}")
    for table in SECTIONS:
        if not isinstance(config.get(table, {}), Mapping):
            raise ConfigError(
                f"[{table}] must be a table of key = value settings, got "
                f"{config[table]!r} ({type(config[table]).__name__})"
            )
    for table, registry in (("task", TASKS), ("model", MODELS), ("objective", OBJECTIVES)):
        section = dict(config.get(table, {}))
        name = section.pop("name", None)
        if name is not None and not isinstance(name, str):
            raise ConfigError(
                f"{table}.name must be a string, got {name!r}; valid names: "
                f"{', '.join(registry.names())}"
            )
        if name is None and table == "objective":
            out[table] = {**section}
            continue
        if name is None:
            raise ConfigError(f"[{table}] needs a name; valid names: {', '.join(registry.names())}")
        try:
            target = registry.get(name)
        except KeyError as err:
            raise ConfigError(f"{table}.name: {err.args[0]}") from None
        skip = 2 if table == "objective" else 0  # objective adapters take (model, batch, ...)
        if isinstance(target, type):
            # An older recipe may spell a renamed argument the old way (min_posterior_scale).
            for old_key, new_key in renamed_kwargs_of(target).items():
                if old_key in section and new_key not in section:
                    section[new_key] = section.pop(old_key)
        out[table] = {"name": name, **_check_kwargs(target, section, table, skip=skip)}
    training = _check_kwargs(TrainerConfig, config.get("training", {}), "training")
    try:
        TrainerConfig(**training)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    out["training"] = training
    out["evaluation"] = dict(config.get("evaluation", {}))
    return out
