"""Ambiguous-segmentation metrics against direct loops, brute-force matchings, hand computations
on disks whose graders' law is known, and closed-form entropies."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from plausible.data.annotators import (
    AnnotationSampler,
    largest_remainder_counts,
    make_annotated_shapes,
)
from plausible.data.task_data import TaskData
from plausible.metrics.segmentation import (
    _energy,
    _nearest_shares,
    generalized_energy_distance,
    hungarian_matched_iou,
    iou,
    iou_distance,
    pairwise_iou_distance,
    pixel_accuracy,
    pixel_uncertainty,
    sample_masks,
)
from plausible.metrics.suite import run_metrics

PROBS = (0.375, 0.25, 0.25, 0.125)


def _np_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - IoU of two boolean arrays, empty vs empty 0."""
    union = np.logical_or(a, b).sum()
    return 0.0 if union == 0 else 1.0 - np.logical_and(a, b).sum() / union


def _random_masks(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    masks = rng.random((n, *shape)) < rng.uniform(0.1, 0.6, size=(n,) + (1,) * len(shape))
    masks[0] = False  # an empty mask
    masks[-1] = masks[1]  # a repeated one
    return masks


# -- distances ------------------------------------------------------------------------------------
def test_iou_conventions_on_small_masks() -> None:
    empty = torch.zeros(3, 3)
    a = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    b = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    assert float(iou(empty, empty)) == 1.0 and float(iou_distance(empty, empty)) == 0.0
    assert float(iou(a, empty)) == 0.0 and float(iou_distance(empty, a)) == 1.0
    assert float(iou_distance(a, a)) == 0.0
    # |a ∩ b| = 2, |a ∪ b| = 5; 6 of 9 pixels agree.
    assert float(iou(a, b)) == pytest.approx(0.4, abs=1e-15)
    assert float(pixel_accuracy(a, b)) == pytest.approx(6 / 9, abs=1e-15)
    assert float(pixel_accuracy(empty, empty)) == 1.0
    # Batched over leading axes, broadcasting a against a stack.
    stack = torch.stack([a, b, empty])[:, None]  # (3, 1, 3, 3)
    assert iou(a, stack).shape == (3, 1)
    assert iou(a, stack)[:, 0].tolist() == pytest.approx([1.0, 0.4, 0.0], abs=1e-15)
    with pytest.raises(ValueError, match="binary"):
        iou(a * 0.7, b)


def test_iou_and_pixel_accuracy_equal_a_loop_over_images() -> None:
    rng = np.random.default_rng(0)
    pred, gt = _random_masks(rng, 6, (5, 7)), _random_masks(rng, 6, (5, 7))
    got_iou = iou(torch.from_numpy(pred), torch.from_numpy(gt).float())
    got_acc = pixel_accuracy(torch.from_numpy(pred), torch.from_numpy(gt))
    for i in range(6):
        assert float(got_iou[i]) == pytest.approx(1 - _np_distance(pred[i], gt[i]), abs=1e-15)
        assert float(got_acc[i]) == pytest.approx(float(np.mean(pred[i] == gt[i])), abs=1e-15)
    pairs = pairwise_iou_distance(torch.from_numpy(pred), torch.from_numpy(gt))
    want = [[_np_distance(p, g) for g in gt] for p in pred]
    assert pairs.numpy() == pytest.approx(np.array(want), abs=1e-15)


# -- the generalized energy distance --------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2], ids=str)
def test_ged_equals_a_double_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k, a = 7, 4
    samples = _random_masks(rng, k, (1, 6, 5))
    annotations = _random_masks(rng, a, (1, 6, 5))
    samples[2] = annotations[3]  # a sample equal to an annotation
    probs = rng.dirichlet(np.ones(a))
    cross = (
        sum(probs[j] * _np_distance(samples[i], annotations[j]) for i in range(k) for j in range(a))
        / k
    )
    ss = sum(_np_distance(samples[i], samples[j]) for i in range(k) for j in range(k)) / k**2
    yy = sum(
        probs[i] * probs[j] * _np_distance(annotations[i], annotations[j])
        for i in range(a)
        for j in range(a)
    )
    got = generalized_energy_distance(
        torch.from_numpy(samples), torch.from_numpy(annotations).float(), torch.from_numpy(probs)
    )
    assert got.cross == pytest.approx(cross, rel=1e-12)
    assert got.sample_diversity == pytest.approx(ss, rel=1e-12)
    assert got.annotation_diversity == pytest.approx(yy, rel=1e-12)
    assert got.ged == pytest.approx(2 * cross - ss - yy, rel=1e-10)
    assert got.ged > 0


def test_ged_is_exactly_zero_when_frequencies_equal_the_law() -> None:
    rng = np.random.default_rng(5)
    annotations = torch.from_numpy(_random_masks(rng, 3, (4, 4))[[1, 0, 2]])  # empty second
    probs = torch.tensor([0.5, 0.25, 0.25])
    samples = annotations[[2, 0, 1, 0]]  # frequencies 1/2, 1/4, 1/4 in another order
    got = generalized_energy_distance(samples, annotations, probs)
    assert got.ged == 0.0 and got.sample_diversity == pytest.approx(got.annotation_diversity)
    one_off = annotations[[2, 0, 1, 1]]
    assert generalized_energy_distance(one_off, annotations, probs).ged > 0.01
    with pytest.raises(ValueError, match="sum to 1"):
        generalized_energy_distance(samples, annotations, torch.tensor([0.5, 0.5, 0.5]))
    with pytest.raises(ValueError, match="disagree"):
        generalized_energy_distance(samples[:, :2], annotations, probs)


# -- the Hungarian-matched IoU --------------------------------------------------------------------
@pytest.mark.parametrize("k", [3, 5, 6], ids=str)
def test_hm_iou_equals_the_best_permutation(k: int) -> None:
    rng = np.random.default_rng(k)
    samples = _random_masks(rng, k, (5, 5))
    annotations = _random_masks(rng, 3, (5, 5))
    probs = np.array([0.5, 0.3, 0.2])
    # Repeat annotations by the quotas of probs * k, computed by hand for these k.
    counts = {3: [1, 1, 1], 5: [3, 1, 1], 6: [3, 2, 1]}[k]
    assert largest_remainder_counts(torch.from_numpy(probs), k).tolist() == counts
    repeated = np.repeat(annotations, counts, axis=0)
    best = max(
        np.mean([1 - _np_distance(samples[i], repeated[perm[i]]) for i in range(k)])
        for perm in itertools.permutations(range(k))
    )
    got = hungarian_matched_iou(
        torch.from_numpy(samples), torch.from_numpy(annotations), torch.from_numpy(probs)
    )
    assert got == pytest.approx(best, abs=1e-14)


def test_hm_iou_counts_empty_against_empty_as_a_perfect_match() -> None:
    empty = torch.zeros(2, 4, 4, dtype=torch.bool)
    full = torch.ones(2, 4, 4, dtype=torch.bool)
    assert hungarian_matched_iou(empty, empty[:1], torch.tensor([1.0])) == 1.0
    assert hungarian_matched_iou(full, empty[:1], torch.tensor([1.0])) == 0.0
    mixed = torch.stack([empty[0], full[0]])
    law = torch.tensor([0.5, 0.5])
    assert hungarian_matched_iou(mixed, torch.stack([full[0], empty[0]]), law) == 1.0


# -- per-pixel uncertainty ------------------------------------------------------------------------
def test_pixel_uncertainty_equals_the_closed_form() -> None:
    def h(p: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return -np.nan_to_num(p * np.log(p)) - np.nan_to_num((1 - p) * np.log(1 - p))

    # One pixel by hand: samples 0.2 and 0.8 mean 0.5, entropy ln 2; masks 0 and 1, variance 1/4.
    two = torch.tensor([0.2, 0.8], dtype=torch.float64).reshape(2, 1, 1, 1, 1)
    u = pixel_uncertainty(two)
    h02 = -(0.2 * math.log(0.2) + 0.8 * math.log(0.8))
    assert float(u.predictive_entropy) == pytest.approx(math.log(2), abs=1e-15)
    assert float(u.expected_entropy) == pytest.approx(h02, abs=1e-15)
    assert float(u.mutual_information) == pytest.approx(math.log(2) - h02, abs=1e-15)
    assert float(u.mask_variance) == 0.25
    rng = np.random.default_rng(3)
    p = rng.random((6, 2, 1, 3, 4))
    p[:, 0, 0, 0, 0] = 0.0  # certain pixels: zero entropy, no NaN
    p[:, 0, 0, 0, 1] = 1.0
    u = pixel_uncertainty(torch.from_numpy(p))
    masks = (p > 0.5).astype(float)
    assert u.predictive_entropy.shape == (2, 1, 3, 4)
    assert u.predictive_entropy.numpy() == pytest.approx(h(p.mean(0)), abs=1e-14)
    assert u.expected_entropy.numpy() == pytest.approx(h(p).mean(0), abs=1e-14)
    assert u.mutual_information.numpy() == pytest.approx(h(p.mean(0)) - h(p).mean(0), abs=1e-14)
    assert u.mask_variance.numpy() == pytest.approx(masks.var(0), abs=1e-15)
    assert float(u.predictive_entropy[0, 0, 0, 0]) == 0.0
    assert float(u.predictive_entropy[0, 0, 0, 1]) == 0.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pixel_uncertainty(torch.full((2, 1, 1, 2, 2), 1.5))


# -- the suite metrics on disks with a known law --------------------------------------------------
class VoteModel(nn.Module):
    """A deterministic predictor: the probability-weighted majority of the graders' masks."""

    def __init__(self, split: dict[str, Tensor]) -> None:
        super().__init__()
        self.law = AnnotationSampler.from_split(split)
        self.x_shape, self.y_shape = self.law.x_shape, self.law.y_shape
        weights = split["annotation_probs"][:, :, None, None, None]
        self.vote = ((weights * split["annotations"]).sum(1) > 0.5).float()

    def sample(self, x: Tensor, num_samples: int, *, mean: bool = False) -> Tensor:
        masks = self.vote[self.law.find(x)]
        return masks.expand(num_samples, *masks.shape)


def _disks(n: int = 24, size: int = 16) -> TaskData:
    d = make_annotated_shapes(n, size=size, seed=21)
    return TaskData(train=d, val=d, test=d)


def _run(model: nn.Module, data: TaskData, **settings: Any) -> dict[str, dict[str, Any]]:
    return run_metrics(["ambiguous-segmentation", "segmentation"], model, data, settings)


def test_the_exact_law_sampler_scores_ged_0_and_hm_iou_1() -> None:
    data = _disks()
    out = _run(AnnotationSampler.from_split(data.test), data)["ambiguous-segmentation"]
    assert out["ged"] == {"mean": 0.0, "stderr": 0.0}
    assert out["hm_iou"] == {"mean": 1.0, "stderr": 0.0}
    assert out["sample_diversity"]["mean"] == pytest.approx(out["annotation_diversity"]["mean"])
    assert out["details"]["num_examples"] == 24 and out["settings"]["num_samples"] == 16
    # 6, 4, 4 and 2 of the 16 samples equal each grader's mask: the frequencies are the law's.
    assert out["frequency_tv"] == {"mean": 0.0, "stderr": 0.0}
    assert out["details"]["nearest_share"] == pytest.approx(list(PROBS), abs=1e-12)
    # With K = 5 the quotas are not integers and with i.i.d. draws not even close: GED > 0.
    five = _run(
        AnnotationSampler.from_split(data.test),
        data,
        **{"ambiguous-segmentation": {"num_samples": 5}},
    )
    assert five["ambiguous-segmentation"]["ged"]["mean"] > 0.01
    iid = AnnotationSampler.from_split(data.test, stratified=False)
    assert _run(iid, data)["ambiguous-segmentation"]["hm_iou"]["mean"] < 1.0


def _hand_scores(d: dict[str, Tensor], n: int) -> tuple[float, float]:
    """GED and HM-IoU of the deterministic small-disk prediction, from pixel counts."""
    small, large, tail, _ = (d["annotations"][n, i].bool() for i in range(4))
    s, lg, t = int(small.sum()), int(large.sum()), int(tail.sum())
    lt_inter, lt_union = int((large & tail).sum()), int((large | tail).sum())
    p_s, p_l, p_t, p_e = PROBS
    d_sl, d_st, d_lt = 1 - s / lg, 1 - s / t, 1 - lt_inter / lt_union  # nested: ∩ is the smaller
    cross = p_l * d_sl + p_t * d_st + p_e * 1.0  # the prediction is the small mask
    yy = 2 * (p_s * p_l * d_sl + p_s * p_t * d_st + p_l * p_t * d_lt)
    yy += 2 * p_e * (p_s + p_l + p_t)  # the empty mask is 1 away from each of the others
    ged = 2 * cross - 0.0 - yy
    # K = 16 copies of the small mask against 6 small, 4 large, 4 tail and 2 empty masks.
    hm = (6 * 1.0 + 4 * s / lg + 4 * s / t + 2 * 0.0) / 16
    return ged, hm


def test_the_majority_vote_gets_the_ged_computed_by_hand() -> None:
    data = _disks(n=6)
    model = VoteModel(data.test)
    # The weighted vote is the small disk: the rest of the disk holds 0.25 + 0.25 = 0.5 only.
    assert torch.equal(model.vote, data.test["annotations"][:, 0])
    out = _run(model, data)
    hand = [_hand_scores(data.test, n) for n in range(6)]
    got = out["ambiguous-segmentation"]
    ged = [g for g, _ in hand]
    assert got["ged"]["mean"] == pytest.approx(np.mean(ged), abs=1e-12)
    assert got["ged"]["stderr"] == pytest.approx(np.std(ged, ddof=1) / math.sqrt(6), abs=1e-12)
    assert got["hm_iou"]["mean"] == pytest.approx(np.mean([h for _, h in hand]), abs=1e-12)
    assert got["sample_diversity"]["mean"] == 0.0
    # Every sample is the small mask, nearest to the small grader alone: TV = 1 - 0.375.
    assert got["frequency_tv"] == {"mean": pytest.approx(1 - PROBS[0], abs=1e-12), "stderr": 0.0}
    assert got["details"]["nearest_share"] == pytest.approx([1.0, 0.0, 0.0, 0.0], abs=1e-12)
    # One example through the plain function, too.
    x0 = data.test["x"][:1]
    single = generalized_energy_distance(
        model.sample(x0, 16)[:, 0], data.test["annotations"][0], data.test["annotation_probs"][0]
    )
    assert single.ged == pytest.approx(hand[0][0], abs=1e-12)
    # Its segmentation scores: the small disk against each image's drawn grader mask.
    seg = out["segmentation"]
    d = data.test
    want = [float(iou(d["annotations"][n, 0], d["y"][n])) for n in range(6)]
    assert seg["iou"]["mean"] == pytest.approx(np.mean(want), abs=1e-12)
    assert seg["iou_single"]["mean"] == seg["iou"]["mean"]
    acc = [float((d["annotations"][n, 0] == d["y"][n]).double().mean()) for n in range(6)]
    assert seg["pixel_accuracy"]["mean"] == pytest.approx(np.mean(acc), abs=1e-12)


def test_frequency_tv_pools_equal_annotations_and_splits_ties() -> None:
    # Four pixels. Annotations: A = {0, 1} twice (probs 0.2 and 0.3) and B = {2, 3} (0.5).
    a, b = torch.tensor([1, 1, 0, 0]).bool(), torch.tensor([0, 0, 1, 1]).bool()
    annotations = torch.stack([a, a, b])[None]  # (1, 3, 4)
    probs = torch.tensor([[0.2, 0.3, 0.5]], dtype=torch.float64)
    # Samples: A; B; {1, 2}, which has IoU 1/3 with both, so it counts half to each.
    samples = torch.stack([a, b, torch.tensor([0, 1, 1, 0]).bool()])[None]  # (1, 3, 4)
    terms = _energy(samples, annotations, probs)
    shares, tv = _nearest_shares(terms["d_sy"], terms["d_yy"], probs)
    assert shares[0].tolist() == pytest.approx([1.5 / 3, 0.0, 1.5 / 3], abs=1e-12)
    assert float(tv[0]) == pytest.approx(0.0, abs=1e-12)  # pooled law: 0.5 and 0.5
    # Three copies of B: shares (0, 0, 1) against the law (0.5, 0, 0.5).
    terms = _energy(b.expand(1, 3, 4), annotations, probs)
    assert float(_nearest_shares(terms["d_sy"], terms["d_yy"], probs)[1][0]) == pytest.approx(0.5)


class _TwoMasks(nn.Module):
    """Samples alternate between a fixed mask and its complement (probabilities 0.9 and 0.1)."""

    def __init__(self, mask: Tensor) -> None:
        super().__init__()
        self.mask = mask  # (B, 1, H, W) in {0, 1}
        self.x_shape = (1, *mask.shape[-2:])
        self.y_shape = self.x_shape

    def sample(self, x: Tensor, num_samples: int, *, mean: bool = False) -> Tensor:
        on = torch.arange(num_samples) % 2 == 0
        p = torch.where(self.mask.bool(), 0.9, 0.1)[: len(x)]
        return torch.where(on[:, None, None, None, None], p, 1 - p)


def test_segmentation_vote_takes_the_majority_and_a_tie_is_background() -> None:
    data = _disks(n=4, size=8)
    y = data.test["y"]
    model = _TwoMasks(y)
    for k, vote in ((3, y), (2, torch.zeros_like(y))):  # 2 of 3 say y; 1 of 2 is a tie
        out = run_metrics(["segmentation"], model, data, {"segmentation": {"num_samples": k}})
        seg = out["segmentation"]
        want = [float(iou(vote[n], y[n])) for n in range(4)]
        assert seg["iou"]["mean"] == pytest.approx(np.mean(want), abs=1e-15)
        assert seg["iou_single"] == {"mean": 1.0, "stderr": 0.0}  # sample 0 is y itself
        assert seg["pixel_accuracy_single"] == {"mean": 1.0, "stderr": 0.0}


def test_sample_masks_is_seeded_and_leaves_the_global_stream_alone() -> None:
    data = _disks(n=5, size=8)
    sampler = AnnotationSampler.from_split(data.test, stratified=False)
    torch.manual_seed(123)
    a = sample_masks(sampler, data.test["x"], 6, seed=4)
    after = torch.rand(3)
    torch.manual_seed(123)
    assert torch.equal(a, sample_masks(sampler, data.test["x"], 6, seed=4))
    assert torch.equal(after, torch.rand(3))
    assert a.dtype == torch.bool and a.shape == (6, 5, 1, 8, 8)
    assert not torch.equal(a, sample_masks(sampler, data.test["x"], 6, seed=5))


def test_metrics_skip_tasks_and_models_they_do_not_suit() -> None:
    data = _disks(n=3, size=8)
    no_law = TaskData(train=data.train, val=data.val, test={k: data.test[k] for k in ("x", "y")})
    out = run_metrics(["ambiguous-segmentation"], AnnotationSampler.from_split(data.test), no_law)
    assert "annotations" in out["ambiguous-segmentation"]["skipped"]
    grey = TaskData(train={}, val={}, test={"x": data.test["x"], "y": data.test["x"]})
    out = run_metrics(["segmentation"], AnnotationSampler.from_split(data.test), grey)
    assert "binary" in out["segmentation"]["skipped"]
    out = run_metrics(["segmentation"], nn.Linear(2, 2), data)
    assert "not a conditional model" in out["segmentation"]["skipped"]
