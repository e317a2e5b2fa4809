"""The RGB-D saliency set: silhouettes and depths against numpy, annotator flips against the
binomial law, seeds, and the errors for bad arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from plausible.data.saliency import (
    BACKGROUND_DEPTH,
    OBJECT_DEPTH,
    SILHOUETTE_THRESHOLD,
    jitter_masks,
    make_depth_saliency,
    resize_items,
)


def _blobs(num: int = 6, seed: int = 0) -> torch.Tensor:
    """``(num, 28, 28)`` synthetic items: a bright ellipse with a textured fill on black."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    out = np.zeros((num, 28, 28))
    for i in range(num):
        cy, cx = rng.uniform(10, 18, 2)
        ry, rx = rng.uniform(5, 12, 2)
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        out[i][inside] = rng.uniform(0.3, 1.0, int(inside.sum()))
    return torch.tensor(out, dtype=torch.float32)


ITEMS = _blobs()


def _np_jitter(mask: np.ndarray, step: int) -> np.ndarray:
    """Max (dilation) or min (erosion) over the in-image 3 x 3 neighbours, by loops."""
    if step == 0:
        return mask.copy()
    h, w = mask.shape
    out = np.zeros_like(mask)
    for r in range(h):
        for c in range(w):
            window = mask[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2]
            out[r, c] = window.max() if step > 0 else window.min()
    if step < 0 and out.sum() == 0:
        return mask.copy()
    return out


def _scipy_jitter(mask: np.ndarray, step: int) -> np.ndarray:
    """The same jitter with scipy's binary morphology (outside the image: no erosion)."""
    square = np.ones((3, 3), dtype=bool)
    if step > 0:
        out = ndimage.binary_dilation(mask, square, border_value=0)
    elif step < 0:
        out = ndimage.binary_erosion(mask, square, border_value=1)
        out = out if out.any() else mask
    else:
        out = mask
    return np.asarray(out, dtype=np.float32)


def _object_supports(depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest and second-nearest object supports read from the depth channel alone."""
    levels = np.unique(depth[depth < BACKGROUND_DEPTH[0]])
    return depth == levels[0], depth == levels[1]


# -- helpers -----------------------------------------------------------------------------------
def test_resize_items_is_the_average_pool() -> None:
    items = torch.rand(3, 28, 28, generator=torch.Generator().manual_seed(1))
    arr = items.numpy().astype(np.float64)
    for side, block in ((14, 2), (7, 4)):
        want = arr.reshape(3, side, block, side, block).mean((2, 4))
        np.testing.assert_allclose(resize_items(items, side).numpy(), want, atol=1e-6)


def _np_bilinear_axis(values: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Linear interpolation along one axis at half-pixel centres, edges clamped."""
    n = values.shape[axis]
    out = []
    for i in range(size):
        src = min(max((i + 0.5) * n / size - 0.5, 0.0), n - 1)
        lo = int(np.floor(src))
        hi = min(lo + 1, n - 1)
        t = src - lo
        out.append((1 - t) * np.take(values, lo, axis) + t * np.take(values, hi, axis))
    return np.stack(out, axis)


def test_resize_items_enlarges_small_items_bilinearly() -> None:
    items = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(3))
    want = _np_bilinear_axis(_np_bilinear_axis(items.numpy().astype(np.float64), 14, 1), 14, 2)
    np.testing.assert_allclose(resize_items(items, 14).numpy(), want, atol=1e-6)


def test_small_items_make_a_set() -> None:
    """8 x 8 items (digits-like) are enlarged to the object size; y is their silhouette."""
    items = torch.zeros(3, 8, 8)
    items[:, 2:6, 1:7] = 1.0
    data = make_depth_saliency(items, 5, seed=0)
    want = resize_items(items, 14)[0] > SILHOUETTE_THRESHOLD
    for n in range(5):
        r, c = data["corners"][n, 0].tolist()
        assert torch.equal(data["y"][n, 0, r : r + 14, c : c + 14].bool(), want)
        assert int(data["y"][n].sum()) == int(want.sum())


