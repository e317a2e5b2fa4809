"""Conditional VAE and GSNN (Sohn et al., 2015): prior p(z|x), recognition q(z|x,y), p(y|x,z)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from plausible.distributions import DiagonalGaussianHead, StandardNormalPrior
from plausible.distributions.heads import ScaleMode
from plausible.models._conditional import (
    ConditionalGenerator,
    Likelihood,
    check_pair,
    input_encoder,
    positive_shape,
)
from plausible.models._validation import (
    apply_head,
    check_batch,
    check_count,
    check_finite,
    check_tensor,
)
from plausible.nn import MLP, JointMLP, MultiScaleConvDecoder
from plausible.nn.mlp import Activation, make_activation
from plausible.registry import MODELS

__all__ = ["CVAE", "CVAEOutput", "LatentPasses"]


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


class LatentPasses:
    """``forward`` and ``forward_pair`` of a conditional latent model, from its ``_passes``.

    A family implements ``_passes(x, y, latents, num_samples)``: one pass over the batch that
    computes x's features and p(z|x) once and returns one :class:`CVAEOutput` per entry of
    ``latents`` (``"posterior"``: z from q(z|x,y); ``"prior"``: z from p(z|x)).
    """

    def _passes(
        self, x: Tensor, y: Tensor, latents: tuple[str, ...], num_samples: int
    ) -> list[CVAEOutput]:
        raise NotImplementedError

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

        Returns:
            :class:`CVAEOutput` with ``z`` ``(L, B, latent_dim)`` and ``p_y`` of batch ``(L, B)``.
        """
        if latent not in ("posterior", "prior"):
            raise ValueError(f"latent must be 'posterior' or 'prior', got {latent!r}")
        return self._passes(x, y, (latent,), num_samples)[0]

    def forward_pair(
        self, x: Tensor, y: Tensor, *, num_samples: int = 1
    ) -> tuple[CVAEOutput, CVAEOutput]:
        """``forward`` with z from q(z|x,y) and with z from p(z|x), sharing x's features, p(z|x)
        and any per-pass randomness: what the hybrid objective needs, at the cost of one extra
        generation pass rather than a second full forward pass."""
        posterior, prior = self._passes(x, y, ("posterior", "prior"), num_samples)
        return posterior, prior


@MODELS.register("cvae")
class CVAE(LatentPasses, ConditionalGenerator):
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
        self.x_shape = positive_shape(x_shape, "x_shape")
        self.y_shape = positive_shape(y_shape, "y_shape")
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
                self.trunk = input_encoder(self.x_shape, feat, conv_channels, activation)
            else:
                if prior == "learned":
                    self.prior_encoder = input_encoder(
                        self.x_shape, feat, conv_channels, activation
                    )
                self.generation_encoder = input_encoder(
                    self.x_shape, feat, conv_channels, activation
                )
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
                self.recognition_x = input_encoder(self.x_shape, feat, conv_channels, activation)
                self.recognition_y = input_encoder(
                    self.canvas.canvas_shape, feat, conv_channels, activation
                )
                self.recognition_net = JointMLP(
                    feat, feat, self.posterior_head.param_size, hidden, activation
                )

    @property
    def has_recognition(self) -> bool:
        """Whether q(z|x,y) exists; ``False`` for a GSNN built with ``recognition_net=False``."""
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
        check_pair(x, y, "CVAE")
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

    # -- training pass (forward and forward_pair come from LatentPasses) --------------------------
    def _passes(
        self, x: Tensor, y: Tensor, latents: tuple[str, ...], num_samples: int
    ) -> list[CVAEOutput]:
        x, y = self._check_x(x, "forward"), self._check_y(y, "forward")
        check_pair(x, y, "CVAE")
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
