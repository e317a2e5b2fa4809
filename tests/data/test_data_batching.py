"""TensorBatcher: coverage, reproducible epochs, exact resume, sharding and errors."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from plausible.data import Binarize, TensorBatcher


def _data(num_items: int) -> dict[str, Tensor]:
    return {"x": torch.rand(num_items, 3), "idx": torch.arange(num_items)}


def _epoch_order(batcher: TensorBatcher, epoch: int) -> Tensor:
    return torch.cat([b["idx"] for b in batcher.epoch_batches(epoch)])


def test_every_item_once_per_epoch() -> None:
    data = _data(103)
    batcher = TensorBatcher(data, 10)
    batches = list(batcher.epoch_batches(0))
    assert len(batcher) == len(batches) == 11
    assert [len(b["idx"]) for b in batches] == [10] * 10 + [3]
    order = torch.cat([b["idx"] for b in batches])
    assert torch.equal(order.sort().values, torch.arange(103))
    assert torch.equal(torch.cat([b["x"] for b in batches]), data["x"][order])


def test_permutation_depends_on_seed_and_epoch_only() -> None:
    batcher = TensorBatcher(_data(50), 8, seed=3)
    assert not torch.equal(_epoch_order(batcher, 0), _epoch_order(batcher, 1))
    assert torch.equal(
        _epoch_order(batcher, 1), _epoch_order(TensorBatcher(_data(50), 8, seed=3), 1)
    )
    assert not torch.equal(_epoch_order(batcher, 1), _epoch_order(TensorBatcher(_data(50), 8), 1))


def test_plain_iteration_advances_the_epoch() -> None:
    batcher = TensorBatcher(_data(20), 20)
    first, second = next(iter(batcher)), next(iter(batcher))
    assert batcher.epoch == 2
    assert torch.equal(first["idx"], _epoch_order(batcher, 0))
    assert torch.equal(second["idx"], _epoch_order(batcher, 1))


def test_no_shuffle_keeps_order() -> None:
    batcher = TensorBatcher(_data(7), 3, shuffle=False)
    assert _epoch_order(batcher, 5).tolist() == list(range(7))


def test_mid_epoch_resume_is_exact_including_transform() -> None:
    data = {"x": torch.rand(37, 4), "label": torch.arange(37)}
    full = list(TensorBatcher(data, 5, seed=7, transform=Binarize()).epoch_batches(2))
    resumed = list(TensorBatcher(data, 5, seed=7, transform=Binarize()).epoch_batches(2, start=3))
    assert len(resumed) == len(full) - 3
    for a, b in zip(full[3:], resumed, strict=True):
        assert torch.equal(a["x"], b["x"]) and torch.equal(a["label"], b["label"])
    assert set(full[0]["x"].unique().tolist()) <= {0.0, 1.0}
    other_epoch = next(TensorBatcher(data, 37, seed=7, transform=Binarize()).epoch_batches(3))
    again = next(TensorBatcher(data, 37, seed=7, transform=Binarize()).epoch_batches(3))
    assert torch.equal(other_epoch["x"], again["x"])


def test_transform_gets_a_generator_on_the_data_device() -> None:
    seen: list[torch.device] = []

    def transform(batch: dict[str, Tensor], generator: torch.Generator) -> dict[str, Tensor]:
        seen.append(generator.device)
        return batch

    batcher = TensorBatcher(_data(4), 2, device="cpu", transform=transform)
    list(batcher.epoch_batches(0))
    assert seen == [batcher.device, batcher.device] == [torch.device("cpu")] * 2


@pytest.mark.parametrize("drop_last", [False, True], ids=str)
def test_sharding_matches_single_process(drop_last: bool) -> None:
    data, b, world = _data(46), 4, 2

    def batches(batch_size: int, rank: int = 0, world_size: int = 1) -> list[dict[str, Tensor]]:
        kwargs = dict(seed=1, drop_last=drop_last, rank=rank, world_size=world_size)
        return list(TensorBatcher(data, batch_size, **kwargs).epoch_batches(3))

    single = batches(world * b)
    ranks = [batches(b, rank=r, world_size=world) for r in range(world)]
    assert len(ranks[0]) == len(ranks[1]) == len(single) == (5 if drop_last else 6)
    for i, batch in enumerate(single):
        union = torch.cat([ranks[r][i]["idx"] for r in range(world)])
        assert torch.equal(union.sort().values, batch["idx"].sort().values)


def test_uneven_sharding_pads_by_wrapping() -> None:
    ranks = [TensorBatcher(_data(11), 2, rank=r, world_size=3) for r in range(3)]
    assert [len(r) for r in ranks] == [2, 2, 2]
    seen = torch.cat([_epoch_order(r, 0) for r in ranks])
    assert len(seen) == 12 and set(seen.tolist()) == set(range(11))


def test_drop_last() -> None:
    assert [len(b["idx"]) for b in TensorBatcher(_data(25), 10, drop_last=True)] == [10, 10]
    assert [len(b["idx"]) for b in TensorBatcher(_data(25), 10)] == [10, 10, 5]


def test_batch_larger_than_dataset() -> None:
    assert [len(b["idx"]) for b in TensorBatcher(_data(5), 8)] == [5]
    with pytest.raises(ValueError, match="batch_size=8 is larger than the 5 items"):
        TensorBatcher(_data(5), 8, drop_last=True)


@pytest.mark.parametrize(
    ("tensors", "kwargs", "message"),
    [
        ({}, {}, "at least one tensor"),
        ({"x": torch.zeros(0, 2)}, {}, "empty"),
        ({"x": torch.zeros(3), "y": torch.zeros(4)}, {}, "same length"),
        (_data(3), {"batch_size": 0}, "batch_size must be >= 1"),
        (_data(3), {"rank": 2, "world_size": 2}, "0 <= rank < world_size"),
    ],
    ids=str,
)
def test_constructor_errors(tensors: dict, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TensorBatcher(tensors, **{"batch_size": 2, **kwargs})


def test_epoch_batches_checks_start_eagerly() -> None:
    batcher = TensorBatcher(_data(10), 3)
    assert list(batcher.epoch_batches(0, start=4)) == []
    with pytest.raises(ValueError, match="0 <= start <= 4"):
        batcher.epoch_batches(0, start=5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_and_transform_resume() -> None:
    data = {"x": torch.rand(30, 4), "label": torch.arange(30)}
    batcher = TensorBatcher(data, 7, device="cuda", transform=Binarize())
    full = list(batcher.epoch_batches(1))
    assert full[0]["x"].is_cuda and batcher.device.type == "cuda"
    for a, b in zip(full[2:], batcher.epoch_batches(1, start=2), strict=True):
        assert torch.equal(a["x"], b["x"]) and torch.equal(a["label"], b["label"])
