"""Convolutional encoder and (multi-scale) decoders whose layer shapes fit any C x H x W."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from plausible.nn.mlp import Activation, make_activation

__all__ = ["ConvDecoder", "ConvEncoder", "MultiScaleConvDecoder", "downsampled_sizes"]


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


def _upsampling(
    in_dim: int, out_shape: tuple[int, int, int], channels: Sequence[int], activation: Activation
) -> tuple[tuple[int, int, int], nn.Sequential, list[nn.ConvTranspose2d]]:
    """The layers every decoder here shares: a linear map to the smallest feature map, then one
    stride-2 transposed convolution per step up to ``out_shape``.

    Output padding is chosen per layer so that the exact ``H x W`` is reached for odd sizes too.

    Returns:
        The smallest map's shape ``(channels[0], h0, w0)``, the linear map (with its activation)
        and the transposed convolutions, smallest first, the last one producing ``out_shape``.
    """
    c, h, w = out_shape
    chans = [int(ch) for ch in channels]
    n = len(chans)
    hs, ws = downsampled_sizes(h, n)[::-1], downsampled_sizes(w, n)[::-1]
    start = (chans[0], hs[0], ws[0])
    linear = nn.Sequential(nn.Linear(int(in_dim), math.prod(start)), make_activation(activation))
    deconvs = []
    prev = chans[0]
    for i, ch in enumerate([*chans[1:], c]):
        pad = (hs[i + 1] - 2 * hs[i] + 1, ws[i + 1] - 2 * ws[i] + 1)
        deconvs.append(nn.ConvTranspose2d(prev, ch, 3, stride=2, padding=1, output_padding=pad))
        prev = ch
    return start, linear, deconvs


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
        self.out_shape = _check_shape(out_shape, "out_shape")
        self.start, self.linear, deconvs = _upsampling(in_dim, self.out_shape, channels, activation)
        layers: list[nn.Module] = []
        for i, deconv in enumerate(deconvs):
            layers.append(deconv)
            if i < len(deconvs) - 1:
                layers.append(make_activation(activation))
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        """Map ``(..., in_dim)`` to ``(..., C_out, H, W)``; leading batch dims are preserved."""
        lead = z.shape[:-1]
        h = self.linear(z.reshape(-1, z.shape[-1])).view(-1, *self.start)
        return self.deconvs(h).view(*lead, *self.out_shape)


class MultiScaleConvDecoder(nn.Module):
    """A :class:`ConvDecoder` that also predicts at 1/2, 1/4, ... of the full resolution.

    The coarse outputs are 1x1 convolutions of the intermediate feature maps, so every scale
    shares the layers below it (coarse-to-fine prediction, Sohn et al., 2015, section 4.2). With
    ``num_scales=1`` it computes what a :class:`ConvDecoder` computes (its parameters are named
    differently: the transposed convolutions are a list, the activation stands apart).

    Args:
        in_dim: Size of the input vector.
        out_shape: ``(C_out, H, W)`` of the full-resolution output.
        channels: Feature-map channels from the smallest map upwards.
        activation: Non-linearity after every layer but the outputs.
        num_scales: 1 (full resolution only) up to ``len(channels) + 1``.
    """

    def __init__(
        self,
        in_dim: int,
        out_shape: Sequence[int],
        channels: Sequence[int] = (128, 64, 32),
        activation: Activation = "relu",
        num_scales: int = 1,
    ) -> None:
        super().__init__()
        c, h, w = _check_shape(out_shape, "out_shape")
        chans = [int(ch) for ch in channels]
        n = len(chans)
        if n < 1:
            raise ValueError("MultiScaleConvDecoder needs at least one channel width")
        if not 1 <= num_scales <= n + 1:
            raise ValueError(
                f"predicting {num_scales} scales needs at least {num_scales - 1} channel widths "
                f"(one feature map per coarse scale), got {chans}; give more conv_channels"
            )
        self.out_shape = (c, h, w)
        self.num_scales = num_scales
        self.start, self.linear, deconvs = _upsampling(in_dim, self.out_shape, chans, activation)
        self.deconvs = nn.ModuleList(deconvs)
        self.act = make_activation(activation)
        # Scale 1/2^k reads the feature map k steps below the output: index n - k of [start, ...].
        self.heads = nn.ModuleList(nn.Conv2d(chans[n - k], c, 1) for k in range(1, num_scales))

    def forward(self, h: Tensor) -> list[Tensor]:
        """``(..., in_dim)`` -> ``num_scales`` maps: full ``(..., C, H, W)``, half, quarter..."""
        lead = h.shape[:-1]
        f = self.linear(h.reshape(-1, h.shape[-1])).view(-1, *self.start)
        maps = [f]
        for i, deconv in enumerate(self.deconvs):
            f = deconv(f)
            if i < len(self.deconvs) - 1:
                f = self.act(f)
                maps.append(f)
        n = len(self.deconvs)
        outs = [f] + [head(maps[n - k]) for k, head in enumerate(self.heads, start=1)]
        return [o.view(*lead, *o.shape[1:]) for o in outs]
