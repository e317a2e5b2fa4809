"""Conditional VAE and GSNN (Sohn et al., 2015) and the deterministic baseline they face."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution

from plausible.distributions import DiagonalGaussianHead, StandardNormalPrior, make_likelihood
from plausible.distributions.heads import DistributionHead, ScaleMode
from plausible.models._validation import (
    apply_head,
    check_batch,
    check_count,
    check_finite,
    check_tensor,
)
from plausible.nn import MLP, ConvEncoder
from plausible.nn.conv import downsampled_sizes
from plausible.nn.mlp import Activation, make_activation
from plausible.registry import MODELS

__all__ = [
    "CVAE",
    "BaselineOutput",
    "CVAEOutput",
    "ConditionalBaseline",
    "JointMLP",
    "MultiScaleConvDecoder",
    "OutputCanvas",
]

Likelihood = Literal["bernoulli", "continuous_bernoulli", "gaussian", "laplace"]


def _shape(shape: Sequence[int], what: str) -> tuple[int, ...]:
    out = tuple(int(s) for s in shape)
    if not out or any(s <= 0 for s in out):
        raise ValueError(f"{what} must be a non-empty tuple of positive sizes, got {shape!r}")
    return out


def _check_pair(x: Tensor, y: Tensor, model: str) -> None:
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{model} got {x.shape[0]} inputs x {tuple(x.shape)} but {y.shape[0]} targets y "
            f"{tuple(y.shape)}; x and y must hold the same examples in the same order"
        )


class JointMLP(nn.Module):
    """An MLP on ``concat(a, b)`` whose first layer is split into one map per input.

    ``b`` may carry extra leading dimensions (e.g. ``(S, B, D)`` latent samples against ``(B, A)``
    inputs): the first layer broadcasts, so the ``a`` part is computed once, not once per sample.

    Args:
        a_dim: Features of the first input.
        b_dim: Features of the second input.
        out_dim: Output size.
        hidden_dims: Hidden widths; ``()`` gives a single (split) linear map.
        activation: Non-linearity between layers.
    """

    def __init__(
        self,
        a_dim: int,
        b_dim: int,
        out_dim: int,
        hidden_dims: Sequence[int] = (500, 500),
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        hidden = [int(h) for h in hidden_dims]
        first = hidden[0] if hidden else int(out_dim)
        self.a_dim, self.b_dim, self.out_dim = int(a_dim), int(b_dim), int(out_dim)
        self.a_map = nn.Linear(self.a_dim, first)
        self.b_map = nn.Linear(self.b_dim, first, bias=False)
        self.rest: nn.Module = (
            nn.Sequential(make_activation(activation), MLP(first, out_dim, hidden[1:], activation))
            if hidden
            else nn.Identity()
        )

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """``a``: ``(..., a_dim)``, ``b``: ``(..., b_dim)`` broadcastable -> ``(..., out_dim)``."""
        return self.rest(self.a_map(a) + self.b_map(b))


def _rect_mask(height: int, width: int, regions: Sequence[Sequence[int]]) -> Tensor:
    mask = torch.zeros(height, width, dtype=torch.bool)
    for region in regions:
        if len(region) != 4:
            raise ValueError(f"an output region is (top, left, height, width), got {list(region)}")
        top, left, h, w = (int(v) for v in region)
        if top < 0 or left < 0 or h < 1 or w < 1 or top + h > height or left + w > width:
            raise ValueError(
                f"output region (top={top}, left={left}, height={h}, width={w}) does not lie "
                f"inside the {height} x {width} canvas"
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
        shape = _shape(canvas_shape, "canvas_shape")
        if len(shape) != 3:
            raise ValueError(f"canvas_shape must be (C, H, W), got {shape}")
        c, h, w = shape
        self.canvas_shape = shape
        mask = (
            _rect_mask(h, w, regions) if regions is not None else torch.ones(h, w, dtype=torch.bool)
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
        return getattr(self, f"index_{level}")

    def _mask(self) -> Tensor:
        return self.get_buffer("mask")

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
        mask = self._mask().to(canvas.dtype)
        for _ in range(level):
            canvas, mask = _pool(canvas), _pool(mask)
        mean = canvas / mask.clamp_min(1e-12)
        return mean.flatten(-3)[..., self._index(level)]


class MultiScaleConvDecoder(nn.Module):
    """Transposed-convolution decoder that also predicts at 1/2, 1/4, ... of the full resolution.

    The coarse outputs are 1x1 convolutions of the intermediate feature maps, so every scale
    shares the layers below it (coarse-to-fine prediction, Sohn et al., 2015, section 4.2).

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
        c, h, w = _shape(out_shape, "out_shape")
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
        hs, ws = downsampled_sizes(h, n)[::-1], downsampled_sizes(w, n)[::-1]
        self.start = (chans[0], hs[0], ws[0])
        self.linear = nn.Sequential(
            nn.Linear(int(in_dim), math.prod(self.start)), make_activation(activation)
        )
        self.deconvs = nn.ModuleList()
        outs = [*chans[1:], c]
        prev = chans[0]
        for i, ch in enumerate(outs):
            pad = (hs[i + 1] - 2 * hs[i] + 1, ws[i + 1] - 2 * ws[i] + 1)
            self.deconvs.append(
                nn.ConvTranspose2d(prev, ch, 3, stride=2, padding=1, output_padding=pad)
            )
            prev = ch
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


