"""Weights in safetensors, configs in JSON: saving and loading models without pickled code."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save
from torch import Tensor, nn

from plausible._version import __version__
from plausible.io import atomic_write_bytes
from plausible.registry import MODELS

__all__ = [
    "FORMAT_VERSION",
    "CheckpointError",
    "build_model",
    "check_format_version",
    "load_state_dict",
    "load_weights",
    "read_json",
    "save_state_dict",
    "save_weights",
]

#: Bumped when the layout of run folders or checkpoints changes incompatibly.
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint or run folder is missing, corrupt or from an incompatible version."""


def save_state_dict(path: str | Path, state: dict[str, Tensor]) -> None:
    """Write tensors to a safetensors file atomically (temp file, fsync, rename).

    Raises:
        OSError: When writing fails (e.g. a full disk), with a message naming ``path``; the
            previous file at ``path`` is unchanged.
    """
    # safetensors refuses tensors that share storage; contiguous clones are independent.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    atomic_write_bytes(path, save(tensors))


def load_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a safetensors file; a corrupt or missing file raises :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist")
    try:
        return load_file(str(path))
    except Exception as err:  # safetensors raises several error types for bad files
        raise CheckpointError(
            f"could not read weights from {path} ({err}); the file is corrupt or not a "
            "safetensors file: retrain, or resume from the run's checkpoint folder"
        ) from err


def save_weights(path: str | Path, model: nn.Module) -> None:
    """Save a module's state dict (parameters and buffers) as safetensors."""
    save_state_dict(path, model.state_dict())


def load_weights(path: str | Path, model: nn.Module) -> None:
    """Load safetensors weights into ``model``; missing or unexpected keys are an error."""
    state = load_state_dict(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(
            f"the weights in {path} do not fit the model built from its config: {err}"
        ) from err


def check_format_version(meta: dict[str, Any], where: str | Path) -> None:
    """Refuse a run folder or checkpoint written in another layout, saying which versions differ.

    Args:
        meta: The folder's ``config.json`` or ``meta.json``, with ``format_version`` and, when
            recorded, the ``plausible_version`` that wrote it.
        where: The file or folder, for the message.

    Raises:
        CheckpointError: If ``meta["format_version"]`` is not :data:`FORMAT_VERSION`.
    """
    version = meta.get("format_version")
    if version == FORMAT_VERSION and not isinstance(version, bool):
        return
    writer = meta.get("plausible_version")
    by = f"plausible {writer}" if writer else "an unknown version of plausible"
    if writer:
        advice = f"open it with the version that wrote it (pip install 'plausible=={writer}')"
    else:
        advice = "open it with the version of plausible that wrote it"
    raise CheckpointError(
        f"{where} was written by {by} in format version {version!r}, but this plausible "
        f"({__version__}) reads format version {FORMAT_VERSION} only; {advice}, "
        "or train a new run"
    )


def _next_step(path: Path) -> str:
    """What to do about an unreadable JSON file of a run folder (nothing for other files)."""
    if path.name == "config.json":
        return ": restore it from a backup, or retrain with `plausible train RECIPE --out NEW`"
    return ""


def read_json(path: str | Path) -> dict[str, Any]:
    """Read a JSON object, with an error that names the file when it is missing or malformed,
    and for a run's ``config.json`` says how to recover."""
    path = Path(path)
    what = f"{path.name} of {path.parent}" if path.name == "config.json" else str(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except json.JSONDecodeError as err:
        raise CheckpointError(
            f"{what} is not valid JSON ({err.msg}: line {err.lineno}, column {err.colno})"
            + _next_step(path)
        ) from err
    except UnicodeDecodeError as err:
        raise CheckpointError(
            f"{what} is not a UTF-8 text (JSON) file ({err}){_next_step(path)}"
        ) from err
    except IsADirectoryError:
        raise CheckpointError(f"{path} is a folder; expected a JSON file") from None
    if not isinstance(data, dict):
        raise CheckpointError(
            f"{what} must hold a JSON object, got {type(data).__name__}{_next_step(path)}"
        )
    return data


def build_model(name: str, kwargs: dict[str, Any]) -> nn.Module:
    """Build a registered model from its name and init kwargs (the config is the signature).

    Raises:
        KeyError: For an unknown model name, listing the registered ones.
        ValueError: For keyword arguments the model does not take or values it refuses.
    """
    cls = MODELS.get(name)
    try:
        return cls(**kwargs)
    except TypeError as err:  # an unexpected or missing keyword argument
        params = [p for p in inspect.signature(cls).parameters if p != "self"]
        raise ValueError(
            f"model {name!r} cannot be built from {sorted(kwargs)}: {err}; it takes "
            f"{', '.join(params)}. Check the [model] table of the recipe or config.json."
        ) from err
