"""The variational autoencoder (Kingma & Welling, 2014); beta-VAE is this model with elbo(beta=)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from plausible.distributions import DiagonalGaussianHead, StandardNormalPrior, make_likelihood
from plausible.distributions.heads import ScaleMode
from plausible.models._renamed import renamed_kwargs
from plausible.models._validation import (
    apply_head,
    check_batch,
    check_count,
    check_finite,
    check_tensor,
)
from plausible.nn import MLP, ConvDecoder, ConvEncoder
from plausible.nn.mlp import Activation
from plausible.registry import MODELS

__all__ = ["VAE", "VAEOutput", "check_sample_budget"]


def check_sample_budget(
    num_samples: int,
    x_shape: Sequence[int],
    memory_budget_mb: float,
    *,
    bytes_per_value: int = 4,
    count_name: str = "",
    budget_name: str = "memory_budget_mb",
) -> None:
    """Refuse ``num_samples`` samples of shape ``x_shape`` that would not fit the budget.

    Args:
        num_samples: The samples asked for.
        x_shape: Shape of one sample.
        memory_budget_mb: Budget in MiB for the samples themselves.
        bytes_per_value: Size of one value (4 for float32).
        count_name: How the caller spells the count in the advice, e.g. ``"-n "``.
        budget_name: How the caller spells the budget, e.g. ``"--memory-mb"``.

    Raises:
        ValueError: The budget is not a positive number, or the samples need more; the message
            names the largest count that fits.
    """
    if not memory_budget_mb > 0:  # also refuses NaN
        raise ValueError(
            f"the memory budget must be a positive number of MiB, not {memory_budget_mb}"
        )
    per_sample = math.prod(x_shape) * bytes_per_value
    fits = int(memory_budget_mb * 2**20 // per_sample)
    if num_samples > fits:
        raise ValueError(
            f"{num_samples} samples of shape {tuple(x_shape)} need "
            f"{num_samples * per_sample / 2**20:.0f} MiB, over the {budget_name} budget of "
            f"{memory_budget_mb:g} MiB; ask for at most {count_name}{fits} or raise "
            f"{budget_name}"
        )


@dataclass
class VAEOutput:
    """One pass of a VAE on a batch.

    Attributes:
        q_z: Posterior q(z|x), batch shape ``(B,)``, event ``(latent_dim,)``.
        p_z: Prior p(z), batch shape ``()``.
        z: ``(B, latent_dim)`` reparameterised sample from ``q_z``.
        p_x: Likelihood p(x|z), batch shape ``(B,)``, event ``x_shape``.
    """

    q_z: Distribution
    p_z: Distribution
    z: Tensor
    p_x: Distribution


@MODELS.register("vae")
@renamed_kwargs(min_posterior_scale="min_scale")  # the name in older config.json files
class VAE(nn.Module):
    """Gaussian-latent VAE with an MLP or convolutional encoder and decoder.

    Args:
        x_shape: Shape of one observation, e.g. ``(1, 28, 28)`` or ``(784,)``.
        latent_dim: Number of latent dimensions.
        hidden_dims: MLP hidden widths of the encoder; the decoder mirrors them.
        architecture: ``"mlp"`` or ``"conv"`` (needs ``x_shape == (C, H, W)``).
        conv_channels: Channels of the convolutional encoder; the decoder mirrors them.
        likelihood: Observation model: ``bernoulli``, ``continuous_bernoulli``, ``gaussian`` or
            ``laplace``.
        likelihood_scale: For ``gaussian`` / ``laplace``: ``fixed``, ``shared`` or ``per_dim``.
        likelihood_init_scale: Initial (or fixed) scale of a ``gaussian`` / ``laplace`` likelihood.
        activation: Non-linearity of the hidden layers.
        min_scale: Floor on the standard deviation of the posterior q(z|x) (also accepted under
            its old name ``min_posterior_scale``).

    References:
        Kingma, D. P. and Welling, M. "Auto-Encoding Variational Bayes." ICLR 2014.
        Higgins, I. et al. "beta-VAE: Learning Basic Visual Concepts with a Constrained Variational
        Framework." ICLR 2017.
    """

    def __init__(
        self,
        x_shape: Sequence[int] = (784,),
        *,
        latent_dim: int = 32,
        hidden_dims: Sequence[int] = (512, 256),
        architecture: Literal["mlp", "conv"] = "mlp",
        conv_channels: Sequence[int] = (32, 64, 128),
        likelihood: Literal[
            "bernoulli", "continuous_bernoulli", "gaussian", "laplace"
        ] = "bernoulli",
        likelihood_scale: ScaleMode = "fixed",
        likelihood_init_scale: float = 1.0,
        activation: Activation = "relu",
        min_scale: float = 1e-4,
    ) -> None:
        super().__init__()
        self.x_shape = tuple(int(s) for s in x_shape)
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int | numbers.Integral):
            raise TypeError(f"latent_dim must be an integer, got {latent_dim!r}")
        self.latent_dim = int(latent_dim)
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        if not min_scale > 0:
            raise ValueError(f"min_scale must be > 0, got {min_scale}")
        if architecture not in ("mlp", "conv"):
            raise ValueError(f"architecture must be 'mlp' or 'conv', got {architecture!r}")
        if architecture == "conv" and len(self.x_shape) != 3:
            raise ValueError(
                f"architecture='conv' needs x_shape=(C, H, W), got {self.x_shape}; "
                "use 'mlp' for vectors"
            )
        self.posterior_head = DiagonalGaussianHead((self.latent_dim,), min_scale=min_scale)
        self.likelihood = make_likelihood(
            likelihood, self.x_shape, scale=likelihood_scale, init_scale=likelihood_init_scale
        )
        x_dim = math.prod(self.x_shape)
        encoder_out = self.posterior_head.param_size
        decoder_out = self.likelihood.param_size
        self.encoder: nn.Module
        self.decoder: nn.Module
        if architecture == "mlp":
            self.encoder = MLP(x_dim, encoder_out, hidden_dims, activation)
            self.decoder = MLP(self.latent_dim, decoder_out, tuple(hidden_dims)[::-1], activation)
        else:
            c, h, w = self.x_shape
            per_pixel = self.likelihood.num_params * c
            self.encoder = ConvEncoder(self.x_shape, encoder_out, conv_channels, activation)
            self.decoder = nn.Sequential(
                ConvDecoder(
                    self.latent_dim, (per_pixel, h, w), tuple(conv_channels)[::-1], activation
                ),
                nn.Flatten(-3),
            )
        self.prior_net = StandardNormalPrior(self.latent_dim)

    def _check_x(self, x: Tensor, where: str = "forward") -> Tensor:
        return check_batch(x, self.x_shape, "x", f"VAE.{where}", self)

    def encode(self, x: Tensor) -> Distribution:
        """Posterior q(z|x) for ``x`` of shape ``(B, *x_shape)``; batch shape ``(B,)``."""
        x = self._check_x(x, "encode")
        # Flat for the MLP, so that an empty batch (B = 0) needs no shape inference there.
        h = self.encoder(x.flatten(1) if isinstance(self.encoder, MLP) else x)
        return apply_head(self.posterior_head, h, "encoder", x=x)

    def decode(self, z: Tensor) -> Distribution:
        """Likelihood p(x|z) for ``z`` of shape ``(..., latent_dim)``; batch shape ``(...)``."""
        z = check_tensor(z, "z", "VAE.decode", self)
        if z.dim() < 1 or z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"z must have shape (..., latent_dim={self.latent_dim}), got {tuple(z.shape)}"
            )
        check_finite(z, "z")
        return apply_head(self.likelihood, self.decoder(z), "decoder", z=z)

    def prior(self) -> Distribution:
        """Prior p(z) = N(0, I), batch shape ``()``."""
        return self.prior_net()

    def forward(self, x: Tensor) -> VAEOutput:
        """Encode ``x``, draw one reparameterised ``z`` and decode it."""
        x = self._check_x(x)
        q_z = self.encode(x)
        z = q_z.rsample()
        return VAEOutput(q_z=q_z, p_z=self.prior(), z=z, p_x=self.decode(z))

    @torch.no_grad()
    def sample(
        self,
        num_samples: int,
        *,
        mean: bool = True,
        memory_budget_mb: float | None = None,
        chunk_size: int = 1024,
    ) -> Tensor:
        """Draw ``z ~ p(z)`` and decode, ``chunk_size`` samples at a time.

        Args:
            num_samples: Number of samples N.
            mean: Return the mean of p(x|z) (what is usually shown) rather than a draw from it.
            memory_budget_mb: Refuse a request whose N samples alone would take more than this
                many MiB (``None``: no limit). Decoding in chunks keeps everything else small.
            chunk_size: Samples decoded together.

        Returns:
            ``(N, *x_shape)`` tensor.

        Raises:
            ValueError: Over the budget; the message names the largest N that fits.
        """
        num_samples = check_count(num_samples, "num_samples", "VAE.sample")
        chunk_size = check_count(chunk_size, "chunk_size", "VAE.sample", minimum=1)
        like = next(self.parameters())
        if memory_budget_mb is not None:
            check_sample_budget(
                num_samples,
                self.x_shape,
                memory_budget_mb,
                bytes_per_value=like.element_size(),
            )
        out = torch.empty((num_samples, *self.x_shape), dtype=like.dtype, device=like.device)
        for start in range(0, num_samples, chunk_size):
            z = self.prior().sample((min(chunk_size, num_samples - start),))
            p_x = self.decode(z)
            out[start : start + len(z)] = p_x.mean if mean else p_x.sample()
        return out

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Mean of p(x | z = E[z|x]) for ``x`` of shape ``(B, *x_shape)``."""
        return self.decode(self.encode(x).mean).mean
