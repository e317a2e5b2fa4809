"""U-Net, pooled conv encoder and the two ways of joining a latent code to a dense feature map."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from plausible.nn.mlp import Activation, make_activation

__all__ = ["DownEncoder", "FeatureExpanding", "LatentInjection", "UNet", "pointwise_head"]


def _widths(channels: Sequence[int], what: str) -> list[int]:
    widths = [int(c) for c in channels]
    if not widths or any(c <= 0 for c in widths):
        raise ValueError(f"{what} must be a non-empty sequence of positive widths, got {channels}")
    return widths


def _conv_block(in_channels: int, out_channels: int, activation: Activation) -> nn.Sequential:
    """Two 3x3 convolutions (padding 1, so H x W is kept), each followed by the activation."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        make_activation(activation),
        nn.Conv2d(out_channels, out_channels, 3, padding=1),
        make_activation(activation),
    )


def _pool(x: Tensor) -> Tensor:
    # ceil_mode keeps the last row/column of an odd map: 17 -> 9 -> 5, never dropping pixels.
    return F.max_pool2d(x, 2, 2, ceil_mode=True)


def _check_images(x: Tensor, channels: int, who: str) -> None:
    if x.dim() < 4 or x.shape[-3] != channels:
        raise ValueError(
            f"{who} was built for images (..., {channels}, H, W) but got shape "
            f"{tuple(x.shape)}; pass {channels}-channel images with a batch dimension or build "
            "it with the input's in_channels"
        )