def test_jitter_masks_match_loops() -> None:
    rng = np.random.default_rng(2)
    masks = (rng.random((3, 4, 9, 11)) < 0.4).astype(np.float32)
    masks[0, 0] = 0.0
    masks[0, 0, 4, 5] = 1.0  # a single pixel: erosion would empty it, so it stays
    jitter = torch.tensor(rng.integers(-1, 2, (3, 4)))
    jitter[0, 0] = -1
    got = jitter_masks(torch.tensor(masks), jitter).numpy()
    for i in range(3):
        for j in range(4):
            step = int(jitter[i, j])
            np.testing.assert_array_equal(got[i, j], _np_jitter(masks[i, j], step))
            np.testing.assert_array_equal(got[i, j], _scipy_jitter(masks[i, j] > 0, step))
    assert got[0, 0].sum() == 1


def test_jitter_masks_rejects_bad_steps() -> None:
    with pytest.raises(ValueError, match="-1, 0 or 1"):
        jitter_masks(torch.zeros(2, 5, 5), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="-1, 0 or 1"):
        jitter_masks(torch.zeros(2, 5, 5), torch.tensor([0]))


# -- the data ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data() -> dict[str, torch.Tensor]:
    return make_depth_saliency(ITEMS, 300, seed=5, num_annotators=4, flip=0.3)


def test_shapes_ranges_and_binary_masks(data: dict[str, torch.Tensor]) -> None:
    n, a, s = 300, 4, 32
    assert data["x"].shape == (n, 4, s, s) and data["x"].dtype == torch.float32
    assert data["y"].shape == (n, 1, s, s)
    assert data["annotations"].shape == (n, a, 1, s, s)
    assert float(data["x"].min()) >= 0.0 and float(data["x"].max()) <= 1.0
    for key in ("y", "annotations"):
        values = data[key]
        assert bool(((values == 0) | (values == 1)).all()) and 0 < float(values.mean()) < 1
    torch.testing.assert_close(data["annotation_probs"], torch.full((n, a), 0.25))
    torch.testing.assert_close(data["annotation_probs"].sum(1), torch.ones(n))
    assert data["y"].flatten(1).sum(1).min() > 0  # every example has a salient object


def test_salient_mask_is_the_nearest_objects_silhouette(data: dict[str, torch.Tensor]) -> None:
    x, y = data["x"].numpy(), data["y"][:, 0].numpy()
    small = ITEMS.numpy().astype(np.float64).reshape(-1, 14, 2, 14, 2).mean((2, 4))
    for n in range(len(x)):
        depth = x[n, 3]
        objects = depth < BACKGROUND_DEPTH[0]
        # Depth disambiguates: the mask is exactly where the depth takes its minimum.
        np.testing.assert_array_equal(y[n] == 1, depth == depth.min())
        assert depth[y[n] == 1].max() < depth[objects & (y[n] == 0)].min(initial=2.0)
        # ... and it is the chosen item's silhouette, pasted at its corner.
        want = np.zeros((32, 32), dtype=bool)
        r, c = data["corners"][n, 0].tolist()
        want[r : r + 14, c : c + 14] = small[int(data["items"][n, 0])] > SILHOUETTE_THRESHOLD
        np.testing.assert_array_equal(y[n] == 1, want)
        # Every object lies at its own constant depth, nearest first, inside the object band.
        d = data["depths"][n].numpy()
        assert np.all(np.diff(d) > 0) and OBJECT_DEPTH[0] <= d[0] and d[-1] <= OBJECT_DEPTH[1]
        np.testing.assert_allclose(np.unique(depth[objects]), d, rtol=1e-6)


def test_objects_do_not_overlap(data: dict[str, torch.Tensor]) -> None:
    corners = data["corners"].numpy()
    for n in range(len(corners)):
        (r0, c0), (r1, c1) = corners[n]
        assert abs(r0 - r1) >= 14 or abs(c0 - c1) >= 14
        assert corners[n].min() >= 0 and corners[n].max() <= 32 - 14


def test_background_depth_is_a_far_plane(data: dict[str, torch.Tensor]) -> None:
    yy, xx = np.mgrid[0:32, 0:32]
    for n in range(0, 300, 37):
        depth = data["x"][n, 3].numpy().astype(np.float64)
        far = depth >= BACKGROUND_DEPTH[0] - 1e-6
        assert depth[far].max() <= BACKGROUND_DEPTH[1] + 1e-6
        design = np.stack([np.ones(far.sum()), xx[far], yy[far]], 1)
        coef, *_ = np.linalg.lstsq(design, depth[far], rcond=None)
        np.testing.assert_allclose(design @ coef, depth[far], atol=1e-5)


