"""The training step never makes the host wait for the device.

On a GPU every read of a tensor's value on the host (``.item()``, ``bool(t)``, ``.tolist()``...)
waits for all queued work, so a read per step leaves the device idle while Python prepares the
next one. The trainer reads only with a training row (every ``log_every`` steps) and at
checkpoints. On a CPU there is no queue to wait for, but the reads are the same calls, so
counting them here checks what the GPU path does.
"""

from __future__ import annotations

import collections
import math

import pytest
import torch

from plausible.data import Binarize
from plausible.models import VAE
from plausible.training import ConfiguredObjective, Trainer, TrainerConfig

# Every Tensor method that hands a value to Python (and so waits for the device).
HOST_READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "nonzero", "numpy")
STEPS_PER_EPOCH = 10
LOG_EVERY = 5


def _count_host_reads(monkeypatch: pytest.MonkeyPatch) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for name in HOST_READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):  # type: ignore[no-untyped-def]
            counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return counts


class _ReadsPerStep:
    """Host reads made during each step, keyed by the step number after it (1-based)."""

    def __init__(self, counts: collections.Counter[str]) -> None:
        self.counts = counts
        self.seen = 0
        self.per_step: dict[int, int] = {}

    def on_step_end(self, trainer, out) -> None:  # type: ignore[no-untyped-def]
        total = sum(self.counts.values())
        self.per_step[trainer.step] = total - self.seen
        self.seen = total

    def on_epoch_end(self, trainer) -> None:  # type: ignore[no-untyped-def]
        pass


@pytest.mark.parametrize("bad_batch", [None, 7], ids=["clean", "one-nan-batch"])
def test_steps_read_nothing_from_the_device_between_training_rows(
    monkeypatch: pytest.MonkeyPatch, bad_batch: int | None
) -> None:
    torch.manual_seed(0)
    model = VAE((16,), latent_dim=2, hidden_dims=(16,))  # Normal posterior: its checks would read
    inner = ConfiguredObjective("elbo")
    calls = {"n": 0}

    def objective(model, batch, step):  # type: ignore[no-untyped-def]
        out = inner(model, batch, step)
        calls["n"] += 1
        calls["terms"] = len(out.terms)
        if calls["n"] == bad_batch:  # the NaN guard must skip it without reading at once
            return type(out)(loss=out.loss * math.nan, terms=out.terms)
        return out

    config = TrainerConfig(
        epochs=3,
        batch_size=8,
        device="cpu",
        progress=False,
        tensorboard="off",
        log_every=LOG_EVERY,
        grad_clip=5.0,
        lr_schedule="cosine",
    )
    trainer = Trainer(model, objective, config)
    counts = _count_host_reads(monkeypatch)
    reads = _ReadsPerStep(counts)
    trainer.callbacks.append(reads)
    x = torch.rand(8 * STEPS_PER_EPOCH, 16)
    trainer.fit({"x": x}, transform=Binarize("dynamic"))
    monkeypatch.undo()

    assert len(reads.per_step) == 3 * STEPS_PER_EPOCH
    # Step 1 also holds fit()'s one check of the data for NaN, before the first batch.
    assert reads.per_step[1] <= 1
    quiet = {s: n for s, n in reads.per_step.items() if s % LOG_EVERY != 0 and s > 1}
    assert quiet and all(n == 0 for n in quiet.values()), (quiet, dict(counts))
    # The counter does see reads: each training row reads the guard's verdicts and the sums,
    # and naming the bad terms of a skipped batch reads each term once, at its row only.
    reporting_row = None if bad_batch is None else math.ceil(bad_batch / LOG_EVERY) * LOG_EVERY
    for step, n in reads.per_step.items():
        if step % LOG_EVERY == 0:
            extra = calls["terms"] if step == reporting_row else 0
            assert 1 <= n <= 2 + extra, (step, reads.per_step, dict(counts))
    assert trainer.skipped_batches == (0 if bad_batch is None else 1)
