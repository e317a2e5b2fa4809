"""metrics.jsonl rows: one epoch numbering for every split, and a UTC time on every row."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import torch

from plausible.models import VAE
from plausible.training import ConfiguredObjective, Trainer, TrainerConfig, load_metrics
from plausible.training.metrics_log import MetricsLog

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _fit(run_dir: Path, *, epochs: int, batches: int) -> list[dict]:
    torch.manual_seed(0)
    x = (torch.rand(16 * batches, 12) > 0.5).float()
    cfg = TrainerConfig(
        epochs=epochs, batch_size=16, progress=False, tensorboard="off", log_every=1000
    )
    trainer = Trainer(
        VAE((12,), latent_dim=2, hidden_dims=(8,)),
        ConfiguredObjective("elbo"),
        cfg,
        run_dir=run_dir,
    )
    trainer.fit({"x": x}, {"x": x[:16]})
    return load_metrics(run_dir / "metrics.jsonl")


def test_train_and_val_rows_of_an_epoch_carry_its_one_based_number(tmp_path: Path) -> None:
    rows = _fit(tmp_path, epochs=3, batches=2)
    # One training row (at the epoch's end: log_every is larger than an epoch) and one
    # validation row per epoch, both at the epoch's last step and with the same number.
    train = [(r["step"], r["epoch"]) for r in rows if r["split"] == "train"]
    val = [(r["step"], r["epoch"]) for r in rows if r["split"] == "val"]
    assert train == val == [(2, 1), (4, 2), (6, 3)]


def test_every_row_has_an_iso_utc_time(tmp_path: Path) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    rows = _fit(tmp_path, epochs=2, batches=1)
    after = datetime.now(timezone.utc)
    assert rows
    for row in rows:
        assert ISO_UTC.fullmatch(row["time"]), row["time"]
        stamp = datetime.strptime(row["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        assert before <= stamp <= after + timedelta(seconds=1)


def test_rows_written_after_an_epoch_keep_their_number(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.write({"step": 5, "epoch": 0, "split": "nonfinite", "batch": 4})
    log.write({"step": 5, "epoch": 1, "split": "collapse", "kl": 1.0})
    log.write({"step": 5, "epoch": 1, "split": "val", "loss": 2.0, "time": "given"})
    assert [(r["split"], r["epoch"]) for r in load_metrics(log.path)] == [  # type: ignore[arg-type]
        ("nonfinite", 1),
        ("collapse", 1),
        ("val", 1),
    ]
    assert log.records[-1]["time"] == "given"
