"""Tests for plausible.viz.images: the mosaic builder (exact pixels) and the image figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch

from plausible.viz import image_grid, labelled_rows, mosaic, reconstruction_figure


def assert_png(path: Path, *, min_side: int = 50) -> np.ndarray:
    """The file is a readable PNG of a sensible size that is not one flat colour."""
    assert path.is_file()
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert min(image.shape[:2]) >= min_side
    assert max(image.shape[:2]) <= 4000
    assert float(image[..., :3].std()) > 0.01
    leftovers = [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []  # atomic write left no temp file behind
    return image


def test_mosaic_places_each_image_exactly() -> None:
    n, h, w = 5, 2, 3
    images = np.stack([np.full((1, h, w), (k + 1) / 10) for k in range(n)])
    images[:, 0, 0, 0] = 0.0  # mark the top-left pixel of every image to check orientation
    grid = mosaic(images, nrow=3, pad=1)
    assert grid.shape == (2 * h + 1, 3 * w + 2, 1)
    for k in range(n):
        top, left = (k // 3) * (h + 1), (k % 3) * (w + 1)
        block = grid[top : top + h, left : left + w, 0]
        expected = np.full((h, w), (k + 1) / 10, dtype=np.float32)
        expected[0, 0] = 0.0
        np.testing.assert_array_equal(block, expected)
    np.testing.assert_array_equal(grid[h, :, 0], 1.0)  # horizontal separator
    np.testing.assert_array_equal(grid[:, w, 0], 1.0)  # vertical separators
    np.testing.assert_array_equal(grid[:, 2 * w + 1, 0], 1.0)
    np.testing.assert_array_equal(grid[h + 1 :, 2 * (w + 1) :, 0], 1.0)  # blank last cell


def test_mosaic_default_is_square_and_pad_zero_tiles_exactly() -> None:
    images = torch.arange(9 * 4, dtype=torch.float32).reshape(9, 1, 2, 2) / 36
    grid = mosaic(images, pad=0)
    assert grid.shape == (6, 6, 1)
    expected = images.reshape(3, 3, 2, 2).permute(0, 2, 1, 3).reshape(6, 6).numpy()
    np.testing.assert_allclose(grid[..., 0], expected)


@pytest.mark.parametrize(
    ("shape", "image_shape", "channels"),
    [
        ((4, 3, 5, 6), None, 3),  # (N, C, H, W) RGB
        ((4, 5, 6, 3), None, 3),  # channels-last
        ((4, 5, 6), None, 1),  # (N, H, W)
        ((4, 30), (1, 5, 6), 1),  # flat with image_shape
        ((4, 36), None, 1),  # flat square, inferred
        ((4, 75), None, 3),  # flat square RGB, inferred
    ],
    ids=str,
)
def test_mosaic_accepts_layouts(
    shape: tuple[int, ...], image_shape: tuple[int, ...] | None, channels: int
) -> None:
    grid = mosaic(torch.rand(shape), nrow=2, pad=1, image_shape=image_shape)
    assert grid.ndim == 3 and grid.shape[2] == channels
    assert grid.min() >= 0.0 and grid.max() <= 1.0


def test_mosaic_scales_uint8_and_clips_floats() -> None:
    grid = mosaic(np.full((1, 1, 2, 2), 255, dtype=np.uint8))
    np.testing.assert_array_equal(grid, 1.0)
    grid = mosaic(np.array([[[[-1.0, 2.0], [np.nan, 0.5]]]]))
    np.testing.assert_array_equal(grid[..., 0], [[0.0, 1.0], [0.0, 0.5]])


def test_flat_images_without_shape_teach() -> None:
    with pytest.raises(ValueError, match="image_shape"):
        mosaic(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="needs 12"):
        mosaic(np.zeros((2, 10)), image_shape=(3, 2, 2))


def test_image_grid_writes_png(tmp_path: Path) -> None:
    images = torch.rand(10, 1, 8, 8, requires_grad=True)
    out = image_grid(images, tmp_path / "sub" / "grid.png", title="Samples")
    assert out == tmp_path / "sub" / "grid.png"
    assert_png(out)


def test_image_grid_rgb_flat(tmp_path: Path) -> None:
    out = image_grid(np.random.rand(7, 3 * 6 * 4), tmp_path / "rgb.png", image_shape=(3, 6, 4))
    assert_png(out)


def test_reconstruction_figure(tmp_path: Path) -> None:
    x = torch.rand(12, 1, 8, 8)
    out = reconstruction_figure(x, x.flip(-1).reshape(12, 64), tmp_path / "recon.png")
    assert_png(out)
    with pytest.raises(ValueError, match="as many reconstructions"):
        reconstruction_figure(x, x[:3], tmp_path / "bad.png")


def test_labelled_rows_ragged_and_mixed_channels(tmp_path: Path) -> None:
    rows = [torch.rand(1, 1, 8, 8), torch.rand(5, 3, 8, 8), np.random.rand(3, 8, 8)]
    out = labelled_rows(
        rows,
        ["input", "samples", "baseline"],
        tmp_path / "rows.png",
        title="Hypotheses",
        column_labels=["input", "truth", "s1", "s2", "a long column label"],
    )
    assert_png(out)


def test_labelled_rows_checks_labels(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one label per row"):
        labelled_rows([torch.rand(2, 1, 4, 4)], ["a", "b"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="column labels"):
        labelled_rows([torch.rand(2, 1, 4, 4)], ["a"], tmp_path / "x.png", column_labels="abc")
    with pytest.raises(ValueError, match="share"):
        labelled_rows(
            [torch.rand(2, 1, 4, 4), torch.rand(1, 1, 5, 5)], ["a", "b"], tmp_path / "y.png"
        )


def test_viz_never_touches_pyplot(tmp_path: Path) -> None:
    code = (
        "import sys, matplotlib, numpy as np\n"
        "matplotlib.use('svg')\n"
        "from plausible.viz import image_grid\n"
        f"image_grid(np.random.rand(4, 1, 8, 8), {str(tmp_path / 'g.png')!r})\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
        "assert matplotlib.rcParams['font.size'] == matplotlib.rcParamsDefault['font.size']\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert_png(tmp_path / "g.png")
