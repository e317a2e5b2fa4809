"""The Mix-and-Match reproduction end to end on a tiny budget: the law's row, table and runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plausible.reproduce.mix_and_match import (
    MODEL_KEYS,
    MixAndMatchSettings,
    reproduce_mix_and_match,
    run_config,
)
from plausible.runs import build_task

TINY = {
    "budget": "full",  # the full budget adds the diversity-quality sweep of the two CVAEs
    "datasets": ("branching-trajectories",),
    "epochs": 1,
    "train_examples": 64,
    "eval_examples": 6,
    "latent_dim": 2,
    "hidden_size": 8,
    "num_threads": 1,
}


def test_table_puts_the_law_first_and_scores_it_by_its_exact_density(tmp_path: Path) -> None:
    settings = MixAndMatchSettings(**TINY)  # type: ignore[arg-type]
    results = reproduce_mix_and_match(settings, tmp_path)
    rows = results["datasets"]["branching-trajectories"]
    assert list(rows) == ["truth", *MODEL_KEYS]

    # The law's NLL row is its exact density on the same test split, computed here directly.
    data = build_task(run_config(settings, "branching-trajectories", "concat")).load()
    x, y = data.test["x"], data.test["y"]
    assert x.shape[0] == 6
    exact = -data.info["law"].log_prob(x, y).double().mean()
    assert rows["truth"]["nll"]["mean"] == pytest.approx(float(exact), rel=1e-9)
    # Every row is scored on the same histories: the law's expected coverage is shared.
    law_coverage = rows["truth"]["forecast"]["coverage_true"]["mean"]
    for key in MODEL_KEYS:
        assert rows[key]["forecast"]["coverage_true"]["mean"] == pytest.approx(law_coverage)

    table = (tmp_path / "table.md").read_text()
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert lines[1].startswith("| ground-truth sampler (the law) |")
    assert [line.split(" | ")[0] for line in lines[2:]] == [
        "| deterministic GRU",
        "| CVAE, concatenation",
        "| CVAE, Mix-and-Match",
    ]
    assert "teacher forcing in training" in table and "cosine" in table
    budget = json.loads((tmp_path / "results.json").read_text())["protocol"]["budget"]
    assert (budget["num_train"], budget["eval_examples"], budget["epochs"]) == (64, 6, 1)

    # The runs share the backbone the table describes.
    for key in MODEL_KEYS:
        config = json.loads((tmp_path / "branching-trajectories" / key / "config.json").read_text())
        assert config["model"]["decoder_steps"] is True
        assert config["model"]["teacher_forcing"] == 1.0
        assert config["training"]["lr_schedule"] == "cosine"
        assert config["training"]["restore_best"] is False
        assert config["task"]["num_train"] == 64
    # The sweep's curve is kept beside the headline values, and drawn.
    for key in ("concat", "mix-and-match"):
        run = tmp_path / "branching-trajectories" / key
        evaluation = json.loads((run / "evaluation.json").read_text())
        curve = evaluation["forecast-diversity-quality"]["details"]["curve"]
        assert [row["temperature"] for row in curve] == [0.0, 0.5, 1.0, 1.5, 2.0]
        assert (run / "figures" / "suite_forecast_diversity_quality.png").is_file()
        assert "suite_forecast_diversity_quality.png" in (run / "report.md").read_text()


def test_settings_refuse_empty_budgets_and_unknown_sets() -> None:
    with pytest.raises(ValueError, match="num_train must be >= 1"):
        MixAndMatchSettings(train_examples=0)
    with pytest.raises(ValueError, match="eval_examples must be >= 1"):
        MixAndMatchSettings(eval_examples=0)
    with pytest.raises(ValueError, match="unknown data set"):
        MixAndMatchSettings(datasets=("human36m",))