def _encoder(
    shape: tuple[int, ...], out_dim: int, channels: Sequence[int], activation: Activation
) -> nn.Module:
    """Conv encoder for images, one linear layer for vectors; both end in the activation."""
    if len(shape) == 3:
        return nn.Sequential(
            ConvEncoder(shape, out_dim, channels, activation), make_activation(activation)
        )
    return nn.Sequential(
        nn.Flatten(), nn.Linear(math.prod(shape), out_dim), make_activation(activation)
    )


def _make_canvas(
    y_shape: tuple[int, ...],
    canvas_shape: Sequence[int] | None,
    output_regions: Sequence[Sequence[int]] | None,
    num_scales: int,
    model: str,
) -> OutputCanvas | None:
    if canvas_shape is None:
        if output_regions is not None:
            raise ValueError(f"{model}: output_regions need a canvas_shape (C, H, W) to lie on")
        if len(y_shape) != 3:
            return None
        canvas_shape = y_shape
    canvas = OutputCanvas(canvas_shape, output_regions, num_scales)
    if canvas.size != math.prod(y_shape):
        raise ValueError(
            f"{model}: y_shape {y_shape} holds {math.prod(y_shape)} values but the output regions "
            f"of the {tuple(canvas_shape)} canvas hold {canvas.size}; they must match"
        )
    return canvas


