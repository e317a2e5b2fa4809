"""Rectangular regions of an image and the canvas that maps a flat target onto them."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["OutputCanvas", "region_mask"]


def region_mask(height: int, width: int, regions: Sequence[Sequence[int]]) -> Tensor:
    """``(H, W)`` boolean mask that is ``True`` inside any of ``regions``.

    Args:
        height: Image height in pixels.
        width: Image width in pixels.
        regions: Rectangles ``(top, left, height, width)``; each must lie inside the image.

    Raises:
        ValueError: A region is not four numbers, is empty, or reaches outside the image.
    """
    mask = torch.zeros(height, width, dtype=torch.bool)
    for region in regions:
        if len(region) != 4:
            raise ValueError(f"a region is (top, left, height, width), got {tuple(region)}")
        top, left, h, w = (int(v) for v in region)
        if top < 0 or left < 0 or h < 1 or w < 1 or top + h > height or left + w > width:
            raise ValueError(
                f"region (top={top}, left={left}, height={h}, width={w}) does not lie inside the "
                f"{height} x {width} image"
            )
        mask[top : top + h, left : left + w] = True
    return mask


def _pool(t: Tensor) -> Tensor:
    return F.avg_pool2d(t, 2, 2, ceil_mode=True)


class OutputCanvas(nn.Module):
    """Where the elements of a flat target ``y`` sit on an image canvas.

    ``y`` holds the pixels of every channel inside ``regions`` in raster order of ``(C, H, W)``
    (all pixels when ``regions`` is ``None``). Convolutional generators predict the whole canvas;
    :meth:`gather` keeps the target pixels. For multi-scale prediction, level ``k`` is the canvas
    average-pooled ``k`` times by 2; its target cells are those at least half inside the regions.

    Args:
        canvas_shape: ``(C, H, W)``.
        regions: Rectangles ``(top, left, height, width)``; ``None`` for the whole canvas.
        num_scales: Resolutions to index: 1 (full only), 2 (and 1/2), 3 (and 1/4), ...
    """

    def __init__(
        self,
        canvas_shape: Sequence[int],
        regions: Sequence[Sequence[int]] | None = None,
        num_scales: int = 1,
    ) -> None:
        super().__init__()
        shape = tuple(int(s) for s in canvas_shape)
        if len(shape) != 3 or any(s <= 0 for s in shape):
            raise ValueError(f"canvas_shape must be (C, H, W) with positive sizes, got {shape}")
        c, h, w = shape
        self.canvas_shape = shape
        mask = (
            region_mask(h, w, regions)
            if regions is not None
            else torch.ones(h, w, dtype=torch.bool)
        )
        self.register_buffer("mask", mask.float()[None, None], persistent=False)
        level = mask.float()[None, None]
        self.sizes: list[int] = []
        for k in range(num_scales):
            if k > 0:
                level = _pool(level)
            keep = (level[0, 0] >= 0.5 - 1e-6).expand(c, *level.shape[-2:]).flatten()
            if not keep.any():
                raise ValueError(
                    f"at 1/{2**k} scale the {h} x {w} canvas has no cell inside the output "
                    f"regions; use fewer scales (num_scales <= {k})"
                )
            self.register_buffer(f"index_{k}", keep.nonzero().squeeze(1), persistent=False)
            self.sizes.append(int(keep.sum()))

    @property
    def size(self) -> int:
        """Number of target elements at full resolution."""
        return self.sizes[0]

    def _index(self, level: int) -> Tensor:
        return self.get_buffer(f"index_{level}")

    def gather(self, canvas: Tensor, num_params: int = 1, level: int = 0) -> Tensor:
        """``(..., P * C, h, w)`` maps of ``P`` parameters -> ``(..., P * n)`` target values."""
        lead = canvas.shape[:-3]
        # Written out rather than -1, which is ambiguous for an empty batch.
        flat = canvas.reshape(*lead, num_params, canvas.shape[-3:].numel() // num_params)
        flat = flat[..., self._index(level)]
        return flat.flatten(-2)

    def scatter(self, y: Tensor) -> Tensor:
        """``(..., n)`` full-resolution targets -> ``(..., C, H, W)`` canvas, zero elsewhere."""
        c, h, w = self.canvas_shape
        out = y.new_zeros(*y.shape[:-1], c * h * w)
        out[..., self._index(0)] = y
        return out.unflatten(-1, (c, h, w))

    def targets(self, y: Tensor, level: int) -> Tensor:
        """``(B, n)`` targets -> ``(B, n_level)``: their average over each cell at ``level``."""
        canvas = self.scatter(y.flatten(1))
        mask = self.get_buffer("mask").to(canvas.dtype)
        for _ in range(level):
            canvas, mask = _pool(canvas), _pool(mask)
        mean = canvas / mask.clamp_min(1e-12)
        return mean.flatten(-3)[..., self._index(level)]
