"""``plausible sample RUN --inputs X.npy``: samples of any conditional model for given inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import plausible
from plausible.checkpoint import FORMAT_VERSION, save_weights
from plausible.cli.main import _register_commands, app
from plausible.cli.sample import load_inputs
from plausible.models import MDN, VAE, SequenceCVAE
from plausible.runs import load_run

_register_commands()
runner = CliRunner()


def _invoke(*args: str | Path) -> object:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def _write_run(
    path: Path, model: torch.nn.Module, name: str, kwargs: dict, task: dict, objective: str = "cvae"
) -> Path:
    """A run folder as `plausible train` leaves it, with the given (untrained) weights."""
    path.mkdir(parents=True)
    config = {
        "format_version": FORMAT_VERSION,
        "plausible_version": plausible.__version__,
        "description": f"untrained {name}",
        "task": task,
        "model": {"name": name, **kwargs},
        "objective": {"name": objective},
        "training": {},
        "evaluation": {},
    }
    (path / "config.json").write_text(json.dumps(config))
    save_weights(path / "model.safetensors", model)
    return path


@pytest.fixture(scope="module")
def mdn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MDN run folder of scalar x and y, as `plausible train` writes it (untrained weights)."""
    kwargs = {"x_dim": 1, "y_dim": 1, "num_components": 3, "hidden_dims": [16]}
    torch.manual_seed(0)
    model = MDN(1, 1, num_components=3, hidden_dims=(16,))
    task = {"name": "inverse-sine", "num_train": 200}
    folder = tmp_path_factory.mktemp("runs") / "mdn"
    return _write_run(folder, model, "mdn", kwargs, task, "mdn_nll")


def test_mdn_samples_for_every_input_match_the_model(mdn_run: Path, tmp_path: Path) -> None:
    x = np.array([[0.1], [0.5], [0.9]], dtype=np.float64)  # any real dtype is accepted
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    result = _invoke("sample", mdn_run, "--inputs", tmp_path / "x.npy", "-n", "7", "--out", out)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    text = " ".join(result.output.split())  # type: ignore[attr-defined]
    assert "7 samples for each of 3 inputs" in text
    samples = np.load(out, allow_pickle=False)
    assert samples.shape == (7, 3, 1) and samples.dtype == np.float32
    model = load_run(mdn_run).model
    torch.manual_seed(0)  # the command's default seed
    expected = model.sample(torch.tensor(x, dtype=torch.float32), 7, mean=True)  # type: ignore[operator]
    np.testing.assert_array_equal(samples, expected.numpy())
    # --draw adds the observation noise: other values, and the same seed gives the same ones.
    draws = []
    for name in ("d1.npy", "d2.npy"):
        args = ["--inputs", tmp_path / "x.npy", "-n", "7", "--draw", "--seed", "3"]
        assert _invoke("sample", mdn_run, *args, "--out", tmp_path / name).exit_code == 0  # type: ignore[attr-defined]
        draws.append(np.load(tmp_path / name))
    assert not np.array_equal(draws[0], samples)
    np.testing.assert_array_equal(draws[0], draws[1])