class _Contracting(nn.Module):
    """The U-Net's contracting path: one conv block per width, 2x2 max-pooling between blocks."""

    def __init__(self, in_channels: int, channels: Sequence[int], activation: Activation) -> None:
        super().__init__()
        widths = _widths(channels, "channels")
        self.blocks = nn.ModuleList(
            _conv_block(a, b, activation)
            for a, b in itertools.pairwise([int(in_channels), *widths])
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        """``(B, C, H, W)`` -> the feature map of every level, finest first."""
        maps = []
        for i, block in enumerate(self.blocks):
            x = block(x if i == 0 else _pool(x))
            maps.append(x)
        return maps


class UNet(nn.Module):
    """A small U-Net (Ronneberger et al., 2015) for images of any size ``C x H x W``.

    The contracting path has one block of two 3x3 convolutions per entry of ``channels``, with
    2x2 max-pooling between blocks; pooling rounds odd sizes up (``ceil_mode``), so no pixel is
    dropped. The expanding path, from the coarsest level up, resizes the map bilinearly to the
    exact size of the next finer level's map (the skip), concatenates ``[skip, upsampled]`` on
    channels and applies a block of two 3x3 convolutions with that level's width. No padding to
    a multiple of ``2 ** (len(channels) - 1)`` and no cropping is needed: every size works. A
    final 1x1 convolution without activation maps the finest block to ``out_channels`` (so with
    ``out_channels=1`` the output can be read as per-pixel logits).

    There is no normalisation layer: the output of one image never depends on the rest of the
    batch.

    Args:
        in_channels: Channels ``C`` of the input images.
        out_channels: Channels of the output feature map.
        channels: Width of each level, finest first; its length is the number of levels.
        activation: Non-linearity after every 3x3 convolution.

    References:
        Ronneberger, Fischer and Brox (2015). U-Net: Convolutional Networks for Biomedical Image
        Segmentation. MICCAI.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        channels: Sequence[int] = (16, 32, 64),
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        widths = _widths(channels, "UNet channels")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.down = _Contracting(self.in_channels, widths, activation)
        # up[i] turns [level i's skip, level i + 1 upsampled] into level i's width.
        self.up = nn.ModuleList(
            _conv_block(widths[i] + widths[i + 1], widths[i], activation)
            for i in range(len(widths) - 1)
        )
        self.head = nn.Conv2d(widths[0], self.out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Map images ``(..., C, H, W)`` to features ``(..., out_channels, H, W)``."""
        _check_images(x, self.in_channels, "UNet")
        lead = x.shape[:-3]
        maps = self.down(x.reshape(-1, *x.shape[-3:]))
        h = maps[-1]
        for i in range(len(self.up) - 1, -1, -1):
            skip = maps[i]
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = self.up[i](torch.cat([skip, h], dim=1))
        out = self.head(h)
        return out.view(*lead, *out.shape[1:])


class DownEncoder(nn.Module):
    """The U-Net's contracting path, then a global average pool and a linear map: any H x W.

    This is the trunk of the prior net ``p(z | x)`` and the posterior net ``q(z | x, y)`` of the
    Probabilistic U-Net (their input is the image, or the image and mask concatenated on
    channels). :class:`~plausible.nn.conv.ConvEncoder` is not used here because its linear layer
    reads the flattened map and so fixes ``H x W`` when it is built.

    Args:
        in_channels: Channels ``C`` of the input images.
        out_dim: Number of output features (e.g. ``2 * latent_dim`` for a Gaussian head).
        channels: Width of each level, finest first, with 2x2 max-pooling between levels.
        activation: Non-linearity after every 3x3 convolution (none after the linear map).
    """

    def __init__(
        self,
        in_channels: int,
        out_dim: int,
        *,
        channels: Sequence[int] = (16, 32, 64),
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        widths = _widths(channels, "DownEncoder channels")
        self.in_channels, self.out_dim = int(in_channels), int(out_dim)
        self.down = _Contracting(self.in_channels, widths, activation)
        self.linear = nn.Linear(widths[-1], self.out_dim)

    def forward(self, x: Tensor) -> Tensor:
        """Map images ``(..., C, H, W)`` to features ``(..., out_dim)``."""
        _check_images(x, self.in_channels, "DownEncoder")
        lead = x.shape[:-3]
        pooled = self.down(x.reshape(-1, *x.shape[-3:]))[-1].mean(dim=(-2, -1))
        return self.linear(pooled).view(*lead, self.out_dim)


def _pointwise_stack(
    in_channels: int, hidden: Sequence[int], out_channels: int
) -> tuple[list[int], nn.ModuleList]:
    widths = [int(in_channels), *(int(h) for h in hidden), int(out_channels)]
    if any(w <= 0 for w in widths):
        raise ValueError(f"1x1 convolution widths must be positive, got {widths}")
    return widths, nn.ModuleList(nn.Conv2d(a, b, 1) for a, b in itertools.pairwise(widths))


def pointwise_head(
    in_channels: int,
    out_channels: int,
    *,
    hidden: Sequence[int] = (),
    activation: Activation = "relu",
) -> nn.Module:
    """1x1 convolutions from a feature map to the output, activations between them.

    With ``hidden = ()`` it is one ``nn.Conv2d`` (the plain U-Net's output layer); with the
    widths of :class:`LatentInjection`'s ``hidden`` it is that head without the latent, the
    deterministic counterpart of a Probabilistic U-Net.

    Args:
        in_channels: Channels of the feature map.
        out_channels: Channels of the output.
        hidden: Widths of the hidden 1x1 convolutions.
        activation: Non-linearity between them.

    Returns:
        A module mapping ``(B, in_channels, H, W)`` to ``(B, out_channels, H, W)``.
    """
    _, convs = _pointwise_stack(in_channels, hidden, out_channels)
    if len(convs) == 1:
        return convs[0]
    layers: list[nn.Module] = []
    for conv in convs:
        layers += [conv, make_activation(activation)]
    return nn.Sequential(*layers[:-1])


def _check_joint(
    features: Tensor, z: Tensor, feature_channels: int, latent_dim: int, who: str
) -> None:
    if features.dim() != 4 or features.shape[1] != feature_channels:
        raise ValueError(
            f"{who} expects features (B, {feature_channels}, H, W), got shape "
            f"{tuple(features.shape)}"
        )
    if z.dim() < 2 or z.shape[-1] != latent_dim or z.shape[-2] != features.shape[0]:
        raise ValueError(
            f"{who} expects z (..., B, {latent_dim}) with B = {features.shape[0]} as in the "
            f"features, got z of shape {tuple(z.shape)}"
        )


class LatentInjection(nn.Module):
    """The Probabilistic U-Net's combination: tile ``z`` over the map, concatenate, 1x1 convs.

    For features ``f`` ``(B, F, H, W)`` and a code ``z`` ``(B, L)``, the input of the 1x1
    convolutions at pixel ``(i, j)`` is ``[f[:, :, i, j], z]``; activations sit between the
    convolutions, none after the last. Leading sample dimensions on ``z`` share the features:
    the first convolution is split as ``W [f; z] + b = W_f f + (W_z z + b)``, so ``W_f f`` is
    computed once and only the ``(..., B, hidden[0])`` term depends on the sample.

    Args:
        feature_channels: Channels ``F`` of the feature map (the U-Net's output).
        latent_dim: Size ``L`` of the latent code.
        out_channels: Channels of the output (e.g. 1 logit per pixel).
        hidden: Widths of the hidden 1x1 convolutions; ``()`` gives a single 1x1 convolution.
        activation: Non-linearity between the 1x1 convolutions.

    References:
        Kohl et al. (2018). A Probabilistic U-Net for Segmentation of Ambiguous Images. NeurIPS.
    """

    def __init__(
        self,
        feature_channels: int,
        latent_dim: int,
        out_channels: int,
        *,
        hidden: Sequence[int] = (32, 32),
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        self.feature_channels, self.latent_dim = int(feature_channels), int(latent_dim)
        self.out_channels = int(out_channels)
        _, self.convs = _pointwise_stack(
            self.feature_channels + self.latent_dim, hidden, self.out_channels
        )
        self.act = make_activation(activation)

    def forward(self, features: Tensor, z: Tensor) -> Tensor:
        """Join features ``(B, F, H, W)`` and codes ``z`` ``(..., B, L)``.

        Returns:
            ``(..., B, out_channels, H, W)``.
        """
        _check_joint(features, z, self.feature_channels, self.latent_dim, "LatentInjection")
        first = cast(nn.Conv2d, self.convs[0])
        weight = first.weight.flatten(1)  # (hidden[0], F + L)
        w_f, w_z = weight[:, : self.feature_channels], weight[:, self.feature_channels :]
        shared = F.conv2d(features, w_f[:, :, None, None])  # (B, h0, H, W)
        per_sample = F.linear(z, w_z, first.bias)  # (..., B, h0)
        h = shared + per_sample[..., None, None]
        lead = h.shape[:-3]
        h = h.reshape(-1, *h.shape[-3:])
        for conv in self.convs[1:]:
            h = conv(self.act(h))
        return h.view(*lead, *h.shape[1:])


class FeatureExpanding(nn.Module):
    """UC-Net's feature expanding: ``z`` tiled plus scaled per-pixel noise, then channel mixing.

    :meth:`expand` turns ``z`` ``(..., B, L)`` into the map
    ``e[..., b, l, i, j] = z[..., b, l] + s_l * eps[..., b, l, i, j]`` with ``eps ~ N(0, 1)``
    independent per pixel, channel, batch element and sample, and ``s_l = softplus(r_l)`` a
    learned per-channel scale (``noise_scale`` at initialisation). The forward pass concatenates
    ``[features, e]`` on channels (``F + L``), re-weights the channels with a squeeze-and-
    excitation gate ``g = sigmoid(W_2 relu(W_1 mean_ij(.) + b_1) + b_2)`` and applies 1x1
    convolutions (activations between them, none after the last).

    The noise is drawn from torch's global random generator, as one ``torch.randn`` of shape
    ``(..., B, L, H, W)`` per call.

    Args:
        feature_channels: Channels ``F`` of the feature map.
        latent_dim: Size ``L`` of the latent code.
        out_channels: Channels of the output.
        hidden: Widths of the hidden 1x1 convolutions.
        activation: Non-linearity between the 1x1 convolutions.
        reduction: The gate's bottleneck is ``max(1, (F + L) // reduction)`` units wide.
        noise_scale: Initial noise scale ``s_l`` (> 0), the same for every channel.

    References:
        Zhang et al. (2020). UC-Net: Uncertainty Inspired RGB-D Saliency Detection via
        Conditional Variational Autoencoders. CVPR. Hu, Shen and Sun (2018).
        Squeeze-and-Excitation Networks. CVPR.
    """

    def __init__(
        self,
        feature_channels: int,
        latent_dim: int,
        out_channels: int,
        *,
        hidden: Sequence[int] = (32, 32),
        activation: Activation = "relu",
        reduction: int = 4,
        noise_scale: float = 0.1,
    ) -> None:
        super().__init__()
        if not noise_scale > 0:
            raise ValueError(f"noise_scale must be positive, got {noise_scale}")
        if reduction < 1:
            raise ValueError(f"reduction must be >= 1, got {reduction}")
        self.feature_channels, self.latent_dim = int(feature_channels), int(latent_dim)
        self.out_channels = int(out_channels)
        joint = self.feature_channels + self.latent_dim
        # softplus^{-1}(s) = log(expm1(s)): the scale starts exactly at noise_scale.
        raw = torch.log(torch.expm1(torch.tensor(float(noise_scale))))
        self.raw_noise_scale = nn.Parameter(raw.repeat(self.latent_dim))
        squeeze = max(1, joint // int(reduction))
        self.gate = nn.Sequential(
            nn.Linear(joint, squeeze), nn.ReLU(), nn.Linear(squeeze, joint), nn.Sigmoid()
        )
        _, self.convs = _pointwise_stack(joint, hidden, self.out_channels)
        self.act = make_activation(activation)

    @property
    def noise_scale(self) -> Tensor:
        """Per-channel noise scales ``softplus(raw)``, shape ``(L,)``."""
        return F.softplus(self.raw_noise_scale)

    def expand(self, z: Tensor, height: int, width: int, *, noise: bool = True) -> Tensor:
        """Tile ``z`` ``(..., B, L)`` to ``(..., B, L, height, width)``, plus scaled noise.

        Args:
            z: Latent codes.
            height: Height of the map in pixels.
            width: Width of the map in pixels.
            noise: Add ``softplus(raw) * eps``; ``False`` gives the plain tiled ``z``.
        """
        if z.dim() < 1 or z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"FeatureExpanding expects z (..., B, {self.latent_dim}), got {tuple(z.shape)}"
            )
        tiled = z[..., None, None].expand(*z.shape, int(height), int(width))
        if not noise:
            return tiled
        eps = torch.randn(tiled.shape, dtype=z.dtype, device=z.device)
        return tiled + self.noise_scale.to(z.dtype)[:, None, None] * eps

    def forward(self, features: Tensor, z: Tensor, *, noise: bool = True) -> Tensor:
        """Join features ``(B, F, H, W)`` and codes ``z`` ``(..., B, L)``.

        Args:
            features: The shared feature map.
            z: Latent codes; leading sample dimensions share the features.
            noise: Draw the per-pixel noise (``False``: deterministic tiled ``z``).

        Returns:
            ``(..., B, out_channels, H, W)``.
        """
        _check_joint(features, z, self.feature_channels, self.latent_dim, "FeatureExpanding")
        height, width = features.shape[-2:]
        e = self.expand(z, height, width, noise=noise)
        lead = e.shape[:-3]
        f = features.expand(*lead, *features.shape[-3:])
        h = torch.cat([f, e], dim=-3).flatten(0, -4)
        h = h * self.gate(h.mean(dim=(-2, -1)))[:, :, None, None]
        h = self.convs[0](h)
        for conv in self.convs[1:]:
            h = conv(self.act(h))
        return h.view(*lead, *h.shape[1:])
