"""The deterministic conditional network of Sohn et al. (2015): p(y|x) from x alone, no latent."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from plausible.distributions.heads import ScaleMode
from plausible.models._conditional import (
    ConditionalGenerator,
    Likelihood,
    check_pair,
    input_encoder,
    positive_shape,
)
from plausible.models._validation import check_batch, check_count, check_finite
from plausible.nn import MLP, MultiScaleConvDecoder
from plausible.nn.mlp import Activation, make_activation
from plausible.registry import MODELS

__all__ = ["BaselineOutput", "ConditionalBaseline"]


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
class ConditionalBaseline(ConditionalGenerator):
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
        self.x_shape = positive_shape(x_shape, "x_shape")
        self.y_shape = positive_shape(y_shape, "y_shape")
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
                input_encoder(self.x_shape, feat, conv_channels, activation),
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
        check_pair(x, y, "ConditionalBaseline")
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
