"""Untrusted files: no code runs from a checkpoint, a run folder or a recipe; versions are checked.

Every malicious file here holds a pickle whose ``__reduce__`` calls ``os.system`` to create a
marker file. The tests build the pickles but never load them unsafely; the marker must not appear.
"""

from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import plausible
from plausible.checkpoint import CheckpointError, load_state_dict
from plausible.config import ConfigError, load_recipe
from plausible.models import VAE
from plausible.runs import load_run
from plausible.training import ConfiguredObjective, Trainer, TrainerConfig
from plausible.training.checkpointing import find_checkpoint, read_checkpoint


class _Exploit:
    """Unpickling this runs ``os.system(command)``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return (os.system, (self.command,))


def _payload(marker: Path, *, fmt: str) -> bytes:
    exploit = _Exploit(f"echo pwned > {marker}")
    if fmt.startswith("pickle"):
        return pickle.dumps({"step": 1, "optimizer": exploit}, protocol=int(fmt[-1]))
    buffer = io.BytesIO()  # torch.save's zip format with the exploit inside data.pkl
    torch.save({"step": 1, "optimizer": exploit}, buffer)
    return buffer.getvalue()


def _tiny_run(run: Path) -> None:
    torch.manual_seed(0)
    config = TrainerConfig(epochs=1, batch_size=16, progress=False, tensorboard="off", device="cpu")
    model = VAE((16,), latent_dim=2, hidden_dims=(8,))
    trainer = Trainer(model, ConfiguredObjective("elbo"), config, run_dir=run)
    trainer.fit({"x": torch.rand(32, 16)})


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("clean") / "run"
    _tiny_run(run)
    return run


def _copy(run: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(run, dest)
    return dest


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("fmt", ["pickle-2", "pickle-4", "torch.save"], ids=str)
def test_a_trainer_state_with_code_is_refused_and_never_run(
    clean_run: Path, tmp_path: Path, fmt: str
) -> None:
    run, marker = _copy(clean_run, tmp_path / "run"), tmp_path / "pwned"
    (run / "checkpoint" / "trainer_state.pt").write_bytes(_payload(marker, fmt=fmt))
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(find_checkpoint(run))
    message = str(info.value)
    assert "refused to load" in message, message
    if fmt != "pickle-4":  # protocol 4 is refused for its framing, before the global is read
        assert "posix.system" in message or "nt.system" in message, message
    assert "never runs code" in message
    assert "weights_only=False" not in message  # torch's own advice would be the wrong one here
    assert not marker.exists()


def test_resume_from_a_poisoned_checkpoint_is_refused(clean_run: Path, tmp_path: Path) -> None:
    run, marker = _copy(clean_run, tmp_path / "run"), tmp_path / "pwned"
    (run / "checkpoint" / "trainer_state.pt").write_bytes(_payload(marker, fmt="torch.save"))
    config = TrainerConfig(epochs=2, batch_size=16, progress=False, tensorboard="off", device="cpu")
    trainer = Trainer(
        VAE((16,), latent_dim=2, hidden_dims=(8,)), ConfiguredObjective("elbo"), config, run_dir=run
    )
    with pytest.raises(CheckpointError, match="refused to load"):
        trainer.fit({"x": torch.rand(32, 16)}, resume=True)
    assert not marker.exists()


def test_weights_are_read_only_from_safetensors(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    path.write_bytes(_payload(marker, fmt="torch.save"))  # a pickle posing as weights
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_state_dict(path)
    path.write_bytes(b"\xff" * 8)  # a header length far beyond the file
    with pytest.raises(CheckpointError, match="corrupt"):
        load_state_dict(path)
    assert not marker.exists()


def test_a_truncated_trainer_state_is_a_clear_error(clean_run: Path, tmp_path: Path) -> None:
    run = _copy(clean_run, tmp_path / "run")
    state = run / "checkpoint" / "trainer_state.pt"
    state.write_bytes(state.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="is corrupt"):
        read_checkpoint(find_checkpoint(run))


def test_recipes_and_configs_are_data_only(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for name in ("evil.toml", "evil.json"):
        path = tmp_path / name
        path.write_bytes(pickle.dumps(_Exploit(f"echo pwned > {marker}")))
        with pytest.raises(ConfigError, match=r"not a UTF-8 text file|could not parse"):
            load_recipe(path)
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must hold a table"):
        load_recipe(tmp_path / "list.json")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_bytes(pickle.dumps(_Exploit(f"echo pwned > {marker}")))
    with pytest.raises(CheckpointError, match="not a UTF-8 text"):
        load_run(run)
    assert not marker.exists()


def test_checkpoints_record_the_format_and_package_version(clean_run: Path) -> None:
    meta = json.loads((clean_run / "checkpoint" / "meta.json").read_text())
    assert meta["format_version"] == plausible.checkpoint.FORMAT_VERSION
    assert meta["plausible_version"] == plausible.__version__


def test_a_checkpoint_from_an_incompatible_version_says_so(clean_run: Path, tmp_path: Path) -> None:
    run = _copy(clean_run, tmp_path / "run")
    meta_path = run / "checkpoint" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta.update(format_version=99, plausible_version="9.9.0")
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(find_checkpoint(run))
    message = str(info.value)
    assert "plausible 9.9.0" in message and "format version 99" in message, message
    assert f"this plausible ({plausible.__version__}) reads format version 1" in message
    assert "pip install 'plausible==9.9.0'" in message


def test_a_run_folder_from_an_incompatible_version_says_so(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    config = {"format_version": 99, "plausible_version": "9.9.0", "model": {"name": "vae"}}
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"format version 99.*reads format version 1"):
        load_run(run)


def test_cli_refuses_a_poisoned_run_in_one_paragraph(clean_run: Path, tmp_path: Path) -> None:
    """`plausible sample` on a run whose weights file is a pickle: exit 2, no traceback, no code."""
    from plausible.cli.main import _register_commands, app

    _register_commands()
    run, marker = tmp_path / "run", tmp_path / "pwned"
    run.mkdir()
    model = {"name": "vae", "x_shape": [16], "latent_dim": 2, "hidden_dims": [8]}
    config = {
        "format_version": 1,
        "plausible_version": plausible.__version__,
        "model": model,
        "task": {"name": "images"},
    }
    (run / "config.json").write_text(json.dumps(config))
    (run / "model.safetensors").write_bytes(_payload(marker, fmt="torch.save"))
    result = CliRunner().invoke(
        app, ["sample", str(run), "--out", str(tmp_path / "s.npy")], catch_exceptions=False
    )
    assert result.exit_code == 2, result.output
    assert "not a safetensors file" in " ".join(result.output.split())
    assert "Traceback" not in result.output and not marker.exists()
