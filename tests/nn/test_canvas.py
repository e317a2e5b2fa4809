"""Rectangular regions and the output canvas that puts a flat target back on its image."""

from __future__ import annotations

import pytest
import torch

from plausible.data.quadrants import split_quadrants, unobserved_regions
from plausible.nn import OutputCanvas, region_mask


def test_region_mask_is_the_union_of_the_rectangles() -> None:
    mask = region_mask(5, 6, [(0, 0, 2, 3), (1, 2, 2, 2), (4, 5, 1, 1)])
    expected = torch.zeros(5, 6, dtype=torch.bool)
    for r, c in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (4, 5)]:
        expected[r, c] = True
    assert torch.equal(mask, expected)


def test_region_mask_is_the_one_the_quadrant_split_uses() -> None:
    import plausible.data.quadrants as quadrants

    assert quadrants.region_mask is region_mask


@pytest.mark.parametrize(
    ("region", "message"),
    [((0, 0, 2), "top, left, height, width"), ((6, 6, 4, 4), "does not lie inside the 8 x 8")],
    ids=str,
)
def test_bad_regions_are_explained(region: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        region_mask(8, 8, [region])


def test_output_canvas_matches_the_quadrant_split() -> None:
    images = torch.rand(3, 2, 8, 8)
    for q in (1, 2, 3):
        _, y = split_quadrants(images, q)
        canvas = OutputCanvas((2, 8, 8), unobserved_regions(8, q))
        assert canvas.size == y.shape[1]
        assert torch.equal(canvas.gather(images), y)
        filled = canvas.scatter(y)
        mask = region_mask(8, 8, unobserved_regions(8, q))
        assert torch.equal(filled[:, :, mask], images[:, :, mask])
        assert torch.equal(filled[:, :, ~mask], torch.zeros_like(filled[:, :, ~mask]))


def test_gather_keeps_each_parameter_map_in_turn() -> None:
    canvas = OutputCanvas((1, 4, 4), [(0, 0, 2, 3)])
    maps = torch.randn(2, 2, 4, 4)  # two parameters (say loc and scale) per pixel
    out = canvas.gather(maps, num_params=2)
    assert out.shape == (2, 12)
    assert torch.equal(out[:, :6], maps[:, 0, :2, :3].flatten(1))
    assert torch.equal(out[:, 6:], maps[:, 1, :2, :3].flatten(1))


def test_coarse_targets_are_cell_averages() -> None:
    canvas = OutputCanvas((1, 4, 4), None, num_scales=3)
    y = torch.arange(16.0).view(1, 16)
    half = canvas.targets(y, 1)
    assert half.shape == (1, 4)
    assert torch.allclose(half, torch.tensor([[2.5, 4.5, 10.5, 12.5]]))
    assert torch.allclose(canvas.targets(y, 2), torch.tensor([[7.5]]))


def test_coarse_cells_half_inside_average_only_their_target_pixels() -> None:
    # Region: rows 0-1, columns 0-2 of a 4 x 4 canvas. At 1/2 scale, cell (0, 0) lies wholly
    # inside, cell (0, 1) half inside (column 2 of columns 2-3), the others outside.
    canvas = OutputCanvas((1, 4, 4), [(0, 0, 2, 3)], num_scales=2)
    assert canvas.sizes == [6, 2]
    y = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])  # rows (1, 2, 3) and (4, 5, 6)
    expected = torch.tensor([[(1 + 2 + 4 + 5) / 4, (3 + 6) / 2]])
    assert torch.allclose(canvas.targets(y, 1), expected)


def test_too_many_scales_for_small_regions_are_refused() -> None:
    with pytest.raises(ValueError, match="use fewer scales"):
        OutputCanvas((1, 8, 8), [(0, 0, 1, 1)], num_scales=3)
