"""Dense prediction with uncertainty: a U-Net conditional VAE (Probabilistic U-Net or UC-Net style)
and its deterministic U-Net baseline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from plausible.distributions import DiagonalGaussianHead, StandardNormalPrior, make_likelihood
from plausible.distributions.heads import DistributionHead
from plausible.models._conditional import Likelihood, check_pair, positive_shape
from plausible.models._validation import apply_head, check_batch, check_count, check_finite
from plausible.models.baseline import BaselineOutput
from plausible.models.cvae import CVAEOutput, LatentPasses
from plausible.nn import DownEncoder, FeatureExpanding, LatentInjection, UNet, pointwise_head
from plausible.nn.mlp import Activation, make_activation
from plausible.registry import MODELS

__all__ = ["DenseBaseline", "DenseCVAE"]

Style = Literal["prob-unet", "ucnet"]


def _image_shapes(
    x_shape: Sequence[int], y_shape: Sequence[int], model: str
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    xs, ys = positive_shape(x_shape, "x_shape"), positive_shape(y_shape, "y_shape")
    if len(xs) != 3 or len(ys) != 3 or xs[1:] != ys[1:]:
        raise ValueError(
            f"{model} maps an image x (C, H, W) to a map y (C', H, W) of the same height and "
            f"width; got x_shape {xs} and y_shape {ys}"
        )
    return xs, ys


def _raw_layout(raw: Tensor) -> Tensor:
    """``(..., P * C, H, W)`` network output -> ``(..., P * C * H * W)``: the head's layout, one
    block of ``C * H * W`` values per distribution parameter."""
    return raw.flatten(-3)


class _DenseOutputs(nn.Module):
    """Shared by both families: shapes, the U-Net feature extractor and the likelihood head."""

    likelihood: DistributionHead

    def _setup(
        self,
        model: str,
        x_shape: Sequence[int],
        y_shape: Sequence[int],
        channels: Sequence[int],
        feature_channels: int,
        likelihood: Likelihood,
        activation: Activation,
    ) -> None:
        self.model_name = model
        self.x_shape, self.y_shape = _image_shapes(x_shape, y_shape, model)
        if likelihood not in ("bernoulli", "continuous_bernoulli", "gaussian", "laplace"):
            raise ValueError(
                f"{model}: likelihood must be bernoulli, continuous_bernoulli, gaussian or "
                f"laplace, got {likelihood!r}"
            )
        self.likelihood = make_likelihood(likelihood, self.y_shape)
        self.feature_channels = check_count(feature_channels, "feature_channels", model, minimum=1)
        self.unet = UNet(
            self.x_shape[0], self.feature_channels, channels=tuple(channels), activation=activation
        )
        self.feature_activation = make_activation(activation)

    def _x(self, x: object, where: str) -> Tensor:
        return check_finite(
            check_batch(x, self.x_shape, "x", f"{self.model_name}.{where}", self), "x"
        )

    def _y(self, x: Tensor, y: object, where: str) -> Tensor:
        t = check_finite(check_batch(y, self.y_shape, "y", f"{self.model_name}.{where}", self), "y")
        check_pair(x, t, self.model_name)
        return t

    def _features(self, x: Tensor) -> Tensor:
        """U-Net features ``(B, F, H, W)``, after the activation (the U-Net ends linear)."""
        return self.feature_activation(self.unet(x))

    def _head(self, raw: Tensor, **inputs: Tensor) -> Distribution:
        return apply_head(self.likelihood, _raw_layout(raw), "output layer", **inputs)


@MODELS.register("dense-cvae")
class DenseCVAE(LatentPasses, _DenseOutputs):
    """U-Net conditional VAE: prior net p(z|x), posterior net q(z|x,y), dense p(y|x,z).

    A U-Net reads the image ``x`` into features ``(F, H, W)``. A global latent ``z`` (one vector per
    image) is drawn from p(z|x) (a convolutional encoder of x) or, in training, from q(z|x,y) (the
    same kind of encoder of x and y stacked on channels) and combined with the features at every
    pixel:

    - ``prob-unet`` (Kohl et al., 2018): z is tiled over the feature map and the two are combined
      by 1x1 convolutions (:class:`~plausible.nn.LatentInjection`);
    - ``ucnet`` (Zhang et al., 2020): "feature expanding": the tiled z plus a per-pixel noise map
      of learned scale, then channel attention over the stacked features and 1x1 convolutions
      (:class:`~plausible.nn.FeatureExpanding`). The noise map is part of the generation network,
      so ``generate(x, z)`` is then one draw of a distribution that also depends on that noise.

    Trained with ``cvae_loss`` it is the CVAE, with ``gsnn_loss`` the GSNN and with ``hybrid_loss``
    the hybrid (the objective UC-Net's public code trains). Each pixel of ``y`` is an independent
    Bernoulli (or another likelihood) given ``x`` and ``z``; all the dependence between pixels,
    such as which of several annotators' masks a sample follows, goes through ``z``.

    Args:
        x_shape: ``(C, H, W)`` input image.
        y_shape: ``(C', H, W)`` output map (one channel for a mask).
        latent_dim: Latent dimensions (the Probabilistic U-Net uses 6).
        style: ``prob-unet`` or ``ucnet``.
        channels: U-Net channels per level (also the prior and posterior encoders').
        feature_channels: Channels of the U-Net features the latent is combined with.
        combine_hidden: Hidden channels of the 1x1 combination layers.
        prior: ``learned`` p(z|x), or ``standard`` N(0, I).
        recognition_net: Build q(z|x,y); a pure GSNN does not need it.
        likelihood: Observation model of each output value.
        activation: Non-linearity of every network.
        min_scale: Floor on the standard deviations of q(z|x,y) and p(z|x).

    References:
        Kohl, S. et al. "A Probabilistic U-Net for Segmentation of Ambiguous Images." NeurIPS 2018.
        Zhang, J. et al. "UC-Net: Uncertainty Inspired RGB-D Saliency Detection via Conditional
        Variational Autoencoders." CVPR 2020.
        Sohn, K., Lee, H. and Yan, X. "Learning Structured Output Representation using Deep
        Conditional Generative Models." NeurIPS 2015.
    """

    def __init__(
        self,
        x_shape: Sequence[int] = (1, 32, 32),
        y_shape: Sequence[int] = (1, 32, 32),
        *,
        latent_dim: int = 6,
        style: Style = "prob-unet",
        channels: Sequence[int] = (16, 32, 64),
        feature_channels: int = 16,
        combine_hidden: Sequence[int] = (32, 32),
        prior: Literal["learned", "standard"] = "learned",
        recognition_net: bool = True,
        likelihood: Likelihood = "bernoulli",
        activation: Activation = "relu",
        min_scale: float = 1e-4,
    ) -> None:
        super().__init__()
        name = "DenseCVAE"
        if style not in ("prob-unet", "ucnet"):
            raise ValueError(f"{name}: style must be 'prob-unet' or 'ucnet', got {style!r}")
        if prior not in ("learned", "standard"):
            raise ValueError(f"{name}: prior must be 'learned' or 'standard', got {prior!r}")
        self._setup(name, x_shape, y_shape, channels, feature_channels, likelihood, activation)
        self.latent_dim = check_count(latent_dim, "latent_dim", name, minimum=1)
        self.style, self.prior_kind = style, prior
        self.prior_head = DiagonalGaussianHead((self.latent_dim,), min_scale=min_scale)
        self.posterior_head = DiagonalGaussianHead((self.latent_dim,), min_scale=min_scale)
        # Prior and posterior nets: the U-Net's contracting path, global average pooling and a
        # linear map to the Gaussian's parameters, as in the Probabilistic U-Net.
        widths = tuple(int(c) for c in channels)
        self.prior_net: nn.Module = (
            DownEncoder(
                self.x_shape[0], self.prior_head.param_size, channels=widths, activation=activation
            )
            if prior == "learned"
            else StandardNormalPrior(self.latent_dim)
        )
        self.recognition_net: nn.Module | None = (
            DownEncoder(
                self.x_shape[0] + self.y_shape[0],
                self.posterior_head.param_size,
                channels=widths,
                activation=activation,
            )
            if recognition_net
            else None
        )
        combine = LatentInjection if style == "prob-unet" else FeatureExpanding
        self.combine = combine(
            self.feature_channels,
            self.latent_dim,
            self.likelihood.num_params * self.y_shape[0],
            hidden=tuple(int(k) for k in combine_hidden),
            activation=activation,
        )

    @property
    def has_recognition(self) -> bool:
        """Whether q(z|x,y) exists; ``False`` for a GSNN built with ``recognition_net=False``."""
        return self.recognition_net is not None

    # -- the three networks ---------------------------------------------------------------------
    def _prior(self, x: Tensor) -> Distribution:
        if self.prior_kind == "standard":
            return self.prior_net().expand((x.shape[0],))
        return apply_head(self.prior_head, self.prior_net(x), "prior network", x=x)

    def _recognize(self, x: Tensor, y: Tensor) -> Distribution:
        if self.recognition_net is None:
            raise ValueError(
                "this DenseCVAE was built with recognition_net=False (a pure GSNN), so q(z|x,y) "
                "does not exist; build it with recognition_net=True"
            )
        raw = self.recognition_net(torch.cat([x, y.to(x.dtype)], dim=1))
        return apply_head(self.posterior_head, raw, "recognition network", x=x, y=y)

    def _generate(self, features: Tensor, x: Tensor, z: Tensor) -> Distribution:
        if z.dim() < 2 or z.shape[-1] != self.latent_dim or z.shape[-2] != x.shape[0]:
            raise ValueError(
                f"DenseCVAE expects z of shape (..., B={x.shape[0]}, latent_dim={self.latent_dim}) "
                f"for {x.shape[0]} images x, got {tuple(z.shape)}; draw z from prior(x) or "
                "recognize(x, y)"
            )
        return self._head(self.combine(features, z), x=x)

    def prior(self, x: Tensor) -> Distribution:
        """p(z|x) for ``x`` ``(B, C, H, W)``: batch ``(B,)``, event ``(latent_dim,)``."""
        return self._prior(self._x(x, "prior"))

    def recognize(self, x: Tensor, y: Tensor) -> Distribution:
        """q(z|x,y) for ``x`` ``(B, C, H, W)`` and ``y`` ``(B, C', H, W)``."""
        x = self._x(x, "recognize")
        return self._recognize(x, self._y(x, y, "recognize"))

    def generate(self, x: Tensor, z: Tensor) -> Distribution:
        """p(y|x,z) for ``z`` ``(..., B, latent_dim)``: batch ``(..., B)``, event ``y_shape``."""
        x = self._x(x, "generate")
        z = check_finite(z, "z")
        return self._generate(self._features(x), x, z)

    # -- training passes ------------------------------------------------------------------------
    def _passes(
        self, x: Tensor, y: Tensor, latents: tuple[str, ...], num_samples: int
    ) -> list[CVAEOutput]:
        x = self._x(x, "forward")
        y = self._y(x, y, "forward")
        num_samples = check_count(num_samples, "num_samples", "DenseCVAE.forward", minimum=1)
        features, p_z = self._features(x), self._prior(x)
        outs = []
        for latent in latents:
            q_z = self._recognize(x, y) if latent == "posterior" else None
            z = (q_z if q_z is not None else p_z).rsample((num_samples,))
            outs.append(CVAEOutput(p_z=p_z, q_z=q_z, z=z, p_y=self._generate(features, x, z)))
        return outs

    # -- inference ------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, x: Tensor, num_samples: int, *, mean: bool = True) -> Tensor:
        """``(S, B, *y_shape)`` maps: z ~ p(z|x), then the mean of (or a draw from) p(y|x,z).

        For a Bernoulli likelihood the mean is the per-pixel foreground probability.
        """
        x = self._x(x, "sample")
        num_samples = check_count(num_samples, "num_samples", "DenseCVAE.sample")
        p_y = self._generate(self._features(x), x, self._prior(x).sample((num_samples,)))
        return p_y.mean if mean else p_y.sample()


@MODELS.register("dense-baseline")
class DenseBaseline(_DenseOutputs):
    """The deterministic U-Net: one per-pixel distribution of y given x, no latent.

    With a Bernoulli likelihood it is the usual segmentation network trained with per-pixel
    cross-entropy. Trained on several annotators' masks it learns their pixel-wise average, so its
    thresholded prediction is one mask where the data have several.

    Args:
        x_shape: ``(C, H, W)`` input image.
        y_shape: ``(C', H, W)`` output map.
        channels: U-Net channels per level.
        feature_channels: Channels of the U-Net's last features.
        head_hidden: Hidden 1x1 convolutions between the features and the output; ``()`` is
            one 1x1 convolution. ``(32, 32)`` matches a :class:`DenseCVAE`'s default
            ``combine_hidden``: the same network without the latent.
        likelihood: Observation model of each output value.
        activation: Non-linearity.
    """

    def __init__(
        self,
        x_shape: Sequence[int] = (1, 32, 32),
        y_shape: Sequence[int] = (1, 32, 32),
        *,
        channels: Sequence[int] = (16, 32, 64),
        feature_channels: int = 16,
        head_hidden: Sequence[int] = (),
        likelihood: Likelihood = "bernoulli",
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        self._setup(
            "DenseBaseline", x_shape, y_shape, channels, feature_channels, likelihood, activation
        )
        self.output = pointwise_head(
            self.feature_channels,
            self.likelihood.num_params * self.y_shape[0],
            hidden=tuple(int(k) for k in head_hidden),
            activation=activation,
        )

    def _predict(self, x: Tensor) -> Distribution:
        return self._head(self.output(self._features(x)), x=x)

    def predictive(self, x: Tensor) -> Distribution:
        """p(y|x) for ``x`` ``(B, C, H, W)``: batch ``(B,)``, event ``y_shape``."""
        return self._predict(self._x(x, "predictive"))

    def forward(self, x: Tensor, y: Tensor | None = None) -> BaselineOutput:
        """p(y|x) (``y`` is only checked: the baseline's pass does not depend on it)."""
        x = self._x(x, "forward")
        if y is not None:
            self._y(x, y, "forward")
        return BaselineOutput(p_y=self._predict(x))

    @torch.no_grad()
    def sample(self, x: Tensor, num_samples: int, *, mean: bool = True) -> Tensor:
        """``(S, B, *y_shape)``: the prediction repeated (``mean``) or draws from p(y|x)."""
        p_y = self.predictive(x)
        num_samples = check_count(num_samples, "num_samples", "DenseBaseline.sample")
        if mean:
            return p_y.mean.expand(num_samples, *p_y.mean.shape).clone()
        return p_y.sample((num_samples,))