def test_sequence_cvae_samples_are_n_futures_per_history(tmp_path: Path) -> None:
    kwargs = {"x_shape": [6, 2], "y_shape": [4, 2], "latent_dim": 2, "hidden_size": 8}
    torch.manual_seed(0)
    model = SequenceCVAE((6, 2), (4, 2), latent_dim=2, hidden_size=8)
    # The command only reads the task's name and settings; no data is loaded.
    task = {"name": "inverse-sine", "num_train": 10}
    run = _write_run(tmp_path / "run", model, "sequence-cvae", kwargs, task)
    histories = np.cumsum(np.random.default_rng(0).normal(size=(5, 6, 2)), 1).astype(np.float32)
    np.save(tmp_path / "x.npy", histories)
    out = tmp_path / "futures.npy"
    args = ["--inputs", tmp_path / "x.npy", "-n", "3", "--seed", "4", "--out", out]
    result = _invoke("sample", run, *args)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    futures = np.load(out)
    assert futures.shape == (3, 5, 4, 2) and futures.dtype == np.float32
    torch.manual_seed(4)
    expected = model.eval().sample(torch.from_numpy(histories), 3)
    np.testing.assert_allclose(futures, expected.numpy(), rtol=0, atol=1e-6)
    assert np.abs(futures[0] - futures[1]).max() > 1e-4  # one future per latent draw
    # A history of the wrong length: named file and expected shape, the old result kept.
    np.save(tmp_path / "short.npy", histories[:, :5])
    result = _invoke("sample", run, "--inputs", tmp_path / "short.npy", "--out", out)
    assert result.exit_code == 2
    text = " ".join(result.output.split())  # type: ignore[attr-defined]
    assert "short.npy has shape (5, 5, 2)" in text and "inputs (N, 6, 2)" in text
    np.testing.assert_array_equal(np.load(out), futures)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (np.zeros((4, 2), np.float32), r"has shape (4, 2), but the model takes inputs (N, 1)"),
        (np.zeros((0, 1), np.float32), r"(N, 1) with N >= 1"),
        (
            np.array([[0.1], [np.nan], [np.inf]]),
            "2 inputs hold NaN or infinite values (first: row 1)",
        ),
        (np.array([["a"], ["b"]]), "holds <U1 values; inputs (N, 1) must be numbers"),
        (np.array([[True]]), "holds bool values"),
        (np.array([[{"x": 1}]], dtype=object), "is not a readable .npy array"),
    ],
    ids=["shape", "empty", "nan", "strings", "bool", "pickled"],
)
def test_bad_inputs_are_refused_with_the_file_and_the_shape_named(
    mdn_run: Path, tmp_path: Path, content: np.ndarray, message: str
) -> None:
    path = tmp_path / "x.npy"
    np.save(path, content, allow_pickle=True)
    out = tmp_path / "y.npy"
    result = _invoke("sample", mdn_run, "--inputs", path, "--out", out)
    assert result.exit_code == 2
    text = " ".join(result.output.split())  # type: ignore[attr-defined]
    assert message in text and "x.npy" in text and "Traceback" not in text
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def test_load_inputs_refuses_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nothing.npy does not exist; .* \(N, 3, 2\)"):
        load_inputs(tmp_path / "nothing.npy", (3, 2))
    (tmp_path / "text.npy").write_text("not an array")
    with pytest.raises(ValueError, match=r"text.npy is not a readable .npy array"):
        load_inputs(tmp_path / "text.npy", (3, 2))
    np.savez(tmp_path / "two.npz", a=np.zeros(2), b=np.zeros(3))
    with pytest.raises(ValueError, match=r"several arrays"):
        load_inputs(tmp_path / "two.npz", (3, 2))
    ints = load_inputs(_saved(tmp_path / "ints.npy", np.arange(6).reshape(1, 3, 2)), (3, 2))
    assert ints.dtype == np.float32 and ints.tolist() == [[[0, 1], [2, 3], [4, 5]]]


def _saved(path: Path, array: np.ndarray) -> Path:
    np.save(path, array)
    return path


def test_inputs_need_an_array_output_and_no_label(mdn_run: Path, tmp_path: Path) -> None:
    x = _saved(tmp_path / "x.npy", np.zeros((2, 1), np.float32))
    for extra in (["--out", tmp_path / "y.png"], ["--label", "3", "--out", tmp_path / "y.npy"]):
        result = _invoke("sample", mdn_run, "--inputs", x, *extra)
        assert result.exit_code == 2 and "--out FILE.npy" in result.output  # type: ignore[attr-defined]


def test_inputs_on_an_unconditional_run_are_refused(tmp_path: Path) -> None:
    kwargs = {"x_shape": [1, 8, 8], "latent_dim": 2, "hidden_dims": [8]}
    model = VAE((1, 8, 8), latent_dim=2, hidden_dims=(8,))
    task = {"name": "images", "dataset": "digits", "binarize": "threshold"}
    run = _write_run(tmp_path / "vae", model, "vae", kwargs, task, "elbo")
    x = _saved(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), np.float32))
    result = _invoke("sample", run, "--inputs", x, "--out", tmp_path / "y.npy")
    assert result.exit_code == 2
    assert "--inputs applies to conditional models" in result.output  # type: ignore[attr-defined]


def test_a_conditional_run_without_inputs_points_to_them(mdn_run: Path, tmp_path: Path) -> None:
    result = _invoke("sample", mdn_run, "--out", tmp_path / "y.npy")
    assert result.exit_code == 2
    assert "--inputs FILE.npy" in " ".join(result.output.split())  # type: ignore[attr-defined]