class _ConditionalGenerator(nn.Module):
    """Shared plumbing: the likelihood head, the canvas and the (multi-scale) output decoder."""

    def _setup_outputs(
        self,
        *,
        model: str,
        y_shape: tuple[int, ...],
        likelihood: str,
        likelihood_scale: ScaleMode,
        likelihood_init_scale: float,
        architecture: str,
        canvas_shape: Sequence[int] | None,
        output_regions: Sequence[Sequence[int]] | None,
        multiscale: bool,
    ) -> None:
        if architecture not in ("mlp", "conv"):
            raise ValueError(f"{model}: architecture must be 'mlp' or 'conv', got {architecture!r}")
        if multiscale and architecture != "conv":
            raise ValueError(
                f"{model}: multiscale=True needs architecture='conv' (it predicts images)"
            )
        self.num_scales = 3 if multiscale else 1
        self.canvas = _make_canvas(y_shape, canvas_shape, output_regions, self.num_scales, model)
        if architecture == "conv" and self.canvas is None:
            raise ValueError(
                f"{model}: architecture='conv' needs y to be an image: give y_shape=(C, H, W) or a "
                "canvas_shape (and output_regions) that y's values come from; use 'mlp' otherwise"
            )
        self.likelihood: DistributionHead = make_likelihood(
            likelihood, y_shape, scale=likelihood_scale, init_scale=likelihood_init_scale
        )
        self.coarse_likelihoods = nn.ModuleList(
            make_likelihood(
                likelihood, (n,), scale=likelihood_scale, init_scale=likelihood_init_scale
            )
            for n in (self.canvas.sizes[1:] if self.canvas is not None else [])
        )

    def _heads(
        self, raw: Tensor | list[Tensor], **inputs: Tensor
    ) -> tuple[Distribution, tuple[Distribution, ...]]:
        """Raw network output -> p(y | ...) and the coarse-scale distributions.

        ``inputs`` (by argument name) are blamed when the parameters are not finite.
        """
        return apply_head(self._raw_heads, raw, "generation network", **inputs)

    def _raw_heads(
        self, raw: Tensor | list[Tensor]
    ) -> tuple[Distribution, tuple[Distribution, ...]]:
        if isinstance(raw, Tensor):
            return self.likelihood(raw), ()
        assert self.canvas is not None
        p = self.likelihood.num_params
        p_y = self.likelihood(self.canvas.gather(raw[0], p))
        coarse = tuple(
            head(self.canvas.gather(r, p, level=k))
            for k, (head, r) in enumerate(
                zip(self.coarse_likelihoods, raw[1:], strict=True), start=1
            )
        )
        return p_y, coarse

    def coarse_targets(self, y: Tensor) -> tuple[Tensor, ...]:
        """Targets of the coarse outputs: ``y`` averaged over each cell at 1/2, 1/4, ... scale."""
        if self.canvas is None or self.num_scales == 1:
            return ()
        return tuple(self.canvas.targets(y, k) for k in range(1, self.num_scales))


@dataclass
class CVAEOutput:
    """One pass of a CVAE on a batch.

    Attributes:
        p_z: Prior p(z|x), batch shape ``(B,)``, event ``(latent_dim,)``.
        q_z: Recognition q(z|x,y), batch ``(B,)``; ``None`` when ``z`` came from the prior (GSNN).
        z: ``(L, B, latent_dim)`` reparameterised samples (from ``q_z``, else from ``p_z``).
        p_y: Generation p(y|x,z), batch shape ``(L, B)``, event ``y_shape``.
        p_y_scales: Coarse predictions (1/2, 1/4 resolution), batch ``(L, B)``; multi-scale only.
        y_scales: Their targets, each ``(B, n_k)``.
    """

    p_z: Distribution
    q_z: Distribution | None
    z: Tensor
    p_y: Distribution
    p_y_scales: tuple[Distribution, ...] = ()
    y_scales: tuple[Tensor, ...] = ()