def test_colour_alone_does_not_tell_the_salient_object(data: dict[str, torch.Tensor]) -> None:
    """Mean RGB of the nearest vs the second object: no systematic difference in any channel."""
    x = data["x"].numpy()
    diffs = []
    for n in range(len(x)):
        near, second = _object_supports(x[n, 3])
        diffs.append(x[n, :3, near].mean(0) - x[n, :3, second].mean(0))
    diffs = np.asarray(diffs)
    se = diffs.std(0, ddof=1) / math.sqrt(len(diffs))
    assert np.all(np.abs(diffs.mean(0)) < 4 * se)


def test_annotators_mark_the_nearest_or_flip_to_the_second(
    data: dict[str, torch.Tensor],
) -> None:
    x, ann = data["x"].numpy(), data["annotations"][:, :, 0].numpy()
    flips = 0
    for n in range(len(x)):
        near, second = _object_supports(x[n, 3])
        for a in range(ann.shape[1]):
            # Read the flip off the picture: the annotation covers more of one object.
            flipped = (ann[n, a] * second).sum() > (ann[n, a] * near).sum()
            assert flipped == bool(data["flipped"][n, a])
            target = second if flipped else near
            step = int(data["jitter"][n, a])
            np.testing.assert_array_equal(ann[n, a], _scipy_jitter(target, step))
            flips += flipped
    trials, p = ann.shape[0] * ann.shape[1], 0.3
    assert abs(flips - trials * p) <= 4 * math.sqrt(trials * p * (1 - p))
    counts = np.bincount(data["jitter"].flatten().numpy() + 1, minlength=3)
    assert np.all(np.abs(counts - trials / 3) <= 4 * math.sqrt(trials * (1 / 3) * (2 / 3)))


def test_flip_extremes() -> None:
    never = make_depth_saliency(ITEMS, 20, seed=1, flip=0.0)
    always = make_depth_saliency(ITEMS, 20, seed=1, flip=1.0)
    assert not never["flipped"].any() and always["flipped"].all()
    # Same seed: only the marked object changes, so x and y agree.
    torch.testing.assert_close(never["x"], always["x"])
    torch.testing.assert_close(never["y"], always["y"])
    overlap = (always["annotations"][:, :, 0] * always["y"]).flatten(2).sum(-1)
    assert overlap.max() < (always["annotations"].flatten(2).sum(-1)).min()


def test_seeds_reproduce() -> None:
    first = make_depth_saliency(ITEMS, 8, seed=3)
    again = make_depth_saliency(ITEMS, 8, seed=3)
    other = make_depth_saliency(ITEMS, 8, seed=4)
    assert first.keys() == again.keys()
    for key in first:
        assert torch.equal(first[key], again[key]), key
    assert not torch.equal(first["x"], other["x"])


def test_crowded_images_fall_back_to_distinct_grid_cells() -> None:
    data = make_depth_saliency(ITEMS, 10, size=28, num_objects=4, seed=2)
    for n in range(10):
        cells = sorted(map(tuple, data["corners"][n].tolist()))
        assert cells == [(0, 0), (0, 14), (14, 0), (14, 14)]
        depth = data["x"][n, 3].numpy()
        assert len(np.unique(depth[depth < BACKGROUND_DEPTH[0]])) == 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"items": torch.rand(28, 28)}, "items must be a"),
        ({"items": ITEMS * 2}, r"\[0, 1\]"),
        ({"items": (ITEMS * 255).to(torch.uint8)}, "floating-point"),
        ({"items": torch.cat([ITEMS, torch.zeros(1, 28, 28)])}, r"indices \[6\]"),
        ({"num_examples": 0}, "num_examples"),
        ({"num_objects": 1}, "num_objects"),
        ({"size": 20}, "cannot hold 2"),
        ({"size": 27, "num_objects": 4}, "cannot hold 4"),
        ({"object_size": 2.5}, "object_size"),
        ({"flip": 1.5}, "flip"),
        ({"num_annotators": 0}, "num_annotators"),
    ],
    ids=str,
)
def test_errors(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"items": ITEMS, "num_examples": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_depth_saliency(**args)  # type: ignore[arg-type]
