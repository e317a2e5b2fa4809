"""The dense tasks: splits, the per-batch transforms and the inputs with omitted blocks."""

from __future__ import annotations

import math

import torch

from plausible.registry import TASKS
from plausible.tasks.dense import AnnotatedShapes, DepthSaliency, PartialSilhouettes


def test_annotated_shapes_redraws_each_target_from_its_graders_law() -> None:
    task = AnnotatedShapes(num_train=200, num_val=10, num_test=10, seed=3)
    data = task.load()
    train = data.train
    assert set(train) == {"x", "y", "annotations", "annotation_probs"}
    transform = task.batch_transform()
    assert transform is not None
    annotations = train["annotations"]
    distinct = ~(annotations[:, :, None] == annotations[:, None]).flatten(3).all(-1)
    assert bool((distinct | torch.eye(4, dtype=torch.bool)).all()), "four different masks"
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(4)
    for _ in range(20):
        y = transform(dict(train), g)["y"]
        same = (y[:, None] == annotations).flatten(2).all(-1)  # (N, A): which grader was drawn
        assert bool((same.sum(1) == 1).all()), "each target is exactly one grader's mask"
        counts += same.float().sum(0)
    freq = counts / counts.sum()
    probs = train["annotation_probs"][0]
    # 4,000 draws: each frequency within 4 binomial standard errors of its probability.
    se = (probs * (1 - probs) / 4000).sqrt()
    assert bool(((freq - probs).abs() < 4 * se).all()), (freq, probs)


def test_partial_silhouettes_omit_the_stated_share_of_blocks_and_train_on_fresh_squares() -> None:
    task = PartialSilhouettes(
        dataset="digits", num_train=40, num_val=10, num_test=20, test_fraction=0.7, test_block=4
    )
    data = task.load()
    x, y = data.test["x"], data.test["y"]
    assert x.shape[1] == 2 and y.shape[1] == 1
    observed = x[:, 1]
    # 28 / 4 = 7 blocks a side, 49 in all, round(0.7 * 49) = 34 omitted in every image.
    blocks = observed.unflatten(-1, (7, 4)).unflatten(-3, (7, 4))  # (N, 7, 4, 7, 4)
    per_block = blocks.amax(dim=(2, 4))  # 1 where the block is observed
    assert bool((blocks.amin(dim=(2, 4)) == per_block).all()), "blocks are omitted whole"
    assert bool(((1 - per_block).flatten(1).sum(1) == round(0.7 * 49)).all())
    assert bool((x[:, 0][observed == 0] == 0).all())
    # Training inputs start observed everywhere; the transform hides one square of both channels.
    train = data.train
    assert bool((train["x"][:, 1] == 1).all())
    transform = task.batch_transform()
    assert transform is not None
    noisy = transform(dict(train), torch.Generator().manual_seed(1))["x"]
    hidden = noisy[:, 1] == 0
    assert bool((noisy[:, 0][hidden] == 0).all())
    sides = hidden.flatten(1).sum(1).double().sqrt()
    assert bool((sides == sides.round()).all()), "each hidden region is one square"
    assert float(sides.max()) <= math.floor(0.4 * 28)
    assert bool(torch.equal(noisy[:, 0][~hidden], train["x"][:, 0][~hidden]))


def test_depth_saliency_task_reads_items_and_keeps_the_salient_mask_as_test_y() -> None:
    task = DepthSaliency(dataset="digits", num_train=20, num_val=5, num_test=6, seed=1)
    data = task.load()
    x, y = data.test["x"], data.test["y"]
    assert x.shape[1:] == (4, 32, 32) and y.shape[1:] == (1, 32, 32)
    depth = x[:, 3:]
    # The salient object is the nearest one: every mask pixel has the image's smallest depth.
    for i in range(len(x)):
        inside = depth[i][y[i] > 0]
        assert float(inside.max()) == float(depth[i].min())


def test_the_dense_tasks_are_registered() -> None:
    for name in ("annotated-shapes", "rgbd-saliency", "partial-silhouettes"):
        assert name in TASKS.names()
