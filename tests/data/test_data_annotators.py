"""Disks with several graders' masks: the masks against their geometry, the drawn targets and the
resampling transform against the law, and the exact-law sampler's quotas."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from scipy import stats

from plausible.data.annotators import (
    VARIANT_NAMES,
    AnnotationSampler,
    largest_remainder_counts,
    make_annotated_shapes,
    resample_annotations,
)
from plausible.data.batching import TensorBatcher
from plausible.models.protocols import ConditionalModel

PROBS = (0.375, 0.25, 0.25, 0.125)


# -- the images and masks -------------------------------------------------------------------------
def test_masks_are_the_stated_disks_and_tail_pixel_by_pixel() -> None:
    size = 20
    d = make_annotated_shapes(6, size=size, seed=3)
    assert VARIANT_NAMES == ("small", "large", "tail", "empty")
    for n in range(6):
        cy, cx = (float(v) for v in d["centre"][n])
        r = float(d["radius"][n])
        want = np.zeros((4, size, size))
        disk = np.zeros((size, size))
        for i in range(size):
            for j in range(size):
                dist = math.hypot(i + 0.5 - cy, j + 0.5 - cx)
                disk[i, j] = dist <= r
                want[0, i, j] = dist <= 0.7 * r
                want[1, i, j] = dist <= 1.25 * r
                in_tail = abs(i + 0.5 - cy) <= 1.0 and cx <= j + 0.5 <= cx + 2 * r
                want[2, i, j] = dist <= r or in_tail
        assert np.array_equal(d["annotations"][n, :, 0].numpy(), want)
        assert np.array_equal(d["disk"][n, 0].numpy(), disk)
        # Everything drawn stays inside the image: the large disk and the tail's end.
        assert 1.25 * r <= cy <= size - 1.25 * r and 1.25 * r <= cx <= size - 2 * r


@pytest.mark.parametrize("size", [8, 32], ids=str)
def test_masks_are_binary_nested_and_distinct(size: int) -> None:
    d = make_annotated_shapes(50, size=size, seed=1)
    a = d["annotations"]
    assert a.shape == (50, 4, 1, size, size) and a.dtype == torch.float32
    assert set(a.unique().tolist()) == {0.0, 1.0}
    small, large, tail, empty = (a[:, i].bool() for i in range(4))
    disk = d["disk"].bool()
    assert bool((small <= disk).all() and (disk <= large).all() and (disk <= tail).all())
    assert not bool(empty.any())
    # Each mask differs from the others on every image: small is never empty, the disk has
    # pixels outside the small mask, and the tail sticks out of the large disk.
    assert bool(small.flatten(1).any(1).all())
    assert bool((large & ~small).flatten(1).any(1).all())
    assert bool((tail & ~large).flatten(1).any(1).all())


def test_the_image_is_the_disk_plus_noise() -> None:
    clean = make_annotated_shapes(20, size=16, seed=2, noise=0.0, texture=0.0)
    assert torch.equal(clean["x"], 0.5 * clean["disk"])
    noisy = make_annotated_shapes(20, size=16, seed=2, noise=0.1, texture=0.0)
    residual = (noisy["x"] - 0.5 * noisy["disk"]).double().flatten()
    # The residual is N(0, 0.1^2) pixel noise: its sum of squares is 0.01 * chi-square(5120).
    n = residual.numel()
    stat = float((residual**2).sum() / 0.01)
    assert stats.chi2.ppf(1e-4, n) < stat < stats.chi2.ppf(1 - 1e-4, n)
    textured = make_annotated_shapes(20, size=16, seed=2, noise=0.0, texture=0.05)
    wave = textured["x"] - 0.5 * textured["disk"]
    assert float(wave.abs().max()) <= 0.05 + 1e-6 and float(wave.abs().max()) > 0.04


def test_y_is_the_drawn_annotation_and_the_seed_fixes_everything() -> None:
    d = make_annotated_shapes(30, size=12, seed=5)
    assert torch.equal(d["y"], d["annotations"][torch.arange(30), d["variant"]])
    assert torch.equal(d["annotation_probs"], torch.tensor(PROBS).expand(30, 4))
    again = make_annotated_shapes(30, size=12, seed=5)
    assert all(torch.equal(d[k], again[k]) for k in d)
    other = make_annotated_shapes(30, size=12, seed=6)
    assert not torch.equal(d["x"], other["x"])


def test_drawn_targets_follow_the_probabilities() -> None:
    d = make_annotated_shapes(4000, size=8, seed=11)
    counts = torch.bincount(d["variant"], minlength=4).numpy()
    assert stats.chisquare(counts, 4000 * np.array(PROBS)).pvalue > 1e-3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_examples": 0}, "num_examples"),
        ({"size": 7}, "size must be an integer >= 8"),
        ({"probs": (0.5, 0.5, 0.0, 0.0)}, "positive probability"),
        ({"probs": (0.5, 0.5, -0.25, 0.25)}, "positive probability"),
        ({"probs": (0.5, 0.5, 0.25, 0.25)}, "sum to 1"),
        ({"probs": (0.5, 0.5)}, "4 probabilities"),
        ({"noise": -0.1}, "noise"),
        ({"texture": float("nan")}, "texture"),
    ],
    ids=str,
)
def test_bad_arguments_say_what_to_change(kwargs: dict, message: str) -> None:
    args = {"num_examples": 3, **kwargs}
    n = args.pop("num_examples")
    with pytest.raises(ValueError, match=message):
        make_annotated_shapes(n, **args)


# -- resampling -----------------------------------------------------------------------------------
def test_resampling_draws_each_example_from_its_law() -> None:
    d = make_annotated_shapes(3000, size=8, seed=4)
    # Unequal laws per example: the second half favours the tail.
    probs = d["annotation_probs"].clone()
    probs[1500:] = torch.tensor([0.1, 0.1, 0.7, 0.1])
    batch = {**d, "annotation_probs": probs}
    out = resample_annotations(batch, torch.Generator().manual_seed(0))
    assert torch.equal(out["y"], d["annotations"][torch.arange(3000), out["variant"]])
    assert torch.equal(out["x"], d["x"]) and out is not batch
    for rows, law in ((slice(0, 1500), PROBS), (slice(1500, 3000), (0.1, 0.1, 0.7, 0.1))):
        counts = torch.bincount(out["variant"][rows], minlength=4).numpy()
        assert stats.chisquare(counts, 1500 * np.array(law)).pvalue > 1e-3
    # A fresh draw, not the stored one: about 1 - sum p^2 of the first half change variant.
    changed = float((out["variant"][:1500] != d["variant"][:1500]).double().mean())
    assert changed == pytest.approx(1 - sum(p * p for p in PROBS), abs=0.05)


def test_resampling_runs_as_a_batcher_transform_and_repeats_per_seed() -> None:
    d = make_annotated_shapes(40, size=8, seed=0)
    keys = ("x", "y", "annotations", "annotation_probs")
    batcher = TensorBatcher({k: d[k] for k in keys}, 8, seed=3, transform=resample_annotations)
    first = [b["y"] for b in batcher.epoch_batches(0)]
    again = [b["y"] for b in batcher.epoch_batches(0)]
    later = [b["y"] for b in batcher.epoch_batches(1)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, later, strict=True))


def test_resampling_needs_the_annotations() -> None:
    with pytest.raises(KeyError, match="annotation_probs"):
        resample_annotations(
            {"y": torch.zeros(2, 1, 4, 4), "annotations": torch.zeros(2, 4, 1, 4, 4)},
            torch.Generator(),
        )
    with pytest.raises(ValueError, match="disagree"):
        resample_annotations(
            {"annotations": torch.zeros(2, 4, 1, 4, 4), "annotation_probs": torch.ones(2, 3) / 3},
            torch.Generator(),
        )


# -- quotas and the exact-law sampler -------------------------------------------------------------
def _hamilton(probs: list[Fraction], total: int) -> list[int]:
    """Largest remainders in exact rational arithmetic (ties to the lower index)."""
    quotas = [p * total for p in probs]
    counts = [math.floor(q) for q in quotas]
    order = sorted(range(len(probs)), key=lambda a: (-(quotas[a] - counts[a]), a))
    for a in order[: total - sum(counts)]:
        counts[a] += 1
    return counts


@pytest.mark.parametrize("total", [0, 1, 5, 7, 16, 33], ids=str)
def test_largest_remainder_counts_equal_exact_arithmetic(total: int) -> None:
    rng = np.random.default_rng(total)
    # Probabilities with denominator 64: exact in floating point, with ties among remainders.
    weights = rng.integers(0, 9, size=(20, 5)) + np.eye(5)[rng.integers(0, 5, 20)]
    weights = (weights * 64 // weights.sum(1, keepdims=True)).astype(np.int64)
    weights[:, 0] += 64 - weights.sum(1)
    probs = torch.from_numpy(weights / 64.0)
    got = largest_remainder_counts(probs, total)
    for row, w in zip(got.tolist(), weights.tolist(), strict=True):
        assert row == _hamilton([Fraction(int(v), 64) for v in w], total)
    assert torch.equal(got.sum(-1), torch.full((20,), total))


def test_largest_remainder_counts_refuse_a_bad_law() -> None:
    with pytest.raises(ValueError, match="summing to 1"):
        largest_remainder_counts(torch.tensor([0.5, 0.6]), 4)


@pytest.mark.parametrize(
    ("num_samples", "counts"),
    [(16, (6, 4, 4, 2)), (8, (3, 2, 2, 1)), (5, (2, 1, 1, 1)), (32, (12, 8, 8, 4))],
    ids=str,
)
def test_stratified_sampler_meets_its_quotas_exactly(num_samples: int, counts: tuple) -> None:
    d = make_annotated_shapes(12, size=10, seed=7)
    sampler = AnnotationSampler.from_split(d)
    assert isinstance(sampler, ConditionalModel)
    assert sampler.x_shape == (1, 10, 10) and sampler.y_shape == (1, 10, 10)
    order = torch.randperm(12)  # the sampler finds images in any order
    masks = sampler.sample(d["x"][order], num_samples, mean=True)
    assert masks.shape == (num_samples, 12, 1, 10, 10) and masks.dtype == torch.float32
    first_variant = []
    for b, n in enumerate(order.tolist()):
        same = (masks[:, b, None] == d["annotations"][n][None]).flatten(2).all(-1)  # (S, 4)
        assert bool((same.sum(-1) == 1).all())  # every sample is one grader's mask
        assert tuple(same.sum(0).tolist()) == counts
        first_variant.append(int(same[0].int().argmax()))
    # The order is random: the first sample is not always the most probable mask.
    assert len(set(first_variant)) > 1


def test_sampler_is_reproducible_from_the_global_seed_and_iid_when_asked() -> None:
    d = make_annotated_shapes(600, size=8, seed=8)
    sampler = AnnotationSampler(d["x"], d["annotations"], d["annotation_probs"], stratified=False)
    torch.manual_seed(1)
    a = sampler.sample(d["x"], 4)
    torch.manual_seed(1)
    assert torch.equal(a, sampler.sample(d["x"], 4))
    same = (a[:, :, None] == d["annotations"][None]).flatten(3).all(-1)  # (4, 600, 4)
    variant = same.int().argmax(-1)
    counts = torch.bincount(variant.flatten(), minlength=4).numpy()
    assert stats.chisquare(counts, 2400 * np.array(PROBS)).pvalue > 1e-3
    # Not stratified: some image gets a set of 4 masks other than the quotas (2, 1, 1, 0).
    per_image = torch.stack([torch.bincount(v, minlength=4) for v in variant.T])
    assert bool((per_image != torch.tensor([2, 1, 1, 0])).any(-1).any())


def test_sampler_names_how_many_images_it_does_not_know() -> None:
    d = make_annotated_shapes(5, size=8, seed=9)
    sampler = AnnotationSampler.from_split(d)
    x = d["x"].clone()
    x[1, 0, 3, 3] += 1e-3
    x[4, 0, 0, 0] = -x[4, 0, 0, 0] + 1
    with pytest.raises(ValueError, match="2 of 5 input images are not among the 5 images"):
        sampler.sample(x, 4)
    with pytest.raises(ValueError, match="expects images"):
        sampler.sample(d["x"][:, :, :4], 4)
    # Equal values in another dtype are found; values that round to a stored one are not.
    assert torch.equal(sampler.find(d["x"].double()), torch.arange(5))
    nudged = d["x"].double()
    nudged[2, 0, 0, 0] += 1e-12
    with pytest.raises(ValueError, match="1 of 5"):
        sampler.find(nudged)
    with pytest.raises(ValueError, match="annotations"):
        AnnotationSampler(d["x"], d["annotations"], d["annotation_probs"][:, :3])


def test_resampling_adds_no_keys() -> None:
    d = make_annotated_shapes(6, size=8, seed=2)
    batch = {k: d[k] for k in ("x", "y", "annotations", "annotation_probs")}
    out = resample_annotations(batch, torch.Generator().manual_seed(1))
    assert set(out) == set(batch) and torch.equal(out["x"], batch["x"])
    same = (out["y"][:, None] == d["annotations"]).flatten(2).all(-1)  # (6, 4)
    assert bool((same.sum(-1) == 1).all())
