"""The dense reproductions end to end on tiny budgets: tables, the law's row and paired gaps."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from plausible.config import ConfigError
from plausible.reproduce.sohn2015_segmentation import (
    BLOCKS,
    FRACTIONS,
    ORACLE,
    PartialObservationSettings,
    reproduce_sohn2015_segmentation,
    run_config,
)
from plausible.reproduce.ucnet import UCNetSettings, reproduce_ucnet
from plausible.runs import build_task, load_run
from plausible.tasks.dense import PartialSilhouettes


def test_ucnet_table_puts_the_exact_law_first_with_ged_zero_and_hm_iou_one(
    tmp_path: Path,
) -> None:
    settings = UCNetSettings(
        datasets=("annotated-shapes",),
        channels=(4, 8),
        epochs=1,
        train_examples=32,
        eval_examples=16,
    )
    results = reproduce_ucnet(settings, tmp_path)
    rows = results["datasets"]["annotated-shapes"]
    assert list(rows) == ["truth", "unet", "prob-unet", "ucnet"]
    truth = rows["truth"]["ambiguous-segmentation"]
    assert truth["ged"]["mean"] == 0.0 and truth["hm_iou"]["mean"] == 1.0
    # A deterministic model draws one mask per image: no diversity among its samples.
    assert rows["unet"]["ambiguous-segmentation"]["sample_diversity"]["mean"] == 0.0
    table = (tmp_path / "table.md").read_text()
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert (
        lines[1].startswith("| exact-law sampler") and "0.000 ± 0.000 | 1.000 ± 0.000" in lines[1]
    )
    assert json.loads((tmp_path / "results.json").read_text())["protocol"]["budget"]["epochs"] == 1
    with pytest.raises(ValueError, match="unknown data set"):
        UCNetSettings(datasets=("lidc",))


def test_partial_observation_table_has_nine_cells_with_paired_gaps(tmp_path: Path) -> None:
    settings = PartialObservationSettings(
        dataset="digits", channels=(4, 8), epochs=1, train_examples=40, eval_examples=12
    )
    results = reproduce_sohn2015_segmentation(settings, tmp_path)
    cells = results["cells"]
    assert list(cells) == [f"{f:g}/{b}" for f in FRACTIONS for b in BLOCKS]
    for cell in cells.values():
        for metric in ("iou", "pixel_accuracy"):
            gap = cell["gap"][metric]["mean"]
            direct = cell["cvae"][metric]["mean"] - cell["baseline"][metric]["mean"]
            assert gap == pytest.approx(direct, abs=1e-12)
            assert 0.0 <= cell["baseline"][metric]["mean"] <= 1.0
    # The diagnostic column equals the CVAE decoded at E[z|x,y], computed here directly.
    cvae = load_run(tmp_path / "cvae").model
    task = build_task(run_config(settings, "cvae"))
    assert isinstance(task, PartialSilhouettes)
    split = task.held_out(task.scenes()[2], FRACTIONS[2], BLOCKS[0], settings.seed + 1020)
    x, y = split["x"], split["y"]
    with torch.no_grad():
        pred = cvae.generate(x, cvae.recognize(x, y).mean).mean > 0.5
    inter = (pred & y.bool()).flatten(1).sum(1).double()
    union = (pred | y.bool()).flatten(1).sum(1).double()
    want = torch.where(union > 0, inter / union.clamp_min(1), 1.0).mean()
    got = cells["0.7/1"][ORACLE]["iou"]["mean"]
    assert got == pytest.approx(float(want), abs=1e-12)
    table = (tmp_path / "table.md").read_text()
    assert table.count("| 70% | 1x1 |") == 2  # the IoU and the pixel-accuracy tables
    assert "89.44" in table  # the published number sits next to ours
    # --resume reuses the finished runs; a folder holding another protocol is refused by name.
    weights = tmp_path / "cvae" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    again = reproduce_sohn2015_segmentation(settings, tmp_path, resume=True)
    assert weights.stat().st_mtime_ns == stamp
    assert again["cells"]["0.7/1"]["gap"] == cells["0.7/1"]["gap"]
    other = dataclasses.replace(settings, latent_dim=settings.latent_dim + 1)
    with pytest.raises(ConfigError, match="latent_dim"):
        reproduce_sohn2015_segmentation(other, tmp_path, resume=True)
