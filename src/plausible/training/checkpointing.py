"""Crash-safe training checkpoints: a folder written beside the old one, then swapped in."""

from __future__ import annotations

import io
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from plausible.checkpoint import FORMAT_VERSION, CheckpointError, load_state_dict, save_state_dict
from plausible.io import atomic_write_bytes, atomic_write_json

__all__ = ["capture_rng", "find_checkpoint", "read_checkpoint", "restore_rng", "write_checkpoint"]

_DIR, _TMP, _OLD = "checkpoint", "checkpoint.tmp", "checkpoint.old"


def capture_rng() -> dict[str, Any]:
    """RNG states of torch (CPU and CUDA), numpy and Python, as tensors and plain lists."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
        "numpy_pos": int(np_state[2]),
        "python": list(py_state[1]),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, state["numpy_pos"], 0, 0.0))
    random.setstate((3, tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_checkpoint(
    run_dir: Path,
    *,
    model_state: dict[str, Tensor],
    trainer_state: dict[str, Any],
    best_state: dict[str, Tensor] | None,
) -> Path:
    """Write ``run_dir/checkpoint`` so that a crash at any point leaves one complete checkpoint.

    The new checkpoint is written in full to ``checkpoint.tmp``; only then is the previous one
    moved aside and the new one renamed into place. :func:`find_checkpoint` falls back to the
    moved-aside copy if a crash lands between the two renames.
    """
    tmp, final, old = run_dir / _TMP, run_dir / _DIR, run_dir / _OLD
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_state_dict(tmp / "model.safetensors", model_state)
    if best_state is not None:
        save_state_dict(tmp / "best.safetensors", best_state)
    buffer = io.BytesIO()
    torch.save(trainer_state, buffer)
    atomic_write_bytes(tmp / "trainer_state.pt", buffer.getvalue())
    # meta.json is written last: its presence marks the folder complete.
    atomic_write_json(tmp / "meta.json", {"format_version": FORMAT_VERSION,
                                          "step": trainer_state.get("step")})
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def find_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder of a run, or ``None``."""
    for name in (_DIR, _OLD):
        path = run_dir / name
        if (path / "meta.json").is_file():
            return path
    return None


def read_checkpoint(path: Path) -> tuple[dict[str, Tensor], dict[str, Any], dict[str, Tensor] | None]:
    """Load ``(model_state, trainer_state, best_state)``; trainer state with ``weights_only=True``."""
    from plausible.checkpoint import read_json

    meta = read_json(path / "meta.json")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {meta.get('format_version')}, this version of "
            f"plausible reads version {FORMAT_VERSION}; resume it with the version that wrote it"
        )
    model_state = load_state_dict(path / "model.safetensors")
    best = path / "best.safetensors"
    best_state = load_state_dict(best) if best.is_file() else None
    try:
        trainer_state = torch.load(path / "trainer_state.pt", weights_only=True, map_location="cpu")
    except Exception as err:
        raise CheckpointError(
            f"could not load {path / 'trainer_state.pt'} as plain tensors ({err}); it is corrupt "
            "or contains pickled code, which plausible refuses to run"
        ) from err
    return model_state, trainer_state, best_state
