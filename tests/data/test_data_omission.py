"""Silhouette scenes and omitted input blocks: exact counts, alignment, laws and seeds."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import Tensor

from plausible.data.omission import (
    omission_noise,
    omission_training_transform,
    omit_blocks,
    silhouette_scenes,
)
from plausible.data.quadrants import OmissionNoise


def _items(n: int, size: int = 28, seed: int = 0) -> Tensor:
    """Ellipses of random size and place with a smooth grey gradient inside, some dark pixels
    (0.05, below the 0.1 threshold) inside the ellipse, and zero outside."""
    g = torch.Generator().manual_seed(seed)
    rows = torch.arange(size).view(1, size, 1).double()
    cols = torch.arange(size).view(1, 1, size).double()
    centre = 8 + 12 * torch.rand(n, 2, 1, 1, generator=g, dtype=torch.float64)
    radii = 3 + 5 * torch.rand(n, 2, 1, 1, generator=g, dtype=torch.float64)
    d = ((rows - centre[:, 0]) / radii[:, 0]) ** 2 + ((cols - centre[:, 1]) / radii[:, 1]) ** 2
    inside = d < 1
    grey = 0.3 + 0.6 * (cols / size) * torch.ones_like(d)
    items = torch.where(inside, grey, torch.zeros_like(d))
    items[:, ::5, ::7] = torch.where(inside[:, ::5, ::7], 0.05, 0.0)
    return items.float()


def test_masks_are_binary_and_equal_the_item_support() -> None:
    items = _items(20)
    scene = silhouette_scenes(items, seed=3)
    assert scene["x"].shape == scene["y"].shape == (20, 1, 28, 28)
    assert scene["x"].dtype == scene["y"].dtype == torch.float32
    assert set(scene["y"].unique().tolist()) == {0.0, 1.0}
    assert torch.equal(scene["y"][:, 0], (items > 0.1).float())
    assert float(scene["x"].min()) >= 0.0 and float(scene["x"].max()) <= 1.0


def test_without_pixel_noise_the_foreground_shows_the_item_and_items_move_in_larger_scenes() -> (
    None
):
    items = _items(30)
    scene = silhouette_scenes(items, seed=5, size=40, pixel_noise=0.0)
    y, x = scene["y"][:, 0].bool(), scene["x"][:, 0]
    offsets = set()
    for n in range(30):
        support = items[n] > 0.1
        r0, c0 = (int(i.min()) for i in support.nonzero(as_tuple=True))
        r1, c1 = (int(i.min()) for i in y[n].nonzero(as_tuple=True))
        top, left = r1 - r0, c1 - c0
        assert 0 <= top <= 12 and 0 <= left <= 12
        offsets.add((top, left))
        placed = torch.zeros(40, 40)
        placed[top : top + 28, left : left + 28] = items[n]
        assert torch.equal(y[n], placed > 0.1)
        assert torch.equal(x[n][y[n]], placed[y[n]])
    assert len(offsets) > 10  # positions are drawn, not fixed


def test_pixel_noise_has_the_given_standard_deviation_on_the_foreground() -> None:
    items = _items(200)
    scene = silhouette_scenes(items, seed=1, pixel_noise=0.05)
    fg = scene["y"][:, 0].bool()
    residual = (scene["x"][:, 0] - items)[fg].double()
    n = residual.numel()
    assert abs(float(residual.mean())) < 5 * 0.05 / math.sqrt(n)
    assert abs(float(residual.std()) / 0.05 - 1) < 5 * math.sqrt(1 / (2 * n))


def _kernel(sigma: float) -> np.ndarray:
    r = math.ceil(3 * sigma)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return k / k.sum()


@pytest.mark.parametrize("sigma", [2.0, 1.0, 0.0], ids=str)
def test_background_is_uniform_with_the_correlation_of_the_smoothed_field(sigma: float) -> None:
    """Neighbouring Gaussian values correlate with rho = sum_i k_i k_(i+1) / sum_i k_i^2; after
    the normal CDF (uniform marginals) the Pearson correlation is (6 / pi) asin(rho / 2)."""
    blank = torch.zeros(400, 20, 20)
    x = silhouette_scenes(blank, seed=2, size=20, noise_texture=sigma, pixel_noise=0.0)["x"]
    x = x[:, 0].double().numpy()
    assert stats.kstest(x[:, 7, 11], "uniform").pvalue > 1e-3
    assert stats.kstest(x[:, 0, 19], "uniform").pvalue > 1e-3  # the border is no different
    if sigma > 0:
        k = _kernel(sigma)
        rho = float((k[:-1] * k[1:]).sum() / (k**2).sum())
    else:
        rho = 0.0
    expected = 6 / math.pi * math.asin(rho / 2)
    across = np.corrcoef(x[:, :, :-1].ravel(), x[:, :, 1:].ravel())[0, 1]
    down = np.corrcoef(x[:, :-1, :].ravel(), x[:, 1:, :].ravel())[0, 1]
    assert abs(across - expected) < 0.03 and abs(down - expected) < 0.03


def test_scenes_are_reproduced_by_their_seed() -> None:
    items = _items(5)
    a, b = silhouette_scenes(items, seed=4), silhouette_scenes(items, seed=4)
    assert torch.equal(a["x"], b["x"]) and torch.equal(a["y"], b["y"])
    assert not torch.equal(a["x"], silhouette_scenes(items, seed=5)["x"])


def test_scene_errors_say_what_to_change() -> None:
    with pytest.raises(ValueError, match=r"grey images \(N, h, w\)"):
        silhouette_scenes(torch.zeros(2, 1, 28, 28), seed=0)
    with pytest.raises(ValueError, match="choose size >= 28"):
        silhouette_scenes(torch.zeros(2, 28, 28), seed=0, size=20)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        silhouette_scenes(torch.full((2, 28, 28), 255.0), seed=0)


@pytest.mark.parametrize(
    ("fraction", "block"), list(itertools.product([0.25, 0.5, 0.7], [1, 2, 4])), ids=str
)
def test_exactly_the_fraction_of_aligned_blocks_is_omitted(fraction: float, block: int) -> None:
    x = torch.rand(6, 1, 28, 28) + 0.5  # no pixel is 0 by itself
    out = omit_blocks(x, fraction=fraction, block=block, generator=torch.Generator().manual_seed(0))
    assert out.shape == (6, 2, 28, 28)
    observed = out[:, 1]
    assert set(observed.unique().tolist()) <= {0.0, 1.0}
    g = 28 // block
    cells = observed.reshape(6, g, block, g, block)
    # Every block x block square of the grid is observed or omitted as a whole.
    assert torch.equal(cells.amax(dim=(2, 4)), cells.amin(dim=(2, 4)))
    omitted = (1 - cells.amax(dim=(2, 4))).sum(dim=(1, 2))
    assert (omitted == round(fraction * g * g)).all()
    assert ((1 - observed).sum(dim=(1, 2)) == round(fraction * g * g) * block**2).all()
    # The image channel is the input where observed and exactly 0 where omitted.
    torch.testing.assert_close(out[:, 0], x[:, 0] * observed, rtol=0, atol=0)
    assert not torch.equal(observed[0], observed[1])  # squares are drawn per image


def test_border_squares_are_cut_short_and_count_as_squares() -> None:
    """10 x 7 pixels in blocks of 4: a 3 x 2 grid whose last row is 2 pixels high and whose last
    column is 3 pixels wide; fraction 0.5 omits exactly 3 of the 6 squares."""
    x = torch.rand(50, 3, 10, 7) + 0.5
    out = omit_blocks(x, fraction=0.5, block=4, generator=torch.Generator().manual_seed(1))
    assert out.shape == (50, 4, 10, 7)
    observed = out[:, 3]
    cell = (torch.arange(10)[:, None] // 4) * 2 + torch.arange(7)[None, :] // 4
    for n in range(50):
        per_cell = [observed[n][cell == c] for c in range(6)]
        assert all(bool((v == v[0]).all()) for v in per_cell)
        assert sum(float(v[0]) == 0.0 for v in per_cell) == 3
    # Every channel is zeroed where the indicator says so.
    torch.testing.assert_close(out[:, :3], x * observed[:, None], rtol=0, atol=0)
    # Border squares are omitted too (the bottom-right 2 x 3 square is cell 5).
    assert bool((observed[:, 9, 6] == 0).any())


def test_omitted_squares_are_a_uniform_subset() -> None:
    """A 4 x 4 image in blocks of 2 has 4 squares; half omitted: each of the C(4, 2) = 6 subsets
    has probability 1 / 6 (chi-square)."""
    n = 6000
    out = omit_blocks(
        torch.ones(n, 1, 4, 4), fraction=0.5, block=2, generator=torch.Generator().manual_seed(2)
    )
    omitted = (out[:, 1, ::2, ::2] == 0).reshape(n, 4)
    codes = (omitted.long() * (2 ** torch.arange(4))).sum(1)
    counts = torch.bincount(codes, minlength=16)
    subsets = [(1 << a) + (1 << b) for a, b in itertools.combinations(range(4), 2)]
    assert int(counts[subsets].sum()) == n
    assert stats.chisquare(counts[subsets].numpy(), [n / 6] * 6).pvalue > 1e-3


def test_omission_is_reproduced_by_the_generator_and_zero_fraction_keeps_everything() -> None:
    x = torch.rand(4, 1, 12, 12)
    a = omit_blocks(x, fraction=0.5, block=2, generator=torch.Generator().manual_seed(9))
    b = omit_blocks(x, fraction=0.5, block=2, generator=torch.Generator().manual_seed(9))
    c = omit_blocks(x, fraction=0.5, block=2, generator=torch.Generator().manual_seed(10))
    assert torch.equal(a, b) and not torch.equal(a, c)
    whole = omit_blocks(x, fraction=0.0, block=3)
    assert torch.equal(whole, torch.cat([x, torch.ones_like(x)], dim=1))


def test_omission_errors_say_what_to_change() -> None:
    x = torch.rand(2, 1, 8, 8)
    for fraction in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\)"):
            omit_blocks(x, fraction=fraction, block=2)
    for block in (0, 9, 2.5, True):
        with pytest.raises(ValueError, match=r"from 1 to min\(H, W\) = 8"):
            omit_blocks(x, fraction=0.5, block=block)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"images \(N, C, H, W\)"):
        omit_blocks(x[0], fraction=0.5, block=2)
    with pytest.raises(ValueError, match=r"max_fraction must be in \[0, 1\]"):
        omission_noise(x, max_fraction=1.2)
    with pytest.raises(KeyError, match="store the clean images under 'image'"):
        omission_training_transform({"x": x}, torch.Generator())


def test_training_noise_omits_one_square_of_uniform_side_up_to_the_limit() -> None:
    n, size = 3000, 20
    x = torch.rand(n, 1, size, size) + 0.5
    out = omission_noise(x, generator=torch.Generator().manual_seed(4))
    observed = out[:, 1]
    torch.testing.assert_close(out[:, 0], x[:, 0] * observed, rtol=0, atol=0)
    hidden = observed == 0
    rows, cols = hidden.any(2), hidden.any(1)  # (n, size): rows / columns the square spans
    side = rows.sum(1)
    assert torch.equal(cols.sum(1), side)
    # All of the spanned rows x columns are hidden, and they are contiguous: one full square.
    assert torch.equal(hidden.sum((1, 2)), side * side)
    first = torch.where(side > 0, rows.float().argmax(1), 0)
    last = torch.where(side > 0, size - 1 - rows.flip(1).float().argmax(1), -1)
    assert torch.equal(last - first + 1, side)
    first = torch.where(side > 0, cols.float().argmax(1), 0)
    last = torch.where(side > 0, size - 1 - cols.flip(1).float().argmax(1), -1)
    assert torch.equal(last - first + 1, side)
    sides = side.numpy()
    max_side = math.floor(0.4 * size)  # 8 pixels
    counts = np.bincount(sides, minlength=max_side + 1)
    assert len(counts) == max_side + 1
    assert stats.chisquare(counts, [n / (max_side + 1)] * (max_side + 1)).pvalue > 1e-3


def test_training_noise_is_the_square_of_the_quadrant_noise_on_image_and_indicator() -> None:
    """The same law and the same draws as OmissionNoise(fill=0) applied to [image, ones]."""
    image = torch.rand(64, 1, 28, 28)
    ours = omission_noise(image, max_fraction=0.4, generator=torch.Generator().manual_seed(6))
    batch = {"x": torch.cat([image, torch.ones_like(image)], dim=1)}
    theirs = OmissionNoise(0.4, key="x", fill=0.0)(batch, torch.Generator().manual_seed(6))["x"]
    assert torch.equal(ours, theirs)


def test_training_transform_writes_x_and_keeps_the_rest() -> None:
    image = torch.rand(8, 1, 16, 16)
    y = (torch.rand(8, 1, 16, 16) > 0.5).float()
    batch = {"image": image, "y": y}
    out = omission_training_transform(batch, torch.Generator().manual_seed(3))
    assert out["image"] is image and out["y"] is y and "x" not in batch
    expected = omission_noise(image, generator=torch.Generator().manual_seed(3))
    assert torch.equal(out["x"], expected)
    assert out["x"].shape == (8, 2, 16, 16)
