"""The dSprites-style generator: the published factor grid, and shapes of known area and pose."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from plausible.data import dsprites
from plausible.data.dsprites import (
    FACTOR_SIZES,
    NUM_IMAGES,
    DSprites,
    classes_to_index,
    factor_values,
    index_to_classes,
    render,
    sample_factors,
)


def _one(
    shape: int, scale: int = 5, orientation: int = 0, pos_x: int = 16, pos_y: int = 16
) -> torch.Tensor:
    return torch.tensor([[shape, scale, orientation, pos_x, pos_y]])


def test_grid_has_the_published_size_and_order() -> None:
    assert NUM_IMAGES == 737_280 == 3 * 6 * 40 * 32 * 32
    # The released file varies pos_y fastest, then pos_x, orientation, scale, shape.
    first = index_to_classes(torch.tensor([0, 1, 32, 32 * 32, 40 * 32 * 32, NUM_IMAGES - 1]))
    assert first.tolist() == [
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 1],
        [0, 0, 0, 1, 0],
        [0, 0, 1, 0, 0],
        [0, 1, 0, 0, 0],
        [s - 1 for s in FACTOR_SIZES],
    ]
    index = torch.randint(NUM_IMAGES, (1000,))
    assert torch.equal(classes_to_index(index_to_classes(index)), index)


def test_factor_values_are_the_published_ones() -> None:
    classes = torch.tensor([[0, 0, 0, 0, 0], [2, 5, 39, 31, 31], [1, 2, 13, 10, 20]])
    values = factor_values(classes)
    assert values[:, 0].tolist() == [1.0, 3.0, 2.0]  # shapes 1..3
    assert values[0, 1:].tolist() == [0.5, 0.0, 0.0, 0.0]
    assert values[1, 1:].tolist() == pytest.approx(
        [1.0, 2 * math.pi, 1.0, 1.0]
    )  # both ends included
    assert values[2, 1:].tolist() == pytest.approx([0.7, 13 * 2 * math.pi / 39, 10 / 31, 20 / 31])


def test_images_are_binary_non_empty_and_inside_the_frame() -> None:
    corners = [(px, py) for px in (0, 31) for py in (0, 31)]
    classes = torch.tensor(
        [[s, 5, o, px, py] for s in range(3) for o in range(0, 40, 3) for px, py in corners]
    )
    x = render(classes)
    assert x.shape == (len(classes), 1, 64, 64)
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    assert (x.sum((1, 2, 3)) > 20).all()
    border = torch.cat([x[..., 0, :], x[..., -1, :], x[..., :, 0], x[..., :, -1]], -1)
    assert border.sum() == 0


def _heart_area() -> float:
    """Area of (x^2 + y^2 - 1)^3 <= x^2 y^3 by a fine grid (independent of the rasteriser)."""
    grid = np.linspace(-1.5, 1.5, 3001)
    x, y = np.meshgrid(grid, grid)
    inside = (x**2 + y**2 - 1) ** 3 - x**2 * y**3 <= 0
    return float(inside.mean() * 9.0)


@pytest.mark.parametrize(
    ("shape", "area"),
    [(0, 200.0), (1, math.pi * 10 * 5), (2, _heart_area() * (10 / 1.34) ** 2)],
    ids=["square", "ellipse", "heart"],
)
@pytest.mark.parametrize("orientation", [0, 7, 20], ids=str)
def test_shape_areas_match_their_geometry(shape: int, area: float, orientation: int) -> None:
    # At scale 1 a square of side 10 sqrt(2), an ellipse of semi-axes 10 and 5, and the heart curve
    # scaled by 10 / 1.34 pixels; pixel counts match the areas to within the boundary's rounding.
    x = render(_one(shape, scale=5, orientation=orientation))
    assert float(x.sum()) == pytest.approx(area, rel=0.03)


def test_area_scales_with_the_square_of_scale() -> None:
    areas = [float(render(_one(1, scale=s)).sum()) for s in range(6)]
    scales = [0.5 + 0.1 * s for s in range(6)]
    for a, s in zip(areas, scales, strict=True):
        assert a == pytest.approx(areas[-1] * s**2, rel=0.08)


@pytest.mark.parametrize("orientation", [0, 4, 10, 16, 25], ids=str)
def test_orientation_turns_the_ellipse_counter_clockwise(orientation: int) -> None:
    x = render(_one(1, orientation=orientation))[0, 0]
    rows, cols = x.nonzero(as_tuple=True)
    pts = torch.stack([cols.double(), -rows.double()])  # y up
    cov = torch.cov(pts)
    _, vectors = torch.linalg.eigh(cov)
    major = vectors[:, -1]
    angle = math.atan2(float(major[1]), float(major[0])) % math.pi
    expected = (orientation * 2 * math.pi / 39) % math.pi
    diff = min(abs(angle - expected), math.pi - abs(angle - expected))
    assert diff < math.radians(3)


@pytest.mark.parametrize(("pos_x", "pos_y"), [(0, 0), (31, 5), (12, 31), (16, 16)], ids=str)
def test_centroid_follows_the_position_factors(pos_x: int, pos_y: int) -> None:
    x = render(_one(0, pos_x=pos_x, pos_y=pos_y))[0, 0]
    rows, cols = x.nonzero(as_tuple=True)
    # Pixel (r, c) covers [c, c + 1) x [r, r + 1): its centre is at c + 0.5.
    assert float(cols.double().mean() + 0.5) == pytest.approx(11 + 42 * pos_x / 31, abs=0.3)
    assert float(rows.double().mean() + 0.5) == pytest.approx(11 + 42 * pos_y / 31, abs=0.3)


def test_orientation_grid_ends_are_the_same_angle() -> None:
    classes = torch.tensor([[s, 3, o, 9, 22] for s in range(3) for o in (0, 39)])
    x = render(classes)
    assert torch.equal(x[0::2], x[1::2])


def _reference_render(classes: torch.Tensor, ss: int = 3) -> torch.Tensor:
    """Every sub-pixel of the full frame tested, no windows: slow but obviously complete."""
    values = factor_values(classes).float()
    grid = (torch.arange(64 * ss, dtype=torch.float32) + 0.5) / ss
    rows, cols = torch.meshgrid(grid, grid, indexing="ij")
    out = []
    for c, v in zip(classes, values, strict=True):
        dx = cols - (11 + 42 * v[3])
        dy = (11 + 42 * v[4]) - rows
        cos, sin = torch.cos(v[2]), torch.sin(v[2])
        inside = dsprites._inside(
            int(c[0]), cos * dx + sin * dy, -sin * dx + cos * dy, v[1]
        ).float()
        out.append((inside.view(64, ss, 64, ss).mean((1, 3)) >= 0.5).float())
    return torch.stack(out)[:, None]


def test_windowed_rendering_equals_the_full_frame_reference() -> None:
    classes = sample_factors(60, torch.Generator().manual_seed(3))
    assert torch.equal(render(classes, chunk=16), _reference_render(classes))


def test_factors_are_seeded_and_cover_the_grid() -> None:
    a = sample_factors(5000, torch.Generator().manual_seed(1))
    b = sample_factors(5000, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert a.min(0).values.tolist() == [0] * 5
    assert a.max(0).values.tolist() == [s - 1 for s in FACTOR_SIZES]


def test_ground_truth_object_renders_by_index() -> None:
    truth = DSprites()
    assert len(truth) == NUM_IMAGES and truth.num_factors == 5
    index = torch.tensor([0, 123_456, NUM_IMAGES - 1])
    assert torch.equal(truth.images(index), render(index_to_classes(index)))


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ([[3, 0, 0, 0, 0]], "'shape' of row 0 is 3"),
        ([[0, 0, 40, 0, 0]], "'orientation'"),
        ([[0, 0, 0, 0]], "(N, 5)"),
    ],
    ids=str,
)
def test_bad_factor_classes_are_named(classes: list[list[int]], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        render(torch.tensor(classes))