@MODELS.register("cvae")
class CVAE(_ConditionalGenerator):
    """Conditional VAE with recognition q(z|x,y), prior p(z|x) and generation p(y|x,z) networks.

    Trained with ``cvae_loss`` it is the CVAE, with ``gsnn_loss`` the Gaussian stochastic neural
    network (GSNN), with ``hybrid_loss`` the hybrid of the two. With ``prior="standard"`` the prior
    is a fixed N(0, I) and the model is the label-conditional VAE of many lecture notes. The
    generation network always sees ``x`` as well as ``z``.

    Args:
        x_shape: Shape of one input, e.g. ``(1, 28, 28)`` (an image) or ``(10,)`` (a one-hot label).
        y_shape: Shape of one target, e.g. ``(588,)`` (flat pixels) or ``(1, 28, 28)``.
        latent_dim: Number of latent dimensions.
        hidden_dims: Hidden widths of every network (after the input encoders for ``conv``).
        architecture: ``mlp``, or ``conv`` (convolutional input encoders for image inputs and a
            transposed-convolution generator; y must lie on an image canvas).
        conv_channels: Channels of the convolutional encoders; the generator mirrors them.
        feature_dim: ``conv`` only: features produced by each input encoder.
        prior: ``learned`` p(z|x), or ``standard`` N(0, I) independent of x.
        recognition_net: Build q(z|x,y); a pure GSNN does not need it (no importance sampling then).
        share_trunk: Prior and generation networks share their first (input-encoding) layers.
        likelihood: Observation model of y: ``bernoulli`` (cross-entropy, also for grey levels),
            ``continuous_bernoulli``, ``gaussian`` or ``laplace``.
        likelihood_scale: For ``gaussian`` / ``laplace``: ``fixed``, ``shared`` or ``per_dim``.
        likelihood_init_scale: Initial (or fixed) scale of a ``gaussian`` / ``laplace`` likelihood.
        canvas_shape: ``(C, H, W)`` image that y's values come from (default: ``y_shape`` if 3-D).
        output_regions: Rectangles ``(top, left, height, width)`` of the canvas that y holds,
            in raster order; ``None`` for the whole canvas.
        multiscale: ``conv`` only: also predict y at 1/2 and 1/4 resolution, each with its own loss.
        activation: Non-linearity of the hidden layers.
        min_scale: Floor on the standard deviations of q(z|x,y) and p(z|x).

    References:
        Sohn, K., Lee, H. and Yan, X. "Learning Structured Output Representation using Deep
        Conditional Generative Models." NeurIPS 2015.
    """

    def __init__(
        self,
        x_shape: Sequence[int] = (784,),
        y_shape: Sequence[int] = (784,),
        *,
        latent_dim: int = 32,
        hidden_dims: Sequence[int] = (500, 500),
        architecture: Literal["mlp", "conv"] = "mlp",
        conv_channels: Sequence[int] = (32, 64, 128),
        feature_dim: int = 256,
        prior: Literal["learned", "standard"] = "learned",
        recognition_net: bool = True,
        share_trunk: bool = False,
        likelihood: Likelihood = "bernoulli",
        likelihood_scale: ScaleMode = "fixed",
        likelihood_init_scale: float = 1.0,
        canvas_shape: Sequence[int] | None = None,
        output_regions: Sequence[Sequence[int]] | None = None,
        multiscale: bool = False,
        activation: Activation = "relu",
        min_scale: float = 1e-4,
    ) -> None:
        super().__init__()
        name = "CVAE"
        self.x_shape = _shape(x_shape, "x_shape")
        self.y_shape = _shape(y_shape, "y_shape")
        self.latent_dim = int(latent_dim)
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        if prior not in ("learned", "standard"):
            raise ValueError(f"prior must be 'learned' or 'standard', got {prior!r}")
        hidden = tuple(int(h) for h in hidden_dims)
        if share_trunk and prior == "standard":
            raise ValueError(
                "share_trunk=True shares layers with a learned prior; use prior='learned'"
            )
        if share_trunk and architecture == "mlp" and not hidden:
            raise ValueError("share_trunk=True needs at least one hidden layer to share")
        self._setup_outputs(
            model=name,
            y_shape=self.y_shape,
            likelihood=likelihood,
            likelihood_scale=likelihood_scale,
            likelihood_init_scale=likelihood_init_scale,
            architecture=architecture,
            canvas_shape=canvas_shape,
            output_regions=output_regions,
            multiscale=multiscale,
        )
        self.architecture = architecture
        self.multiscale = bool(multiscale)
        x_dim, y_dim = math.prod(self.x_shape), math.prod(self.y_shape)
        z_dim = self.latent_dim
        self.prior_head = DiagonalGaussianHead((z_dim,), min_scale=min_scale)
        self.posterior_head = DiagonalGaussianHead((z_dim,), min_scale=min_scale)
        gen_out = self.likelihood.param_size
        self.trunk: nn.Module | None = None
        self.prior_encoder: nn.Module | None = None
        self.prior_net: nn.Module
        self.generation_encoder: nn.Module | None = None
        self.decoder: nn.Module | None = None
        if architecture == "mlp":
            if share_trunk:
                self.trunk = nn.Sequential(
                    nn.Flatten(), nn.Linear(x_dim, hidden[0]), make_activation(activation)
                )
                feat, rest = hidden[0], hidden[1:]
            else:
                feat, rest = x_dim, hidden
            self.generation_net = JointMLP(feat, z_dim, gen_out, rest, activation)
            prior_in, prior_hidden = feat, rest
        else:
            assert self.canvas is not None
            feat = int(feature_dim)
            if share_trunk:
                self.trunk = _encoder(self.x_shape, feat, conv_channels, activation)
            else:
                if prior == "learned":
                    self.prior_encoder = _encoder(self.x_shape, feat, conv_channels, activation)
                self.generation_encoder = _encoder(self.x_shape, feat, conv_channels, activation)
            self.generation_net = JointMLP(feat, z_dim, feat, hidden, activation)
            c, h, w = self.canvas.canvas_shape
            self.decoder = nn.Sequential(
                make_activation(activation),
                MultiScaleConvDecoder(
                    feat,
                    (self.likelihood.num_params * c, h, w),
                    tuple(conv_channels)[::-1],
                    activation,
                    self.num_scales,
                ),
            )
            prior_in, prior_hidden = feat, hidden
        if prior == "learned":
            self.prior_net = MLP(prior_in, self.prior_head.param_size, prior_hidden, activation)
        else:
            self.prior_net = StandardNormalPrior(z_dim)
        self.prior_kind = prior
        self.recognition_x: nn.Module | None = None
        self.recognition_y: nn.Module | None = None
        self.recognition_net: nn.Module | None = None
        if recognition_net:
            if architecture == "mlp":
                self.recognition_net = JointMLP(
                    x_dim, y_dim, self.posterior_head.param_size, hidden, activation
                )
            else:
                assert self.canvas is not None
                self.recognition_x = _encoder(self.x_shape, feat, conv_channels, activation)
                self.recognition_y = _encoder(
                    self.canvas.canvas_shape, feat, conv_channels, activation
                )
                self.recognition_net = JointMLP(
                    feat, feat, self.posterior_head.param_size, hidden, activation
                )

    @property
    def has_recognition(self) -> bool:
        """Whether q(z|x,y) exists (``False`` for a pure GSNN built with ``recognition_net=False``)."""
        return self.recognition_net is not None

    # -- the three networks ---------------------------------------------------------------------
    def _check_x(self, x: Tensor, where: str) -> Tensor:
        return check_batch(x, self.x_shape, "x", f"CVAE.{where}", self)

    def _check_y(self, y: Tensor, where: str) -> Tensor:
        return check_batch(y, self.y_shape, "y", f"CVAE.{where}", self)

    def _prior_features(self, x: Tensor) -> Tensor:
        if self.trunk is not None:
            return self.trunk(x)
        if self.prior_encoder is not None:
            return self.prior_encoder(x)
        return x.flatten(1)

    def _generation_features(self, x: Tensor) -> Tensor:
        if self.trunk is not None:
            return self.trunk(x)
        if self.generation_encoder is not None:
            return self.generation_encoder(x)
        return x.flatten(1)

    def prior(self, x: Tensor) -> Distribution:
        """Prior p(z|x) for ``x`` of shape ``(B, *x_shape)``; batch shape ``(B,)``."""
        x = self._check_x(x, "prior")
        if self.prior_kind == "standard":
            return self.prior_net().expand((x.shape[0],))
        return self._learned_prior(self.prior_net(self._prior_features(x)), x)

    def _learned_prior(self, raw: Tensor, x: Tensor) -> Distribution:
        return apply_head(self.prior_head, raw, "prior network", x=x)

    def recognize(self, x: Tensor, y: Tensor) -> Distribution:
        """Recognition q(z|x,y); batch shape ``(B,)``."""
        if self.recognition_net is None:
            raise ValueError(
                "this CVAE was built with recognition_net=False (a pure GSNN), so q(z|x,y) does "
                "not exist; build it with recognition_net=True to train the CVAE bound or use "
                "importance sampling"
            )
        x, y = self._check_x(x, "recognize"), self._check_y(y, "recognize")
        _check_pair(x, y, "CVAE")
        if (
            self.recognition_x is not None
            and self.recognition_y is not None
            and self.canvas is not None
        ):
            hx = self.recognition_x(x)
            hy = self.recognition_y(self.canvas.scatter(y.flatten(1)))
            raw = self.recognition_net(hx, hy)
        else:
            raw = self.recognition_net(x.flatten(1), y.flatten(1))
        return apply_head(self.posterior_head, raw, "recognition network", x=x, y=y)

    def _generate(
        self, features: Tensor, z: Tensor, x: Tensor
    ) -> tuple[Distribution, tuple[Distribution, ...]]:
        if z.dim() < 2 or z.shape[-1] != self.latent_dim or z.shape[-2] != features.shape[0]:
            raise ValueError(
                f"CVAE expects z of shape (..., B={features.shape[0]}, "
                f"latent_dim={self.latent_dim}) for {features.shape[0]} inputs x, got "
                f"{tuple(z.shape)}; draw z from prior(x) or recognize(x, y)"
            )
        h = self.generation_net(features, z)
        return self._heads(h if self.decoder is None else self.decoder(h), x=x, z=z)

    def generate(self, x: Tensor, z: Tensor) -> Distribution:
        """Generation p(y|x,z) for ``x`` ``(B, *x_shape)`` and ``z`` ``(..., B, latent_dim)``.

        Returns:
            Distribution with batch shape ``(..., B)`` and event shape ``y_shape``.
        """
        x = check_finite(self._check_x(x, "generate"), "x")
        z = check_finite(check_tensor(z, "z", "CVAE.generate", self), "z")
        return self._generate(self._generation_features(x), z, x)[0]

    # -- training pass ----------------------------------------------------------------------------
    def forward(
        self,
        x: Tensor,
        y: Tensor,
        *,
        latent: Literal["posterior", "prior"] = "posterior",
        num_samples: int = 1,
    ) -> CVAEOutput:
        """Draw ``L`` reparameterised latents and score the generation network.

        Args:
            x: ``(B, *x_shape)`` inputs.
            y: ``(B, *y_shape)`` targets.
            latent: Draw z from ``posterior`` q(z|x,y) (CVAE) or from the ``prior`` p(z|x) (GSNN).
            num_samples: L, latent samples per example.
        """
        if latent not in ("posterior", "prior"):
            raise ValueError(f"latent must be 'posterior' or 'prior', got {latent!r}")
        return self._passes(x, y, (latent,), num_samples)[0]

    def forward_pair(
        self, x: Tensor, y: Tensor, *, num_samples: int = 1
    ) -> tuple[CVAEOutput, CVAEOutput]:
        """``forward`` with z from q(z|x,y) and with z from p(z|x), sharing x's features and p(z|x).

        What the hybrid objective needs, at the cost of one extra generation pass rather than a
        second full forward pass.
        """
        posterior, prior = self._passes(x, y, ("posterior", "prior"), num_samples)
        return posterior, prior

    def _passes(
        self, x: Tensor, y: Tensor, latents: tuple[str, ...], num_samples: int
    ) -> list[CVAEOutput]:
        x, y = self._check_x(x, "forward"), self._check_y(y, "forward")
        _check_pair(x, y, "CVAE")
        num_samples = check_count(num_samples, "num_samples", "CVAE.forward", minimum=1)
        features = self._generation_features(x)
        if self.trunk is not None and self.prior_kind == "learned":
            p_z = self._learned_prior(self.prior_net(features), x)  # the shared trunk runs once
        else:
            p_z = self.prior(x)
        y_scales = self.coarse_targets(y)
        outs = []
        for latent in latents:
            q_z = self.recognize(x, y) if latent == "posterior" else None
            z = (q_z if q_z is not None else p_z).rsample((num_samples,))
            p_y, coarse = self._generate(features, z, x)
            outs.append(
                CVAEOutput(
                    p_z=p_z,
                    q_z=q_z,
                    z=z,
                    p_y=p_y,
                    p_y_scales=coarse,
                    y_scales=y_scales if coarse else (),
                )
            )
        return outs

    # -- inference ---------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, x: Tensor, num_samples: int, *, mean: bool = True) -> Tensor:
        """Plausible outputs for each input: z ~ p(z|x), then y from p(y|x,z).

        Args:
            x: ``(B, *x_shape)`` inputs.
            num_samples: S hypotheses per input.
            mean: Return the mean of p(y|x,z) (what is usually shown) rather than a draw from it.

        Returns:
            ``(S, B, *y_shape)``.
        """
        x = self._check_x(x, "sample")
        num_samples = check_count(num_samples, "num_samples", "CVAE.sample")
        z = self.prior(x).sample((num_samples,))
        p_y = self.generate(x, z)
        return p_y.mean if mean else p_y.sample()

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """Deterministic inference: the mean of p(y | x, z*) with z* = E[z|x]; ``(B, *y_shape)``."""
        x = self._check_x(x, "predict")
        return self.generate(x, self.prior(x).mean).mean

    @torch.no_grad()
    def conditional_mean(self, x: Tensor, num_samples: int = 100) -> Tensor:
        """E[y|x] by averaging the means of p(y|x,z) over S prior draws; ``(B, *y_shape)``."""
        return self.sample(x, num_samples).mean(0)


