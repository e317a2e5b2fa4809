"""Crash-safe training checkpoints: a folder written beside the old one, then swapped in."""

from __future__ import annotations

import io
import pickle
import random
import re
import shutil
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor

from plausible._version import __version__
from plausible.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    check_format_version,
    load_state_dict,
    read_json,
    save_state_dict,
)
from plausible.io import atomic_write_bytes, atomic_write_json, describe_write_error, fsync_dir

__all__ = [
    "capture_rng",
    "find_checkpoint",
    "load_trainer_state",
    "read_checkpoint",
    "restore_rng",
    "write_checkpoint",
]

_DIR, _TMP, _OLD = "checkpoint", "checkpoint.tmp", "checkpoint.old"


def capture_rng() -> dict[str, Any]:
    """RNG states of torch (CPU and CUDA), numpy and Python, as tensors and plain lists."""
    np_state = cast(tuple[Any, ...], np.random.get_state(legacy=True))
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
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_state_dict(tmp / "model.safetensors", model_state)
        if best_state is not None:
            save_state_dict(tmp / "best.safetensors", best_state)
        buffer = io.BytesIO()
        torch.save(trainer_state, buffer)
        atomic_write_bytes(tmp / "trainer_state.pt", buffer.getvalue())
        # meta.json is written last: its presence marks the folder complete.
        meta = {
            "format_version": FORMAT_VERSION,
            "plausible_version": __version__,
            "step": trainer_state.get("step"),
        }
        atomic_write_json(tmp / "meta.json", meta)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)  # give back the space a partial copy took
        raise _write_error(run_dir, err) from err
    try:
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
        tmp.rename(final)
        fsync_dir(run_dir)  # the new name is on disk before the previous copy is removed
    except OSError as err:
        raise _write_error(run_dir, err) from err
    shutil.rmtree(old, ignore_errors=True)
    return final


def _write_error(run_dir: Path, err: OSError) -> CheckpointError:
    # atomic_open re-raises with its own wording; describe the original error once, here.
    root = err.__cause__ if isinstance(err.__cause__, OSError) else err
    what = describe_write_error(root, root.filename or run_dir / _TMP)
    previous = find_checkpoint(run_dir)
    kept = (
        f"the previous checkpoint {previous} is intact and --resume continues from it"
        if previous is not None
        else "no earlier checkpoint of this run exists"
    )
    return CheckpointError(f"could not save a checkpoint: {what}. Training stopped; {kept}.")


def find_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder of a run, or ``None``."""
    for name in (_DIR, _OLD):
        path = run_dir / name
        if (path / "meta.json").is_file():
            return path
    return None


def read_checkpoint(
    path: Path,
) -> tuple[dict[str, Tensor], dict[str, Any], dict[str, Tensor] | None]:
    """Load ``(model_state, trainer_state, best_state)``; trainer state with ``weights_only=True``.

    Raises:
        CheckpointError: If the folder is incomplete, corrupt, written in another format version
            (the message names the plausible version that wrote it) or refers to code.
    """
    meta = read_json(path / "meta.json")
    check_format_version(meta, path)
    model_state = load_state_dict(path / "model.safetensors")
    best = path / "best.safetensors"
    best_state = load_state_dict(best) if best.is_file() else None
    trainer_state = load_trainer_state(path / "trainer_state.pt")
    return model_state, trainer_state, best_state


def load_trainer_state(path: Path) -> dict[str, Any]:
    """Load ``trainer_state.pt`` with ``weights_only=True``: tensors, numbers, plain containers.

    A file whose pickle names any other Python object (a function, a class: code that unpickling
    would run) is refused without running it.

    Raises:
        CheckpointError: If the file is missing, corrupt or refers to code.
    """
    if not path.is_file():
        raise CheckpointError(f"{path} is missing; the checkpoint folder is incomplete")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as err:
        # torch's message suggests weights_only=False, the one thing not to do with such a file.
        text = str(err)
        names = sorted(set(re.findall(r"GLOBAL ([\w.]+)", text)))
        unsupported = re.search(r"Unsupported [^\n.]*", text)
        if names:
            what = f"its pickle refers to {', '.join(names)}, i.e. code that would run on loading"
        else:
            reason = unsupported.group(0) if unsupported else "an unexpected pickle instruction"
            what = (
                f"its pickle holds what plain training state never does ({reason}), as "
                "files crafted to run code on loading do"
            )
        raise CheckpointError(
            f"refused to load {path}: {what}. plausible loads training state with "
            "weights_only=True (tensors, numbers and plain containers only) and never runs code "
            "from a file. If you did not write this file, do not trust the run folder; "
            "otherwise delete the checkpoint folder and train again."
        ) from None
    except Exception as err:  # a truncated or overwritten file: zip, EOF or unpickling errors
        raise CheckpointError(
            f"could not read {path} ({type(err).__name__}: {str(err).splitlines()[0][:200]}); "
            "the file is corrupt. Delete the checkpoint folder and train again, or restore the "
            "folder from a backup."
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{path} holds a {type(state).__name__}, not the dictionary of training state "
            "plausible writes; the checkpoint folder was not written by plausible"
        )
    return state
