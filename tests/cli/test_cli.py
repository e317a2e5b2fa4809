"""Every command and every shipped recipe, run the way a user runs them, with tiny budgets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from plausible.cli.main import _register_commands, app
from plausible.config import list_recipes, load_recipe

_register_commands()
runner = CliRunner()

# Per task: overrides that make any recipe of that task finish in seconds. A recipe whose task
# has no entry here fails test_every_recipe_task_has_smoke_settings.
SMOKE: dict[str, list[str]] = {
    "images": [
        "task.max_train=64",
        "task.max_test=32",
        "evaluation.num_samples=4",
        "training.batch_size=32",
    ],
    **{
        task: [
            "task.max_train=64",
            "task.max_test=32",
            "evaluation.num_samples=4",
            "training.batch_size=32",
        ]
        for task in ("quadrant", "class-conditional")
    },
    "dsprites": [
        "task.train_size=64",
        "task.val_size=32",
        "task.test_size=64",
        "task.monitor_examples=32",
        "training.batch_size=32",
        "evaluation.num_samples=4",
        'evaluation.metrics=["nll","collapse"]',
    ],
    **{
        task: [
            "task.num_train=200",
            "task.num_val=100",
            "task.num_test=200",
            "evaluation.num_samples=10",
        ]
        for task in ("inverse-sine", "forward-sine", "robot-arm", "pose-lifting")
    },
    **{
        task: [
            "task.num_train=128",
            "task.num_val=32",
            "task.num_test=32",
            "model.hidden_size=16",
            "evaluation.num_samples=8",
            "evaluation.forecast={ num_samples = 4 }",
            'evaluation.metrics=["forecast","sequence-quality","forecast-collapse","nll"]',
        ]
        for task in ("branching-trajectories", "stick-figure")
    },
    **{
        task: [
            "task.num_train=64",
            "task.num_val=16",
            "task.num_test=16",
            "model.channels=[4, 8]",
            "model.feature_channels=4",
            "evaluation.num_samples=4",
        ]
        for task in ("annotated-shapes", "rgbd-saliency", "partial-silhouettes")
    },
    "cmu-motion": [
        "task.t_obs=5",
        "task.t_pred=5",
        "model.hidden_size=16",
        "evaluation.num_samples=8",
        "evaluation.forecast={ num_samples = 4 }",
    ],
}


COMMANDS = ("train", "evaluate", "sample", "recipes", "env", "compare", "explore", "reproduce")


def _invoke(*args: str) -> object:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result


def test_help_lists_every_command() -> None:
    result = _invoke("--help")
    for command in COMMANDS:
        assert command in result.output


@pytest.mark.parametrize(
    "command", ["train", "evaluate", "sample", "recipes", "env", "compare", "explore"], ids=str
)
def test_every_command_has_help_with_examples(command: str) -> None:
    result = _invoke(command, "--help")
    assert result.exit_code == 0
    assert "plausible" in result.output


def test_recipes_lists_every_shipped_recipe() -> None:
    result = _invoke("recipes")
    assert result.exit_code == 0
    for name in list_recipes():
        assert name in result.output


def test_env_reports_versions() -> None:
    result = _invoke("env")
    assert result.exit_code == 0 and "torch" in result.output and "plausible" in result.output
    assert "cpu bf16   native" in result.output or "cpu bf16   emulated" in result.output


def test_every_recipe_task_has_smoke_settings() -> None:
    tasks = {load_recipe(name)["task"]["name"] for name in list_recipes()}
    assert tasks <= set(SMOKE), f"add SMOKE overrides for tasks {sorted(tasks - set(SMOKE))}"


@pytest.mark.parametrize("recipe", sorted(list_recipes()), ids=str)
def test_every_recipe_trains_evaluates_and_reports(
    recipe: str, tmp_path: Path, tiny_idx_dir: Path, tiny_motion_dir: Path
) -> None:
    config = load_recipe(recipe)
    overrides = ["training.epochs=1", *SMOKE.get(config["task"]["name"], [])]
    if config["task"].get("dataset") in ("fashion-mnist", "mnist"):
        overrides.append(f'task.data_dir="{tiny_idx_dir}"')
    if config["task"]["name"] == "cmu-motion":
        overrides.append(f'task.data_dir="{tiny_motion_dir}"')
    args = ["train", recipe, "--out", str(tmp_path / "run")]
    for item in overrides:
        args += ["--set", item]
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    # The headline estimates are printed, each with its standard error.
    assert "test set: mean ± standard error" in result.output and " ± " in result.output
    run = tmp_path / "run"
    for name in ("config.json", "model.safetensors", "summary.json", "report.md", "metrics.jsonl"):
        assert (run / name).is_file(), name
    report = (run / "report.md").read_text()
    figures = list((run / "figures").glob("*.png"))
    assert figures and all(f"figures/{f.name}" in report for f in figures)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "digits"
    result = _invoke(
        "train",
        "vae-digits",
        "--out",
        str(out),
        "--set",
        "training.epochs=2",
        *[arg for s in SMOKE["images"] for arg in ("--set", s)],
    )
    assert result.exit_code == 0, result.output
    return out


def test_evaluate_writes_metrics(trained_run: Path) -> None:
    result = _invoke("evaluate", str(trained_run), "--num-samples", "8", "--no-figures")
    assert result.exit_code == 0, result.output
    summary = json.loads((trained_run / "summary.json").read_text())
    assert summary["test"]["test_nll"]["num_samples"] == 8
    assert (
        summary["test"]["test_nll"]["mean"] <= summary["test"]["test_negative_elbo"]["mean"] + 1.0
    )


def test_evaluate_prints_a_table_and_its_seed_and_repeats_its_numbers(trained_run: Path) -> None:
    def evaluate(*extra: str) -> tuple[str, dict]:
        result = _invoke("evaluate", str(trained_run), "-k", "4", "--no-figures", *extra)
        assert result.exit_code == 0, result.output
        summary = json.loads((trained_run / "summary.json").read_text())
        summary["test"].pop("evaluation_time_s")
        return result.output, summary

    output, first = evaluate()
    # The table of estimates that `train` prints, not the summary as raw JSON.
    assert "test set: mean ± standard error (evaluation seed 0)" in output
    assert '"test_nll": {' not in output
    assert first["evaluation"]["seed"] == 0 and first["evaluation"]["settings"]["seed"] == 0
    assert evaluate()[1]["test"] == first["test"]  # the same seed gives the same numbers
    output, other = evaluate("--seed", "1")
    assert "(evaluation seed 1)" in output and other["evaluation"]["seed"] == 1
    assert other["test"]["test_nll"]["mean"] != first["test"]["test_nll"]["mean"]


def test_evaluate_with_metrics_prints_a_table(trained_run: Path) -> None:
    result = _invoke("evaluate", str(trained_run), "-m", "nll,collapse", "-s", "nll.num_samples=2")
    assert result.exit_code == 0, result.output
    assert "evaluation suite (seed 0)" in result.output and "nll.nll" in result.output
    assert "collapse.active_units" in result.output and '"nll.nll": {' not in result.output


@pytest.mark.parametrize("suffix", [".png", ".npy"], ids=str)
def test_sample_writes_images_or_arrays(trained_run: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"s{suffix}"
    result = _invoke("sample", str(trained_run), "-n", "9", "--out", str(out))
    assert result.exit_code == 0, result.output
    if suffix == ".npy":
        samples = np.load(out)
        assert samples.shape == (9, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 1
    else:
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_continues_a_finished_run(trained_run: Path) -> None:
    result = _invoke(
        "train",
        "vae-digits",
        "--out",
        str(trained_run),
        "--resume",
        "--set",
        "training.epochs=3",
        *[arg for s in SMOKE["images"] for arg in ("--set", s)],
        "--no-eval",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((trained_run / "summary.json").read_text())
    assert summary["training"]["epochs"] == 3


def test_resume_refuses_another_recipe_naming_the_differences(trained_run: Path) -> None:
    # The run is a VAE on digits; resuming it with a CVAE recipe must not re-evaluate the VAE.
    result = _invoke("train", "cvae-class-digits", "--out", str(trained_run), "--resume")
    assert result.exit_code == 2, result.output
    assert "holds a different run" in result.output
    assert "model.name: run 'vae', now 'cvae'" in result.output
    assert "task.name: run 'images'" in result.output


def test_existing_run_folder_is_not_overwritten(trained_run: Path) -> None:
    result = _invoke("train", "vae-digits", "--out", str(trained_run))
    assert result.exit_code == 2
    assert "already holds a run" in result.output and "--resume" in result.output


def test_a_recipe_mistake_is_named_before_the_folder_rules(trained_run: Path) -> None:
    # After `make demo` the default folder holds a run; a bad --set must still say what is bad.
    result = _invoke(
        "train", "vae-digits", "--out", str(trained_run), "--set", "training.epochs=abc"
    )
    assert result.exit_code == 2
    assert "training.epochs must be an integer" in result.output
    assert "already holds a run" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "no-such-recipe"], "unknown recipe 'no-such-recipe'"),
        (
            ["train", "vae-digits", "--set", "training.epochs=abc"],
            "training.epochs must be an integer",
        ),
        (["train", "vae-digits", "--set", "model.latent_dimm=3"], "Did you mean 'latent_dim'"),
        (["evaluate", "/nonexistent/run"], "does not exist"),
        (["sample", "/nonexistent/run", "--out", "x.gif"], "must end in .png or .npy"),
    ],
    ids=str,
)
def test_mistakes_give_one_paragraph_errors(args: list[str], message: str, tmp_path: Path) -> None:
    result = _invoke(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_corrupt_idx_file_is_named(tmp_path: Path, tiny_idx_dir: Path) -> None:
    bad = tmp_path / "data"
    bad.mkdir()
    for f in tiny_idx_dir.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    result = _invoke(
        "train",
        "vae-digits",
        "--out",
        str(tmp_path / "r"),
        "--set",
        'task.dataset="fashion-mnist"',
        "--set",
        f'task.data_dir="{bad}"',
    )
    assert result.exit_code == 2
    assert "train-images-idx3-ubyte.gz" in result.output
    assert "Traceback" not in result.output


def test_missing_dataset_lists_the_three_ways(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PLAUSIBLE_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    result = _invoke(
        "train", "vae-digits", "--out", str(tmp_path / "r"), "--set", 'task.dataset="mnist"'
    )
    assert result.exit_code == 2
    assert "--data-dir" in result.output and "PLAUSIBLE_DATA" in result.output


def test_sample_explains_that_a_conditional_run_needs_an_input(tmp_path: Path) -> None:
    run = tmp_path / "cvae"
    args = ["train", "cvae-quadrant-digits", "--out", str(run), "--no-eval"]
    args += ["--set", "training.epochs=1", *[a for s in SMOKE["quadrant"] for a in ("--set", s)]]
    assert _invoke(*args).exit_code == 0
    result = _invoke("sample", str(run), "--out", str(tmp_path / "s.png"))
    assert result.exit_code == 2
    assert "predicts from an input" in result.output and "Traceback" not in result.output
    assert "plausible explore" in result.output
    result = _invoke("sample", str(run), "--label", "3", "--out", str(tmp_path / "s.png"))
    assert result.exit_code == 2 and "--label applies only to class-conditional" in result.output


@pytest.fixture(scope="module")
def class_conditional_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "cvae-class"
    args = ["train", "cvae-class-digits", "--out", str(run), "--no-eval"]
    args += ["--set", "training.epochs=3"]
    args += [a for s in SMOKE["class-conditional"] for a in ("--set", s)]
    result = _invoke(*args)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    return run


def test_sample_draws_n_images_per_label_of_a_class_conditional_run(
    class_conditional_run: Path, tmp_path: Path
) -> None:
    import torch

    from plausible.runs import load_run

    out = tmp_path / "s.npy"
    args = ["sample", str(class_conditional_run), "--label", "3,7", "--label", "3", "-n", "5"]
    result = _invoke(*args, "--seed", "4", "--out", str(out))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    samples = np.load(out)
    assert samples.shape == (2, 5, 1, 8, 8)  # labels 3 and 7 (the repeated 3 once), 5 each
    # The same draws as the model given the one-hot labels e_3 and e_7 directly.
    model = load_run(class_conditional_run).model
    torch.manual_seed(4)
    x = torch.zeros(2, 10)
    x[0, 3] = x[1, 7] = 1.0
    expected = model.sample(x, 5, mean=True).transpose(0, 1).numpy()
    np.testing.assert_allclose(samples, expected, rtol=0, atol=1e-6)
    png = tmp_path / "s.png"
    result = _invoke("sample", str(class_conditional_run), "--label", "all", "--out", str(png))
    assert result.exit_code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([], "name the class(es) with --label (0 to 9"),
        (["--label", "10"], "--label 10 is out of range"),
        (["--label", "-1"], "--label -1 is out of range"),
        (["--label", "three"], "--label takes class numbers"),
    ],
    ids=str,
)
def test_sample_label_mistakes_are_clear_errors(
    class_conditional_run: Path, tmp_path: Path, labels: list[str], message: str
) -> None:
    result = _invoke(
        "sample", str(class_conditional_run), *labels, "--out", str(tmp_path / "s.png")
    )
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert message in " ".join(result.output.split())  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


def test_sample_label_on_an_unconditional_run_is_refused(trained_run: Path, tmp_path: Path) -> None:
    result = _invoke("sample", str(trained_run), "--label", "3", "--out", str(tmp_path / "s.png"))
    assert result.exit_code == 2 and "leave --label out" in result.output  # type: ignore[attr-defined]


@pytest.mark.parametrize(("flags", "title"), [([], "9 decoder means"), (["--draw"], "9 draws")])
def test_sample_grid_title_says_means_or_draws(
    trained_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str], title: str
) -> None:
    import plausible.viz

    titles: list[str] = []
    real = plausible.viz.image_grid

    def spy(*args: object, title: str | None = None, **kw: object) -> Path:
        titles.append(str(title))
        return real(*args, title=title, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(plausible.viz, "image_grid", spy)
    result = _invoke(
        "sample", str(trained_run), "-n", "9", *flags, "--out", str(tmp_path / "s.png")
    )
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert len(titles) == 1 and titles[0].startswith(title), titles


def test_sample_refuses_a_request_over_the_memory_budget(trained_run: Path, tmp_path: Path) -> None:
    result = _invoke(
        "sample", str(trained_run), "-n", "100000000", "--out", str(tmp_path / "s.npy")
    )
    assert result.exit_code == 2
    assert "over the --memory-mb budget" in result.output and "-n 8388608" in result.output


def test_sample_in_chunks_gives_the_requested_count(trained_run: Path, tmp_path: Path) -> None:
    result = _invoke("sample", str(trained_run), "-n", "2500", "--out", str(tmp_path / "s.npy"))
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "s.npy").shape == (2500, 1, 8, 8)


def test_sample_on_a_corrupt_config_says_how_to_recover(trained_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "broken"
    shutil.copytree(trained_run, run)
    (run / "config.json").write_text('{\n  "model": {\n    "name": "vae",,\n')
    result = _invoke("sample", str(run), "--out", str(tmp_path / "s.png"))
    assert result.exit_code == 2  # type: ignore[attr-defined]
    text = " ".join(result.output.split())  # type: ignore[attr-defined]
    assert f"config.json of {run} is not valid JSON" in text
    assert "line 3, column 19" in text  # the second comma
    assert "restore it from a backup, or retrain with `plausible train RECIPE --out NEW`" in text


def test_help_shows_flags_without_a_value_and_version_prints_it() -> None:
    import subprocess
    import sys

    from plausible._version import __version__

    command = [sys.executable, "-m", "plausible.cli.main"]
    shown = subprocess.run([*command, "train", "--help"], capture_output=True, text=True)
    assert shown.returncode == 0 and "--resume" in shown.stdout
    assert "<bool>" not in shown.stdout, shown.stdout
    version = subprocess.run([*command, "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == f"plausible {__version__}"
    # --help must not pay for PyTorch: the package root and the commands import it lazily.
    probe = "import sys, plausible.cli.main; print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip()
        == "False"
    )
