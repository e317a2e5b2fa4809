"""``plausible compare`` and ``plausible evaluate --metrics`` on small run folders."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
import typer
from typer.testing import CliRunner

import plausible
import plausible.metrics.suite
import plausible.tasks.dsprites
from plausible.checkpoint import FORMAT_VERSION, save_weights
from plausible.cli.compare import compare
from plausible.cli.evaluate import evaluate, parse_settings
from plausible.models import VAE

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command("compare")(compare)
app.command("evaluate")(evaluate)
runner = CliRunner()


def _invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def _fake_run(path: Path, *, beta: float, nll: float, mig: float, accuracy: float) -> Path:
    path.mkdir(parents=True)
    config = {
        "format_version": FORMAT_VERSION,
        "model": {"name": "vae"},
        "objective": {"name": "elbo", "beta": beta},
        "task": {"name": "images"},
    }
    summary = {
        "test": {
            "nll": {"nll": {"mean": nll, "stderr": 0.5, "num_samples": 100}},
            "disentanglement": {"mig": mig},
        },
        "training": {"epochs": 6, "wall_time_s": 100.0, "device": "cpu"},
    }
    evaluation = {
        "quality": {
            "accuracy": {"mean": accuracy, "stderr": 0.01},
            "settings": {"num_examples": 10},
        }
    }
    for name, obj in (
        ("config.json", config),
        ("summary.json", summary),
        ("evaluation.json", evaluation),
    ):
        (path / name).write_text(json.dumps(obj))
    (path / "report.md").write_text("# Run report\n")
    return path


@pytest.fixture()
def fake_runs(tmp_path: Path) -> list[Path]:
    return [
        _fake_run(tmp_path / "beta1", beta=1.0, nll=30.0, mig=0.05, accuracy=0.95),
        _fake_run(tmp_path / "beta4", beta=4.0, nll=40.0, mig=0.30, accuracy=0.60),
    ]


def test_compare_marks_the_better_run_of_each_row(fake_runs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    result = _invoke("compare", *map(str, fake_runs), "--out", str(out), "--no-figures")
    assert result.exit_code == 0, result.output
    assert "disentanglement.mig" in result.output and "beta4" in result.output
    table = json.loads((out / "compare.json").read_text())
    rows = {row["key"]: row for row in table["rows"]}
    assert rows["objective.beta"]["values"] == [1.0, 4.0] and rows["objective.beta"]["best"] is None
    assert rows["nll.nll"]["best"] == 0  # lower is better
    assert rows["disentanglement.mig"]["best"] == 1  # higher is better
    assert rows["quality.accuracy"]["best"] == 1  # closest to 50% is better
    md = (out / "compare.md").read_text()
    assert "| nll.nll | **30.00 ± 0.50 (K=100)** | 40.00 ± 0.50 (K=100) | lower |" in md
    assert "| disentanglement.mig | 0.05 | **0.3** | higher |" in md


def test_update_reports_adds_one_comparison_section(fake_runs: list[Path], tmp_path: Path) -> None:
    for _ in range(2):
        result = _invoke(
            "compare",
            *map(str, fake_runs),
            "--out",
            str(tmp_path / "cmp"),
            "--no-figures",
            "--update-reports",
        )
        assert result.exit_code == 0, result.output
    for run in fake_runs:
        text = (run / "report.md").read_text()
        assert text.startswith("# Run report")
        assert text.count("## Comparison with other runs") == 1 and "| nll.nll |" in text


def test_compare_needs_two_run_folders(fake_runs: list[Path], tmp_path: Path) -> None:
    result = _invoke("compare", str(fake_runs[0]))
    assert result.exit_code == 2 and "at least two run folders" in result.output
    result = _invoke("compare", str(fake_runs[0]), str(tmp_path))
    assert result.exit_code == 2 and "is not a run folder" in result.output


def _dsprites_run(path: Path, beta: float, seed: int) -> Path:
    path.mkdir(parents=True)
    torch.manual_seed(seed)
    kwargs = {
        "x_shape": [1, 64, 64],
        "latent_dim": 3,
        "architecture": "conv",
        "conv_channels": [4, 4, 4],
    }
    config = {
        "format_version": FORMAT_VERSION,
        "plausible_version": plausible.__version__,
        "description": f"tiny beta {beta}",
        "task": {
            "name": "dsprites",
            "train_size": 20,
            "val_size": 10,
            "test_size": 60,
            "monitor_examples": 0,
        },
        "model": {"name": "vae", **kwargs},
        "objective": {"name": "elbo", "beta": beta},
        "training": {},
        "evaluation": {"output": "mode"},
    }
    (path / "config.json").write_text(json.dumps(config))
    save_weights(path / "model.safetensors", VAE(**kwargs))  # type: ignore[arg-type]
    return path


@pytest.fixture(scope="module")
def dsprites_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("dsprites-runs")
    return [_dsprites_run(root / "a", 1.0, 0), _dsprites_run(root / "b", 4.0, 1)]


def test_evaluate_metrics_writes_evaluation_and_a_report_section(dsprites_runs: list[Path]) -> None:
    run = dsprites_runs[0]
    result = _invoke(
        "evaluate",
        str(run),
        "--metrics",
        "collapse,apd,best-of-k",
        "--set",
        "collapse.num_examples=40",
        "--set",
        "apd.num_examples=8",
    )
    assert result.exit_code == 0, result.output
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert evaluation["collapse"]["settings"]["num_examples"] == 40
    assert evaluation["apd"]["settings"]["output"] == "mode"  # from the run's [evaluation]
    assert "no targets y" in evaluation["best-of-k"]["skipped"]
    report = (run / "report.md").read_text()
    assert "## Evaluation suite" in report and "figures/kl_per_dimension.png" in report
    assert (run / "figures" / "kl_per_dimension.png").is_file()
    assert "collapse.mutual_information" in result.output  # the headline table


def test_compare_draws_traversals_side_by_side(dsprites_runs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    result = _invoke(
        "compare",
        *map(str, dsprites_runs),
        "--out",
        str(out),
        "--update-reports",
        "--mi-points",
        "1000",
    )
    assert result.exit_code == 0, result.output
    figure = out / "traversals_side_by_side.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        "![entangled vs disentangled traversals](traversals_side_by_side.png)"
        in (out / "compare.md").read_text()
    )
    assert "traversals_side_by_side.png" in (dsprites_runs[1] / "report.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metrics", "nll,fid"], "unknown metric(s) 'fid'"),
        (["--metrics", "apd", "--set", "apd.samples=3"], "unknown evaluation.apd setting(s)"),
        (["--metrics", "apd", "--set", "a.b.c=1"], "--set expects key=value"),
    ],
    ids=str,
)
def test_evaluate_metric_mistakes_give_one_paragraph_errors(
    dsprites_runs: list[Path], args: list[str], message: str
) -> None:
    result = _invoke("evaluate", str(dsprites_runs[1]), *args)
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_settings_parse_as_toml_values() -> None:
    assert parse_settings(
        ["num_samples=100", "quality.output=mode", "dq.temperatures=[0.5, 1]"]
    ) == {"num_samples": 100, "quality": {"output": "mode"}, "dq": {"temperatures": [0.5, 1]}}


def _trained_layout_run(
    path: Path, model: dict[str, Any], task: dict[str, Any], test: dict[str, Any]
) -> Path:
    """A run folder as `plausible train` writes it (summary.json's test section at the top)."""
    path.mkdir(parents=True)
    config = {
        "format_version": FORMAT_VERSION,
        "model": model,
        "objective": {"name": "elbo"},
        "task": task,
        "training": {"epochs": 3, "lr": 0.001},
    }
    (path / "config.json").write_text(json.dumps(config))
    summary = {"test": test, "training": {"epochs": 3, "wall_time_s": 1.0}}
    (path / "summary.json").write_text(json.dumps(summary))
    return path


def _estimate(mean: float) -> dict[str, float]:
    return {"mean": mean, "stderr": 0.1, "num_samples": 10}


def test_compare_ranks_summary_likelihoods_and_calls_active_units_descriptive(
    tmp_path: Path,
) -> None:
    runs = [
        _trained_layout_run(
            tmp_path / name,
            {"name": "vae", "x_shape": [1, 8, 8], "latent_dim": latent},
            {"name": "images", "dataset": "digits"},
            {
                "test_nll": _estimate(nll),
                "test_negative_elbo": _estimate(nll + 1.0),
                "test_kl": _estimate(kl),
                "bits_per_dim": nll / 64 / math.log(2),
                "active_units": units,
                "latent_dim": latent,
            },
        )
        for name, nll, kl, units, latent in (("small", 28.0, 3.0, 2, 4), ("big", 25.0, 6.0, 5, 8))
    ]
    out = tmp_path / "cmp"
    result = _invoke("compare", *map(str, runs), "--out", str(out), "--no-figures")
    assert result.exit_code == 0, result.output
    rows = {row["key"]: row for row in json.loads((out / "compare.json").read_text())["rows"]}
    assert (rows["test_nll"]["better"], rows["test_nll"]["best"]) == ("lower", 1)
    assert (rows["test_negative_elbo"]["better"], rows["test_negative_elbo"]["best"]) == (
        "lower",
        1,
    )
    assert (rows["bits_per_dim"]["better"], rows["bits_per_dim"]["best"]) == ("lower", 1)
    for key in ("active_units", "test_kl", "latent_dim"):
        assert (rows[key]["better"], rows[key]["best"]) == ("descriptive", None), key
    assert rows["training.epochs"]["better"] is None
    md = (out / "compare.md").read_text()
    assert "| test_nll | 28.00 ± 0.10 (K=10) | **25.00 ± 0.10 (K=10)** | lower |" in md
    assert "| active_units | 2 | 5 | descriptive |" in md
    assert "Warning" not in md  # two VAEs on one data set: one quantity


def test_compare_warns_when_one_likelihood_column_mixes_quantities(tmp_path: Path) -> None:
    vae = _trained_layout_run(
        tmp_path / "vae",
        {"name": "vae", "x_shape": [1, 8, 8], "latent_dim": 2},
        {"name": "images", "dataset": "digits"},
        {"nll": _estimate(25.0), "active_units": 2},
    )
    cvae = _trained_layout_run(
        tmp_path / "cvae",
        {"name": "cvae", "x_shape": [10], "y_shape": [1, 8, 8], "latent_dim": 2},
        {"name": "class-conditional", "dataset": "digits"},
        {"nll": _estimate(20.0)},
    )
    mdn = _trained_layout_run(
        tmp_path / "mdn",
        {"name": "mdn", "x_dim": 1, "y_dim": 1},
        {"name": "inverse-sine"},
        {"nll": _estimate(-1.0)},
    )
    out = tmp_path / "cmp"
    result = _invoke("compare", str(vae), str(cvae), str(mdn), "--out", str(out), "--no-figures")
    assert result.exit_code == 0, result.output
    table = json.loads((out / "compare.json").read_text())
    rows = {row["key"]: row for row in table["rows"]}
    assert rows["nll"]["best"] is None and rows["nll"]["comparable"] is False
    (warning,) = table["warnings"]
    assert "-log p(x) on images (digits): vae" in warning
    assert "-log p(y|x) on class-conditional (digits): cvae" in warning
    assert "-log p(y|x) on inverse-sine: mdn" in warning
    text = " ".join(result.output.split())
    assert "warning: not comparable, not ranked" in text
    md = (out / "compare.md").read_text()
    cells = "25.00 ± 0.10 (K=10) | 20.00 ± 0.10 (K=10) | -1.00 ± 0.10 (K=10)"
    assert f"| nll | {cells} | lower, not comparable |" in md
    assert "> **Warning**: not comparable, not ranked" in md


def test_compare_shows_the_settings_that_differ_first(
    fake_runs: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "cmp"
    result = _invoke("compare", *map(str, fake_runs), "--out", str(out), "--no-figures")
    assert result.exit_code == 0, result.output
    table = json.loads((out / "compare.json").read_text())
    assert table["config_diff"] == [{"key": "objective.beta", "values": [1.0, 4.0]}]
    md = (out / "compare.md").read_text()
    assert md.index("## Settings that differ") < md.index("| objective.beta | `1.0` | `4.0` |")
    assert md.index("| objective.beta | `1.0` | `4.0` |") < md.index("## Metrics")
    assert result.output.index("settings that differ") < result.output.index("metric")
