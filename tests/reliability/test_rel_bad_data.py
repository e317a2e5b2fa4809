"""Bad data: NaN or infinity, labels out of range, empty data sets, batches larger than the data.

Each gives a clear error naming the problem (and where it is), or, for a batch larger than the
data, simply the right result: one short batch per epoch.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from plausible.data import ImageDataset, load_dataset, write_idx
from plausible.models import VAE
from plausible.training import ConfiguredObjective, Trainer, TrainerConfig
from plausible.training.checkpointing import find_checkpoint, read_checkpoint


def _trainer(run: Path | None = None, **kw: object) -> Trainer:
    torch.manual_seed(0)
    base = {"epochs": 1, "batch_size": 16, "progress": False, "tensorboard": "off", "device": "cpu"}
    config = TrainerConfig(**{**base, **kw})  # type: ignore[arg-type]
    return Trainer(
        VAE((16,), latent_dim=2, hidden_dims=(8,)), ConfiguredObjective("elbo"), config, run_dir=run
    )


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=str)
def test_non_finite_training_data_never_reaches_the_weights(tmp_path: Path, value: float) -> None:
    """Either the model refuses the batch, naming the example, or the NaN guard skips it.

    A NaN (or an infinity that turns into one) makes the VAE's posterior refuse its parameters:
    a ValueError that names the bad example. An infinity that stays infinite gives an infinite
    loss, which the NaN guard skips and reports with step and batch.
    """
    x = torch.rand(64, 16)
    x[37, 5] = value
    trainer = _trainer(tmp_path, epochs=2, batch_size=64)  # example 37 of the only batch
    try:
        trainer.fit({"x": x})
    except ValueError as err:
        assert "x holds 1 NaN or infinite values (first in example" in str(err), err
        assert "clean the data" in str(err)
    else:
        bad = [r for r in trainer.log.records if r["split"] == "nonfinite"]
        assert [(r["epoch"], r["batch"]) for r in bad] == [(0, 0), (1, 0)]
    assert trainer.step == 0
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_non_finite_data_after_a_checkpoint_keeps_it(tmp_path: Path) -> None:
    x = torch.rand(64, 16)
    trainer = _trainer(tmp_path, epochs=1)
    trainer.fit({"x": x})
    x[:, 3] = math.nan  # the data goes bad; resuming for another epoch must fail cleanly
    with pytest.raises(ValueError, match="NaN or infinite"):
        _trainer(tmp_path, epochs=2).fit({"x": x}, resume=True)
    assert read_checkpoint(find_checkpoint(tmp_path))[1]["epoch"] == 1


def test_an_empty_data_set_is_refused() -> None:
    with pytest.raises(ValueError, match="the dataset is empty"):
        _trainer().fit({"x": torch.zeros(0, 16)})


def test_a_batch_larger_than_the_data_trains_on_one_short_batch() -> None:
    trainer = _trainer(epochs=3, batch_size=1000)
    trainer.fit({"x": torch.rand(10, 16)})
    assert trainer.step == 3
    train_rows = [r for r in trainer.log.records if r["split"] == "train"]
    assert len(train_rows) == 3 and all(math.isfinite(r["loss"]) for r in train_rows)


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (torch.full((2, 1, 2, 2), math.nan), torch.tensor([0, 1]), "NaN or infinite"),
        (torch.full((2, 1, 2, 2), 2.0), torch.tensor([0, 1]), r"must lie in \[0, 1\]"),
        (torch.zeros(2, 1, 2, 2), torch.tensor([0, 10]), r"labels must be in \[0, 9\]"),
        (torch.zeros(2, 1, 2, 2), torch.tensor([-1, 0]), r"labels must be in \[0, 9\]"),
        (torch.zeros(0, 1, 2, 2), torch.zeros(0, dtype=torch.long), "at least one"),
        (torch.zeros(2, 1, 2, 2), torch.tensor([0]), "as many labels as images"),
    ],
    ids=["nan", "out-of-range-pixels", "label-too-large", "negative-label", "empty", "mismatch"],
)
def test_image_datasets_validate_their_tensors(
    images: torch.Tensor, labels: torch.Tensor, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ImageDataset(images, labels, tuple(str(i) for i in range(10)), "test")


def test_idx_labels_out_of_range_are_refused_with_the_file(tmp_path: Path) -> None:
    for prefix, n in (("train", 8), ("t10k", 4)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", np.zeros((n, 28, 28), np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", np.full(n, 12, np.uint8))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte: labels must be in \[0, 9\]"):
        load_dataset("fashion-mnist", "train", data_dir=tmp_path)
