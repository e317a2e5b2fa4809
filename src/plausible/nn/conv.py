"""Convolutional encoder and decoder whose layer shapes are inferred for any C x H x W."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from plausible.nn.mlp import Activation, make_activation

__all__ = ["ConvDecoder", "ConvEncoder", "downsampled_sizes"]


def downsampled_sizes(size: int, num_layers: int) -> list[int]:
    """Spatial sizes after each stride-2, kernel-3, padding-1 convolution: ``ceil(s / 2)``.

    Args:
        size: Input height or width in pixels.
        num_layers: Number of stride-2 convolutions.

    Returns:
        ``[size, s1, s2, ...]`` of length ``num_layers + 1``.
    """
    sizes = [int(size)]
    for _ in range(num_layers):
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


def _check_shape(shape: Sequence[int], what: str) -> tuple[int, int, int]:
    if len(shape) != 3 or any(int(s) <= 0 for s in shape):
        raise ValueError(
            f"{what} must be (channels, height, width) with positive sizes, got {shape}"
        )
    c, h, w = (int(s) for s in shape)
    return c, h, w


class ConvEncoder(nn.Module):
    """Stride-2 convolutions followed by a linear map to ``out_dim`` features.

    Args:
        in_shape: ``(C, H, W)`` of the input images.
        out_dim: Number of output features.
        channels: Output channels of each stride-2 convolution; each halves H and W (rounding up).
        activation: Non-linearity after every layer but the last linear one.
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        out_dim: int,
        channels: Sequence[int] = (32, 64, 128),
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        c, h, w = _check_shape(in_shape, "in_shape")
        self.in_shape = (c, h, w)
        layers: list[nn.Module] = []
        prev = c
        for ch in channels:
            layers += [
                nn.Conv2d(prev, int(ch), 3, stride=2, padding=1),
                make_activation(activation),
            ]
            prev = int(ch)
        self.convs = nn.Sequential(*layers)
        fh = downsampled_sizes(h, len(channels))[-1]
        fw = downsampled_sizes(w, len(channels))[-1]
        self.linear = nn.Linear(prev * fh * fw, int(out_dim))
        self.out_dim = int(out_dim)

    def forward(self, x: Tensor) -> Tensor:
        """Map images ``(B, C, H, W)`` (or flat ``(B, C*H*W)``) to features ``(B, out_dim)``."""
        if x.dim() == 2 and x.shape[1] == math.prod(self.in_shape):
            x = x.view(x.shape[0], *self.in_shape)
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(
                f"ConvEncoder expects images of shape (B, {', '.join(map(str, self.in_shape))}), "
                f"got {tuple(x.shape)}"
            )
        return self.linear(self.convs(x).flatten(1))


class ConvDecoder(nn.Module):
    """A linear map to a small feature map, then stride-2 transposed convolutions to ``out_shape``.

    Output padding is chosen per layer so that the exact ``H x W`` is reached for odd sizes too.

    Args:
        in_dim: Size of the input vector (a latent code, possibly joined with a condition).
        out_shape: ``(C_out, H, W)``; ``C_out`` counts every per-pixel parameter the head needs.
        channels: Channels of the feature maps from the smallest upwards, mirroring the encoder.
        activation: Non-linearity after every layer but the last.
    """

    def __init__(
        self,
        in_dim: int,
        out_shape: Sequence[int],
        channels: Sequence[int] = (128, 64, 32),
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        c, h, w = _check_shape(out_shape, "out_shape")
        self.out_shape = (c, h, w)
        n = len(channels)
        hs, ws = downsampled_sizes(h, n)[::-1], downsampled_sizes(w, n)[::-1]
        self.start = (int(channels[0]), hs[0], ws[0])
        self.linear = nn.Sequential(
            nn.Linear(int(in_dim), math.prod(self.start)), make_activation(activation)
        )
        layers: list[nn.Module] = []
        outs = [*map(int, channels[1:]), c]
        prev = int(channels[0])
        for i, ch in enumerate(outs):
            pad = (hs[i + 1] - 2 * hs[i] + 1, ws[i + 1] - 2 * ws[i] + 1)
            layers.append(nn.ConvTranspose2d(prev, ch, 3, stride=2, padding=1, output_padding=pad))
            if i < len(outs) - 1:
                layers.append(make_activation(activation))
            prev = ch
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        """Map ``(..., in_dim)`` to ``(..., C_out, H, W)``; leading batch dims are preserved."""
        lead = z.shape[:-1]
        h = self.linear(z.reshape(-1, z.shape[-1])).view(-1, *self.start)
        return self.deconvs(h).view(*lead, *self.out_shape)
