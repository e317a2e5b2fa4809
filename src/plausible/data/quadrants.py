"""Quadrant masks for conditional image completion and random-block input omission noise."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from plausible.nn.canvas import region_mask

__all__ = [
    "UNOBSERVED",
    "OmissionNoise",
    "Region",
    "fill_unobserved",
    "omission_noise",
    "quadrant_layout",
    "quadrant_mask",
    "region_mask",
    "split_quadrants",
    "unobserved_regions",
]

#: Value that marks an unobserved input pixel (as in the common public re-implementation).
UNOBSERVED = -1.0

#: A rectangle of pixels: ``(top, left, height, width)``.
Region = tuple[int, int, int, int]

# Observed quadrants per setting, named (row, column) with 0 = top/left, 1 = bottom/right.
_OBSERVED: dict[int, tuple[tuple[int, int], ...]] = {
    1: ((1, 0),),  # bottom-left
    2: ((0, 0), (1, 0)),  # left half
    3: ((0, 0), (0, 1), (1, 0)),  # all but bottom-right
}


def quadrant_layout(num_observed: int) -> str:
    """Human-readable name of the observed part: ``bottom-left``, ``left half``, ..."""
    _check_count(num_observed)
    return {1: "bottom-left quadrant", 2: "left half", 3: "all but the bottom-right quadrant"}[
        num_observed
    ]


def _check_count(num_observed: int) -> None:
    if (
        isinstance(num_observed, bool)
        or int(num_observed) != num_observed
        or num_observed not in _OBSERVED
    ):
        raise ValueError(
            f"the number of observed quadrants must be 1, 2 or 3, got {num_observed!r}; "
            "1 observes the bottom-left quadrant, 2 the left half, 3 all but the bottom-right"
        )


def _check_square(height: int, width: int) -> None:
    if height != width or height < 2:
        raise ValueError(
            f"quadrant imputation needs square images of at least 2 x 2 pixels, got {height} x "
            f"{width}; crop or pad the images to a square first"
        )


def _quadrant_box(row: int, col: int, size: int) -> Region:
    half = size // 2
    top, height = (0, half) if row == 0 else (half, size - half)
    left, width = (0, half) if col == 0 else (half, size - half)
    return (top, left, height, width)


def unobserved_regions(size: int, num_observed: int) -> list[Region]:
    """Rectangles ``(top, left, height, width)`` of the quadrants that are *not* observed.

    Quadrants split a ``size x size`` image at ``size // 2`` in both directions.

    Args:
        size: Height (= width) of the images in pixels.
        num_observed: 1, 2 or 3 observed quadrants.

    Returns:
        The unobserved quadrants in raster order of their top-left corners.
    """
    _check_count(num_observed)
    _check_square(size, size)
    observed = set(_OBSERVED[num_observed])
    return [_quadrant_box(r, c, size) for r in (0, 1) for c in (0, 1) if (r, c) not in observed]


def quadrant_mask(height: int, width: int, num_observed: int) -> Tensor:
    """``(H, W)`` boolean mask, ``True`` on the *unobserved* pixels (the prediction target).

    Raises:
        ValueError: For non-square images or a count outside 1..3.
    """
    _check_square(height, width)
    return region_mask(height, width, unobserved_regions(height, num_observed))


def split_quadrants(images: Tensor, num_observed: int) -> tuple[Tensor, Tensor]:
    """Split images into the observed input and the unobserved target.

    Args:
        images: ``(N, C, H, W)`` with ``H == W``.
        num_observed: 1, 2 or 3 observed quadrants.

    Returns:
        ``x``: ``(N, C, H, W)`` copy of ``images`` with the unobserved pixels set to
        :data:`UNOBSERVED` (-1); ``y``: ``(N, C * U)`` the ``U`` unobserved pixels of every
        channel in raster order of ``(C, H, W)``.
    """
    if images.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    _, c, h, w = images.shape
    mask = quadrant_mask(h, w, num_observed).to(images.device)
    x = images.masked_fill(mask, UNOBSERVED)
    y = images.flatten(1)[:, mask.expand(c, h, w).flatten()]
    return x, y


def fill_unobserved(x: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    """Put target values ``y`` back into the unobserved pixels of ``x``.

    Args:
        x: ``(..., C, H, W)`` inputs.
        y: ``(..., C * U)`` values of the ``U`` pixels where ``mask`` is ``True``; leading
            dimensions broadcast against ``x``'s (e.g. ``(S, B, ...)`` samples and ``(B, ...)``).
        mask: ``(H, W)`` boolean, ``True`` on unobserved pixels.

    Returns:
        ``(..., C, H, W)`` completed images.
    """
    c, h, w = x.shape[-3:]
    full = mask.to(x.device).expand(c, h, w).flatten()
    if y.shape[-1] != int(full.sum()):
        raise ValueError(
            f"y holds {y.shape[-1]} values per example but the mask has {int(full.sum())} "
            f"unobserved values ({c} channel(s) x {int(mask.sum())} pixels)"
        )
    lead = torch.broadcast_shapes(x.shape[:-3], y.shape[:-1])
    out = x.flatten(-3).expand(*lead, c * h * w).clone()
    out[..., full] = y.to(out.dtype).expand(*lead, y.shape[-1])
    return out.unflatten(-1, (c, h, w))


def omission_noise(
    x: Tensor,
    *,
    max_fraction: float = 0.4,
    fill: float = 0.0,
    protect: float | None = UNOBSERVED,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Random block omission (Sohn et al., 2015): one random square per image is set to ``fill``.

    Each image gets a square whose side is drawn uniformly from ``0 .. floor(max_fraction *
    min(H, W))`` pixels (0 leaves the image clean) at a uniformly random position where it fits.

    Args:
        x: ``(B, C, H, W)`` inputs.
        max_fraction: Largest side of the square as a fraction of the width and height, in [0, 1].
        fill: Value written inside the square.
        protect: Pixels holding this value (the unobserved marker) are left unchanged so the
            model can still tell observed from unobserved pixels; ``None`` protects nothing.
        generator: Random generator on ``x``'s device.

    Returns:
        A corrupted copy of ``x``.
    """
    if x.dim() != 4:
        raise ValueError(f"omission noise needs images (B, C, H, W), got shape {tuple(x.shape)}")
    if not 0.0 <= max_fraction <= 1.0:
        raise ValueError(f"max_fraction must be in [0, 1], got {max_fraction}")
    b, _, h, w = x.shape
    max_side = int(max_fraction * min(h, w))
    if max_side == 0 or b == 0:
        return x.clone()
    dev = x.device
    side = torch.randint(0, max_side + 1, (b,), generator=generator, device=dev)
    u = torch.rand(b, 2, generator=generator, device=dev)
    top = (u[:, 0] * (h - side + 1)).floor().long()
    left = (u[:, 1] * (w - side + 1)).floor().long()
    rows = torch.arange(h, device=dev).view(1, h, 1)
    cols = torch.arange(w, device=dev).view(1, 1, w)
    inside = (
        (rows >= top.view(b, 1, 1))
        & (rows < (top + side).view(b, 1, 1))
        & (cols >= left.view(b, 1, 1))
        & (cols < (left + side).view(b, 1, 1))
    ).unsqueeze(1)
    if protect is not None:
        inside = inside & (x != protect)
    return x.masked_fill(inside, fill)


@dataclass(frozen=True)
class OmissionNoise:
    """A ``TensorBatcher`` transform that applies :func:`omission_noise` to ``batch[key]``.

    Args:
        max_fraction: Largest side of the omitted square as a fraction of the image size.
        key: Which tensor of the batch to corrupt (the input ``x``; the target is left intact).
        fill: Value written inside the square.
    """

    max_fraction: float = 0.4
    key: str = "x"
    fill: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_fraction <= 1.0:
            raise ValueError(
                f"omission noise max_fraction must be in [0, 1], got {self.max_fraction}"
            )

    def __call__(self, batch: dict[str, Tensor], generator: torch.Generator) -> dict[str, Tensor]:
        """Return a copy of ``batch`` with ``batch[key]`` corrupted."""
        x = omission_noise(
            batch[self.key], max_fraction=self.max_fraction, fill=self.fill, generator=generator
        )
        return {**batch, self.key: x}