@dataclass
class BaselineOutput:
    """One pass of the deterministic baseline.

    Attributes:
        p_y: p(y|x), batch shape ``(B,)``, event ``y_shape``.
        p_y_scales: Coarse predictions (multi-scale only), batch ``(B,)``.
        y_scales: Their targets, each ``(B, n_k)``.
    """

    p_y: Distribution
    p_y_scales: tuple[Distribution, ...] = ()
    y_scales: tuple[Tensor, ...] = ()


@MODELS.register("conditional-baseline")
class ConditionalBaseline(_ConditionalGenerator):
    """The deterministic network of Sohn et al. (2015): y's distribution from x alone, no latent.

    With a Bernoulli likelihood and sigmoid outputs its ``-log p(y|x)`` is the summed
    cross-entropy of the target pixels, directly comparable with a CVAE's conditional likelihood.
    Takes the same shape arguments as :class:`CVAE` so one task fills both.

    Args:
        x_shape: Shape of one input.
        y_shape: Shape of one target.
        hidden_dims: Hidden widths (after the input encoder for ``conv``).
        architecture: ``mlp`` or ``conv`` (as in :class:`CVAE`).
        conv_channels: Channels of the convolutional encoder; the generator mirrors them.
        feature_dim: ``conv`` only: features of the input encoder.
        likelihood: Observation model of y.
        likelihood_scale: For ``gaussian`` / ``laplace``: ``fixed``, ``shared`` or ``per_dim``.
        likelihood_init_scale: Initial (or fixed) scale of a ``gaussian`` / ``laplace`` likelihood.
        canvas_shape: ``(C, H, W)`` image that y's values come from.
        output_regions: Rectangles of the canvas that y holds.
        multiscale: ``conv`` only: also predict at 1/2 and 1/4 resolution.
        activation: Non-linearity of the hidden layers.

    References:
        Sohn, K., Lee, H. and Yan, X. "Learning Structured Output Representation using Deep
        Conditional Generative Models." NeurIPS 2015.
    """

    def __init__(
        self,
        x_shape: Sequence[int] = (784,),
        y_shape: Sequence[int] = (784,),
        *,
        hidden_dims: Sequence[int] = (500, 500),
        architecture: Literal["mlp", "conv"] = "mlp",
        conv_channels: Sequence[int] = (32, 64, 128),
        feature_dim: int = 256,
        likelihood: Likelihood = "bernoulli",
        likelihood_scale: ScaleMode = "fixed",
        likelihood_init_scale: float = 1.0,
        canvas_shape: Sequence[int] | None = None,
        output_regions: Sequence[Sequence[int]] | None = None,
        multiscale: bool = False,
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        self.x_shape = _shape(x_shape, "x_shape")
        self.y_shape = _shape(y_shape, "y_shape")
        self._setup_outputs(
            model="ConditionalBaseline",
            y_shape=self.y_shape,
            likelihood=likelihood,
            likelihood_scale=likelihood_scale,
            likelihood_init_scale=likelihood_init_scale,
            architecture=architecture,
            canvas_shape=canvas_shape,
            output_regions=output_regions,
            multiscale=multiscale,
        )
        self.architecture = architecture
        self.multiscale = bool(multiscale)
        x_dim = math.prod(self.x_shape)
        self.decoder: nn.Module | None = None
        if architecture == "mlp":
            self.net: nn.Module = MLP(x_dim, self.likelihood.param_size, hidden_dims, activation)
        else:
            assert self.canvas is not None
            feat = int(feature_dim)
            c, h, w = self.canvas.canvas_shape
            self.net = nn.Sequential(
                _encoder(self.x_shape, feat, conv_channels, activation),
                MLP(feat, feat, hidden_dims, activation),
            )
            self.decoder = nn.Sequential(
                make_activation(activation),
                MultiScaleConvDecoder(
                    feat,
                    (self.likelihood.num_params * c, h, w),
                    tuple(conv_channels)[::-1],
                    activation,
                    self.num_scales,
                ),
            )

    def _outputs(
        self, x: Tensor, where: str
    ) -> tuple[Tensor, Distribution, tuple[Distribution, ...]]:
        """Checked ``x``, p(y|x) and the coarse predictions."""
        x = check_batch(x, self.x_shape, "x", f"ConditionalBaseline.{where}", self)
        check_finite(x, "x")
        h = self.net(x.flatten(1) if self.architecture == "mlp" else x)
        p_y, coarse = self._heads(h if self.decoder is None else self.decoder(h), x=x)
        return x, p_y, coarse

    def predictive(self, x: Tensor) -> Distribution:
        """p(y|x) for ``x`` of shape ``(B, *x_shape)``; batch shape ``(B,)``."""
        return self._outputs(x, "predictive")[1]

    def forward(self, x: Tensor, y: Tensor | None = None) -> BaselineOutput:
        """p(y|x), plus coarse predictions and their targets when multi-scale and ``y`` given."""
        x, p_y, coarse = self._outputs(x, "forward")
        if y is None or not coarse:
            return BaselineOutput(p_y=p_y)
        y = check_batch(y, self.y_shape, "y", "ConditionalBaseline.forward", self)
        _check_pair(x, y, "ConditionalBaseline")
        return BaselineOutput(p_y=p_y, p_y_scales=coarse, y_scales=self.coarse_targets(y))

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """The network's prediction, the mean of p(y|x); ``(B, *y_shape)``."""
        return self._outputs(x, "predict")[1].mean

    @torch.no_grad()
    def sample(self, x: Tensor, num_samples: int, *, mean: bool = True) -> Tensor:
        """``(S, B, *y_shape)``: the prediction repeated (``mean``) or draws from p(y|x)."""
        p_y = self._outputs(x, "sample")[1]
        num_samples = check_count(num_samples, "num_samples", "ConditionalBaseline.sample")
        if mean:
            return p_y.mean.expand(num_samples, *p_y.mean.shape).clone()
        return p_y.sample((num_samples,))
