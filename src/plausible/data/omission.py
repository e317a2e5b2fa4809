"""Silhouette segmentation on textured noise with omitted input blocks (Sohn et al., 2015)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from plausible.data.quadrants import omission_noise as _square_omission
from plausible.nn.mixing import sample_units

__all__ = [
    "omission_noise",
    "omission_training_transform",
    "omit_blocks",
    "silhouette_scenes",
]

_CHUNK = 4096


def _gaussian_kernel(sigma: float, dtype: torch.dtype) -> Tensor:
    """1-D Gaussian kernel of standard deviation ``sigma`` pixels, radius ``ceil(3 sigma)``,
    normalised to sum 1."""
    radius = math.ceil(3 * sigma)
    t = torch.arange(-radius, radius + 1, dtype=dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _texture(num: int, size: int, sigma: float, generator: torch.Generator) -> Tensor:
    """``(num, size, size)`` stationary texture with Uniform(0, 1) marginals at every pixel.

    White Gaussian noise on a canvas larger by the kernel's radius on each side is smoothed
    with a separable Gaussian kernel ``k`` (valid convolution, so no border effects), divided by
    the field's exact standard deviation ``sum_i k_i^2`` and mapped through the normal CDF.
    """
    if sigma == 0:
        t = torch.randn(num, size, size, generator=generator)
    else:
        k = _gaussian_kernel(sigma, torch.float64)
        r = (len(k) - 1) // 2
        # Row i of the band matrix holds k at columns i .. i + 2r: band @ v is the valid
        # convolution of v with k, so band @ white @ band^T smooths rows and columns.
        band = torch.zeros(size, size + 2 * r, dtype=torch.float64)
        for i in range(size):
            band[i, i : i + 2 * r + 1] = k
        # The 2-D kernel is k k^T: its squared norm is (sum k^2)^2, the std of the field sum k^2.
        band = (band / (k**2).sum().sqrt()).float()
        white = torch.randn(num, size + 2 * r, size + 2 * r, generator=generator)
        t = band @ white @ band.T
    return 0.5 * (1 + torch.erf(t / math.sqrt(2)))


def _place(items: Tensor, size: int, generator: torch.Generator) -> Tensor:
    """``(N, size, size)`` canvases with each item at a uniformly random position."""
    n, h, w = items.shape
    top = torch.randint(0, size - h + 1, (n,), generator=generator)
    left = torch.randint(0, size - w + 1, (n,), generator=generator)
    if h == size and w == size:
        return items.clone()
    canvas = items.new_zeros(n, size, size)
    # One slice assignment per distinct position: at most (size - h + 1) * (size - w + 1).
    offsets = top * (size - w + 1) + left
    for code in offsets.unique().tolist():
        which = (offsets == code).nonzero()[:, 0]
        t, le = divmod(int(code), size - w + 1)
        canvas[which, t : t + h, le : le + w] = items[which]
    return canvas


def silhouette_scenes(
    items: Tensor,
    *,
    seed: int,
    size: int = 28,
    noise_texture: float = 2.0,
    pixel_noise: float = 0.1,
    threshold: float = 0.1,
) -> dict[str, Tensor]:
    """Grey items pasted on textured noise, and their silhouettes as the segmentation target.

    Each item (a Fashion-MNIST garment in practice) is placed at a uniformly random position of
    a ``size x size`` canvas (at the origin when ``size`` equals the item size). Its support,
    the pixels where the item is brighter than ``threshold``, is the mask ``y``. The image shows
    the item's grey levels on its support and a background texture elsewhere, plus independent
    Gaussian pixel noise of standard deviation ``pixel_noise`` everywhere, clipped to [0, 1].
    The texture is smoothed Gaussian noise (length scale ``noise_texture`` pixels) mapped to
    Uniform(0, 1) marginals, so background and foreground share the same intensities: the
    silhouette is found by shape and texture (smooth garment versus blotchy background), not by
    a grey-level threshold.

    Args:
        items: ``(N, h, w)`` grey images in [0, 1] with ``h, w <= size`` (28 x 28 for
            Fashion-MNIST).
        seed: Seed of the positions, the textures and the pixel noise.
        size: Height and width of the scenes in pixels.
        noise_texture: Standard deviation in pixels of the Gaussian that smooths the background
            noise; 0 gives a white-noise background.
        pixel_noise: Standard deviation of the Gaussian noise added to every pixel.
        threshold: Item pixels brighter than this are foreground.

    Returns:
        ``{"x": (N, 1, size, size), "y": (N, 1, size, size)}`` float32 on ``items``' device;
        ``y`` is in {0, 1}.
    """
    if items.dim() != 3:
        raise ValueError(
            f"items must be grey images (N, h, w), got shape {tuple(items.shape)}; drop a "
            "channel dimension of 1 with items[:, 0]"
        )
    n, h, w = items.shape
    if n == 0:
        raise ValueError("items is empty; pass at least one item image")
    if h > size or w > size:
        raise ValueError(
            f"items of {h} x {w} pixels do not fit a {size} x {size} scene; choose size >= "
            f"{max(h, w)}"
        )
    if noise_texture < 0 or pixel_noise < 0:
        raise ValueError(
            f"noise_texture and pixel_noise must be >= 0, got {noise_texture} and {pixel_noise}"
        )
    lo, hi = float(items.min()), float(items.max())
    if lo < 0 or hi > 1:
        raise ValueError(f"items must hold grey levels in [0, 1], got values in [{lo}, {hi}]")
    g = torch.Generator().manual_seed(int(seed))
    canvas = _place(items.detach().float().cpu(), size, g)
    mask = canvas > threshold
    x = torch.empty(n, size, size)
    # Chunks bound the work space; the draws only depend on the seed and n.
    for start in range(0, n, _CHUNK):
        part = slice(start, min(start + _CHUNK, n))
        m = part.stop - part.start
        background = _texture(m, size, float(noise_texture), g)
        noise = pixel_noise * torch.randn(m, size, size, generator=g)
        x[part] = (torch.where(mask[part], canvas[part], background) + noise).clamp(0.0, 1.0)
    return {
        "x": x.unsqueeze(1).to(items.device),
        "y": mask.float().unsqueeze(1).to(items.device),
    }


def _check_images(x: Tensor, who: str) -> None:
    if x.dim() != 4:
        raise ValueError(f"{who} needs images (N, C, H, W), got shape {tuple(x.shape)}")


def _with_indicator(x: Tensor, observed: Tensor) -> Tensor:
    """``[x with unobserved pixels set to 0, observed indicator]`` on channels."""
    return torch.cat([x.masked_fill(~observed, 0.0), observed.to(x.dtype)], dim=1)


def omit_blocks(
    x: Tensor, *, fraction: float, block: int, generator: torch.Generator | None = None
) -> Tensor:
    """Test-time omission: a random ``fraction`` of a grid of ``block x block`` squares is hidden.

    The image is cut into ``ceil(H / block) x ceil(W / block)`` squares from the top-left
    corner; when ``block`` does not divide ``H`` or ``W``, the squares of the last row or column
    are cut short by the border (they count as squares all the same). For every image,
    exactly ``round(fraction * number of squares)`` squares, a uniformly random subset drawn
    independently per image, are omitted in all channels. Sohn et al. (2015) use fractions of
    25, 50 and 70 % and blocks of 1, 2 and 4 pixels.

    Args:
        x: ``(N, C, H, W)`` clean images.
        fraction: Share of the squares to omit, in [0, 1).
        block: Side of the squares in pixels, from 1 to ``min(H, W)``.
        generator: Source of randomness on ``x``'s device; torch's global one when ``None``.

    Returns:
        ``(N, C + 1, H, W)``: the images with omitted pixels set to 0, then the observed
        indicator (1 observed, 0 omitted); ``(N, 2, H, W)`` for grey images.
    """
    _check_images(x, "omit_blocks")
    n, _, h, w = x.shape
    if not 0.0 <= fraction < 1.0:
        raise ValueError(
            f"fraction must be in [0, 1) (the share of squares omitted), got {fraction}"
        )
    if isinstance(block, bool) or int(block) != block or not 1 <= block <= min(h, w):
        raise ValueError(
            f"block must be a whole number of pixels from 1 to min(H, W) = {min(h, w)}, "
            f"got {block!r}"
        )
    block = int(block)
    grid_h, grid_w = math.ceil(h / block), math.ceil(w / block)
    omitted = sample_units((n,), grid_h * grid_w, fraction, generator=generator, device=x.device)
    pixels = omitted.view(n, grid_h, grid_w).repeat_interleave(block, 1)
    pixels = pixels.repeat_interleave(block, 2)[:, :h, :w]
    return _with_indicator(x, ~pixels.unsqueeze(1))


def omission_noise(
    x: Tensor, *, max_fraction: float = 0.4, generator: torch.Generator | None = None
) -> Tensor:
    """Training noise: one random square per image is omitted, with the observed indicator.

    As we read the authors' description (Sohn et al., 2015): each image loses one
    square whose side is drawn uniformly from ``0, 1, ..., floor(max_fraction * min(H, W))``
    pixels (up to 40 % of the side by default; a side of 0 leaves the image whole), placed
    uniformly at random where it fits inside the image. This is the square of
    :func:`plausible.data.quadrants.omission_noise`; here the omitted pixels are set to 0 and
    reported in an indicator channel, as :func:`omit_blocks` does at test time.

    Args:
        x: ``(N, C, H, W)`` clean images.
        max_fraction: Largest side of the square as a fraction of the image side, in [0, 1].
        generator: Source of randomness on ``x``'s device; torch's global one when ``None``.

    Returns:
        ``(N, C + 1, H, W)``: images with the square set to 0, then the observed indicator.
    """
    _check_images(x, "omission_noise")
    if not 0.0 <= max_fraction <= 1.0:
        raise ValueError(f"max_fraction must be in [0, 1], got {max_fraction}")
    n, _, h, w = x.shape
    ones = torch.ones(n, 1, h, w, dtype=x.dtype, device=x.device)
    observed = _square_omission(
        ones, max_fraction=max_fraction, fill=0.0, protect=None, generator=generator
    )
    return _with_indicator(x, observed > 0.5)


def omission_training_transform(
    batch: dict[str, Tensor], generator: torch.Generator, *, max_fraction: float = 0.4
) -> dict[str, Tensor]:
    """A ``TensorBatcher`` transform: ``batch["x"] = omission_noise(batch["image"])``.

    Args:
        batch: Must hold ``"image"``, the clean images ``(B, 1, H, W)``; other keys pass through.
        generator: The batch's random generator (on the data's device).
        max_fraction: Largest side of the omitted square as a fraction of the image side.

    Returns:
        A copy of ``batch`` with ``"x"`` ``(B, 2, H, W)`` set (replaced if present).
    """
    if "image" not in batch:
        raise KeyError(
            f"omission_training_transform reads the clean images from batch['image'], but the "
            f"batch holds only {sorted(batch)}; store the clean images under 'image'"
        )
    x = omission_noise(batch["image"], max_fraction=max_fraction, generator=generator)
    return {**batch, "x": x}
