"""Weights in safetensors, configs in JSON: saving and loading models without pickled code."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import Tensor, nn

__all__ = [
    "FORMAT_VERSION",
    "CheckpointError",
    "load_state_dict",
    "load_weights",
    "save_state_dict",
    "save_weights",
    "build_model",
    "read_json",
]

#: Bumped when the layout of run folders or checkpoints changes incompatibly.
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint or run folder is missing, corrupt or from an incompatible version."""


def save_state_dict(path: str | Path, state: dict[str, Tensor]) -> None:
    """Write tensors to a safetensors file atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # safetensors refuses tensors that share storage; contiguous clones are independent.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def read_json(path: str | Path) -> dict[str, Any]:
    """Read a JSON object, with an error that names the file when it is missing or malformed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} is not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def build_model(name: str, kwargs: dict[str, Any]) -> nn.Module:
    """Instantiate a registered model from its name and init kwargs (the config *is* the signature)."""
    from plausible.registry import MODELS

    return MODELS.get(name)(**kwargs)
