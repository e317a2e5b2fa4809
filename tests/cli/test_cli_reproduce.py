"""``plausible reproduce sohn2015`` end to end on the bundled digits with a tiny budget."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from plausible.cli.reproduce import _default_folder, reproduce
from plausible.reproduce.sohn2015 import BUDGETS, Sohn2015Settings, run_config

app = typer.Typer()


@app.callback()
def _group() -> None:
    """Keep ``reproduce`` a sub-command, as in the real app."""


app.command("reproduce")(reproduce)
runner = CliRunner()


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("sohn") / "digits"
    result = runner.invoke(
        app,
        [
            "reproduce",
            "sohn2015",
            "--dataset",
            "digits",
            "--quadrants",
            "1",
            "3",
            "--epochs",
            "1",
            "--eval-examples",
            "24",
            "--samples",
            "4",
            "--threads",
            "1",
            "--out",
            str(out),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return out, result.output


def test_reproduce_writes_the_paper_table(reproduced: tuple[Path, str]) -> None:
    out, output = reproduced
    table = (out / "table.md").read_text()
    for row in (
        "NN (baseline)",
        "GSNN (Monte Carlo)",
        "CVAE (Monte Carlo)",
        "CVAE (Importance Sampling)",
        "Performance gap",
        "upper bound",
    ):
        assert row in table and row in output
    assert "1 quadrant" in table and "3 quadrants" in table and "2 quadrants" not in table
    assert "S = 4" in table


def test_reproduce_results_json_has_every_model_and_estimator(reproduced: tuple[Path, str]) -> None:
    out, _ = reproduced
    results = json.loads((out / "results.json").read_text())
    assert results["protocol"]["dataset"] == "digits"
    assert results["protocol"]["budget"]["mc_samples"] == 4
    assert results["threads"] >= 1 and "torch" in results["versions"]
    for q in ("1", "3"):
        setting = results["settings"][q]
        test = setting["test"]
        assert test["baseline"]["nll"]["proposal"] == "none (exact)"
        assert "nll_is" not in test["gsnn"] and test["gsnn"]["nll_mc"]["num_samples"] == 4
        for model in ("cvae", "hybrid"):
            assert test[model]["nll_is"]["num_examples"] == 24
            assert test[model]["negative_elbo"]["mean"] >= test[model]["nll_is"]["mean"] - 5.0
        gap = setting["performance_gap"]
        assert gap["mean"] == pytest.approx(
            test["baseline"]["nll"]["mean"] - test["cvae"]["nll_is"]["mean"]
        )
        assert setting["training"]["cvae"]["median_epoch_time_s"] > 0
    for name in results["figures"].values():
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "q1" / "cvae" / "model.safetensors").is_file()


def test_reproduce_says_where_it_writes_which_model_runs_and_the_time_left(
    reproduced: tuple[Path, str],
) -> None:
    out, output = reproduced
    text = " ".join(output.split())
    assert f"into {out.resolve()}" in text
    models = ("baseline", "gsnn", "cvae", "hybrid")
    for i, (q, model) in enumerate([(q, m) for q in (1, 3) for m in models], 1):
        assert f"model {i} of 8: quadrants={q}, {model}" in text
    # From the second model on, the time left for all of them.
    assert "model 2 of 8: quadrants=1, gsnn; about " in text and " left in all" in text


def test_resume_reuses_finished_runs(reproduced: tuple[Path, str]) -> None:
    out, _ = reproduced
    before = (out / "q1" / "cvae" / "model.safetensors").stat().st_mtime_ns
    result = runner.invoke(
        app,
        [
            "reproduce",
            "sohn2015",
            "--dataset",
            "digits",
            "-q",
            "1",
            "--epochs",
            "1",
            "--eval-examples",
            "24",
            "--samples",
            "4",
            "--out",
            str(out),
            "--resume",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert (out / "q1" / "cvae" / "model.safetensors").stat().st_mtime_ns == before


def test_models_trains_only_the_chosen_ones_and_the_table_shows_only_their_rows(
    tmp_path: Path,
) -> None:
    out = tmp_path / "two"
    args = ["reproduce", "sohn2015", "--dataset", "digits", "-q", "2", "--epochs", "1"]
    args += ["--eval-examples", "16", "--samples", "3", "--out", str(out)]
    result = runner.invoke(app, [*args, "--models", "cvae, baseline"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "q2").iterdir()) == ["baseline", "cvae"]
    results = json.loads((out / "results.json").read_text())
    assert results["protocol"]["models"] == ["baseline", "cvae"]
    setting = results["settings"]["2"]
    assert set(setting["test"]) == {"baseline", "cvae"} and "hybrid_gap" not in setting
    assert setting["performance_gap"]["mean"] == pytest.approx(
        setting["test"]["baseline"]["nll"]["mean"] - setting["test"]["cvae"]["nll_is"]["mean"]
    )
    table = (out / "table.md").read_text()
    assert "CVAE (Importance Sampling)" in table and "NN (baseline)" in table
    assert "GSNN" not in table and "hybrid" not in table
    text = " ".join(result.output.split())
    assert "model 1 of 2: quadrants=2, baseline" in text
    assert "model 2 of 2: quadrants=2, cvae" in text


def test_seed_reaches_the_runs_and_the_default_folder(tmp_path: Path) -> None:
    args = ["reproduce", "sohn2015", "--dataset", "digits", "-q", "1", "--epochs", "1"]
    args += ["--eval-examples", "16", "--models", "baseline"]
    nll = {}
    for seed in (0, 1):
        out = tmp_path / f"seed{seed}"
        result = runner.invoke(app, [*args, "--seed", str(seed), "--out", str(out)])
        assert result.exit_code == 0, result.output
        results = json.loads((out / "results.json").read_text())
        assert results["protocol"]["seed"] == seed
        config = json.loads((out / "q1" / "baseline" / "config.json").read_text())
        assert config["training"]["seed"] == seed
        nll[seed] = results["settings"]["1"]["test"]["baseline"]["nll"]["mean"]
    assert nll[0] != nll[1]  # another seed is another training run
    assert _default_folder("ucnet-quick", 0) == Path("runs/ucnet-quick")
    assert _default_folder("ucnet-quick", 2) == Path("runs/ucnet-quick-seed2")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nature2099"], "unknown experiment 'nature2099'"),
        (["sohn2015", "--models", "baseline,vae"], "models must be some of baseline, gsnn"),
        (["burda2016", "--models", "cvae"], "--models applies to sohn2015 only"),
        (["sohn2015", "--quadrants", "4"], "must each be 1, 2 or 3"),
        (["sohn2015", "--budget", "huge"], "unknown budget 'huge'"),
        (["sohn2015", "--binarize", "maybe"], "binarize must be"),
        (["ucnet", "--seed", "-1"], "greater than or equal to 0"),
    ],
    ids=str,
)
def test_bad_arguments_give_one_paragraph_errors(
    args: list[str], message: str, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["reproduce", *args, "--out", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_budgets_and_run_configs() -> None:
    assert set(BUDGETS) == {"quick", "full"}
    settings = Sohn2015Settings(dataset="digits", budget="full", samples=7)
    config = run_config(settings, 2, "hybrid")
    assert config["objective"] == {"name": "hybrid", "alpha": 0.5}
    assert config["evaluation"]["num_samples"] == 7 and "mc_samples" not in config["evaluation"]
    assert config["training"]["early_stopping_patience"] == BUDGETS["full"].early_stopping_patience
    assert run_config(settings, 2, "gsnn")["model"]["recognition_net"] is False
    with pytest.raises(ValueError, match="unknown model"):
        run_config(settings, 2, "vae")
