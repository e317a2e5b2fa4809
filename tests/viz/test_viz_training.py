"""Tests for plausible.viz.training: metric curves and KL-per-dimension bars."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch

import plausible.viz.training
from plausible.viz import kl_per_dimension_bars, training_curves
from plausible.viz.training import _default_keys


def assert_png(path: Path) -> None:
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) >= 50
    assert float(image[..., :3].std()) > 0.01


def make_records() -> list[dict]:
    records: list[dict] = []
    for epoch in range(1, 5):
        for i in range(1, 5):
            records.append(
                {
                    "step": (epoch - 1) * 4 + i,
                    "epoch": epoch,
                    "epoch_float": epoch - 1 + i / 4,
                    "split": "train",
                    "loss": 100.0 / epoch + i,
                    "kl": 10.0 + epoch,
                    "reconstruction": 90.0 / epoch,
                    "lr": 1e-3 * 0.5**epoch,
                    "time": 1.5 * i,
                    "step_time_s": 0.01,
                }
            )
        records.append({"epoch": epoch, "split": "val", "loss": 105.0 / epoch, "time": 3.0})
    return records


def test_default_keys_skip_axes_and_time() -> None:
    assert _default_keys(make_records()) == ["loss", "kl", "reconstruction", "lr"]


def test_training_curves_writes_png(tmp_path: Path) -> None:
    assert_png(training_curves(make_records(), tmp_path / "curves.png"))


def test_training_curves_missing_nan_and_junk(tmp_path: Path) -> None:
    records = make_records()
    records[2]["loss"] = math.nan
    records[3]["kl"] = math.inf
    records[4]["loss"] = None
    records[5]["loss"] = "oops"
    del records[6]["kl"]
    records.append({"split": "validation", "epoch": 5, "loss": 20.0, "only_here": 1.0})
    records.append({"split": "test", "epoch": 5, "loss": float("nan")})
    out = training_curves(
        records, tmp_path / "c.png", keys=["loss", "kl", "never_logged", "only_here"]
    )
    assert_png(out)


def test_training_curves_step_axis_and_errors(tmp_path: Path) -> None:
    records = [{"step": s, "loss": 1.0 / s} for s in range(1, 50)]
    assert_png(training_curves(records, tmp_path / "s.png"))
    with pytest.raises(ValueError, match="no records"):
        training_curves([], tmp_path / "e.png")
    with pytest.raises(ValueError, match="no numeric"):
        training_curves([{"epoch": 1, "split": "val"}], tmp_path / "e.png")


@pytest.mark.parametrize("threshold", [None, 0.01], ids=str)
def test_kl_bars(tmp_path: Path, threshold: float | None) -> None:
    kl = torch.tensor([0.5, 0.001, 2.0, 0.0, 0.2])
    assert_png(kl_per_dimension_bars(kl, tmp_path / "kl.png", threshold=threshold))


def test_kl_bars_per_example_and_many_dims(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    assert_png(kl_per_dimension_bars(rng.exponential(size=(30, 64)), tmp_path / "kl64.png"))
    with pytest.raises(ValueError, match="kl_per_dim"):
        kl_per_dimension_bars(np.zeros((2, 3, 4)), tmp_path / "bad.png")


def test_kl_bars_count_dims_above_the_kl_level_without_calling_them_active(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Active units are a variance rule (metrics.latent); the KL figure must not claim them."""
    import plausible.viz.training as viz_training

    titles: list[str] = []
    save = viz_training.save_figure

    def keep_title(fig, path):  # type: ignore[no-untyped-def]
        titles.append(fig.axes[0].get_title())
        return save(fig, path)

    monkeypatch.setattr(viz_training, "save_figure", keep_title)
    kl_per_dimension_bars([0.5, 0.001, 0.02, 0.0], tmp_path / "kl.png", threshold=0.01)
    assert titles == ["KL divergence per latent dimension (2/4 dims with KL ≥ 0.01 nats)"]
    assert "active" not in titles[0]


def _trainer_rows(lr: list[float]) -> list[dict]:
    """Rows as the trainer writes them: 4 steps an epoch, a training and a validation row each."""
    rows: list[dict] = []
    for epoch, rate in enumerate(lr, start=1):
        loss = 100.0 / epoch
        rows.append(
            {
                "step": 4 * epoch,
                "epoch": epoch,
                "split": "train",
                "loss": loss,
                "reconstruction": loss - 3.0,
                "kl": 3.0,
                "elbo": -loss,
                "lr": rate,
                "time": "2026-12-05T14:03:22Z",
            }
        )
        rows.append(
            {"step": 4 * epoch, "epoch": epoch, "split": "val", "loss": loss + 1, "elbo": -loss - 1}
        )
    rows.append({"step": 5, "epoch": 2, "split": "nonfinite", "batch": 0, "what": "kl"})
    return rows


def test_panels_that_repeat_another_or_stay_flat_are_left_out() -> None:
    # elbo = -loss in every row, and a constant learning rate: neither gets a panel.
    assert _default_keys(_trainer_rows([1e-3] * 3)) == ["loss", "reconstruction", "kl"]
    # A learning rate that changes (a schedule) is drawn, last.
    assert _default_keys(_trainer_rows([1e-3, 5e-4, 2.5e-4])) == [
        "loss",
        "reconstruction",
        "kl",
        "lr",
    ]
    # An elbo that differs from -loss (beta != 1, a warm-up) is its own panel.
    rows = _trainer_rows([1e-3] * 3)
    rows[0]["elbo"] -= 2.0
    assert "elbo" in _default_keys(rows)


def test_axes_say_their_units(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}
    real = plausible.viz.training.save_figure

    def spy(fig, path):  # type: ignore[no-untyped-def]
        seen["panels"] = {
            ax.get_title(): (ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes if ax.get_title()
        }
        seen["top"] = [
            child.get_xlabel()
            for ax in fig.axes
            for child in ax.child_axes
            if hasattr(child, "get_xlabel")
        ]
        return real(fig, path)

    monkeypatch.setattr(plausible.viz.training, "save_figure", spy)
    training_curves(_trainer_rows([1e-3, 5e-4, 2.5e-4]), tmp_path / "c.png")
    panels = seen["panels"]
    assert panels == {  # type: ignore[comparison-overlap]
        "loss": ("training step (batches)", "nats per example"),
        "reconstruction": ("training step (batches)", "nats per example"),
        "kl": ("training step (batches)", "nats per example"),
        "lr": ("training step (batches)", "learning rate"),
    }
    assert seen["top"] == ["epoch"] * 4  # 4 steps an epoch: the epochs along the top
