"""Mixture density networks (Bishop 1994; Li & Lee 2019) and the least-squares baseline."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution, MixtureSameFamily, Normal

from plausible.distributions.independent import Independent
from plausible.distributions.mixture import (
    Covariance,
    GaussianMixtureHead,
    approximate_mode,
    tempered,
    top_hypotheses,
)
from plausible.models._validation import apply_head, check_count, check_tensor
from plausible.nn import MLP
from plausible.nn.mlp import Activation
from plausible.registry import MODELS

__all__ = ["MDN", "GaussianRegression", "ScaleModel"]

ScaleModel = Literal["homoscedastic", "heteroscedastic"]


def _inverse_softplus(y: float) -> float:
    return y + math.log(-math.expm1(-y))


def _check_x(x: object, x_dim: int, where: str, module: nn.Module) -> Tensor:
    t = check_tensor(x, "x", where, module)
    if t.dim() == 1 and x_dim == 1:
        return t.unsqueeze(-1)
    if t.dim() < 2 or t.shape[-1] != x_dim:
        raise ValueError(
            f"{where} expects inputs of shape (B, {x_dim}), got {tuple(t.shape)}; "
            "reshape the inputs or rebuild the model with the right x_dim"
        )
    return t


@MODELS.register("mdn")
class MDN(nn.Module):
    """Mixture density network: an MLP from ``x`` to a ``K``-component Gaussian mixture over ``y``.

    ``forward(x)`` returns ``p(y | x) = sum_k pi_k(x) N(y; mu_k(x), diag(sigma_k(x)^2))`` as a
    ``MixtureSameFamily``. Train it with the ``mdn_nll`` objective (optionally with Li & Lee's
    Dirichlet prior on the weights); summarise it with :meth:`mean`, :meth:`variance`,
    :meth:`approximate_mode`, :meth:`hypotheses`, :meth:`sample` and, for the true modes,
    :func:`plausible.metrics.mixture.mixture_modes`.

    Args:
        x_dim: Input dimension.
        y_dim: Target dimension ``D``.
        num_components: Mixture components ``K``.
        hidden_dims: Hidden widths of the MLP backbone.
        activation: Non-linearity of the backbone (Bishop used ``tanh``).
        covariance: ``isotropic`` (one scale per component) or ``diagonal``.
        min_scale: Floor on the component standard deviations, in target units.
        backbone: Optional module mapping ``(B, x_dim)`` to ``(B, backbone_dim)`` features, used
            instead of the MLP (``hidden_dims`` and ``activation`` are then ignored). It is not
            part of the saved config: rebuild it yourself before loading weights.
        backbone_dim: Feature size of ``backbone``.

    References:
        Bishop, C. M. "Mixture Density Networks." Technical report NCRG/94/004, Aston
        University, 1994.
        Bishop, C. M. "Pattern Recognition and Machine Learning." Springer, 2006, section 5.6.
        Li, C. and Lee, G. H. "Generating Multiple Hypotheses for 3D Human Pose Estimation with
        Mixture Density Network." CVPR 2019.
    """

    def __init__(
        self,
        x_dim: int = 1,
        y_dim: int = 1,
        *,
        num_components: int = 3,
        hidden_dims: Sequence[int] = (32, 32),
        activation: Activation = "tanh",
        covariance: Covariance = "isotropic",
        min_scale: float = 1e-3,
        backbone: nn.Module | None = None,
        backbone_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.x_dim = int(x_dim)
        self.y_dim = int(y_dim)
        self.num_components = int(num_components)
        self.hidden_dims = tuple(int(h) for h in hidden_dims)
        self.activation = activation
        self.head = GaussianMixtureHead(
            self.y_dim, self.num_components, covariance=covariance, min_scale=min_scale
        )
        if backbone is None:
            self.backbone: nn.Module = MLP(
                self.x_dim, self.head.param_size, self.hidden_dims, activation
            )
        else:
            if backbone_dim is None or backbone_dim < 1:
                raise ValueError(
                    f"a custom backbone needs backbone_dim (its output size), got {backbone_dim}"
                )
            self.backbone = nn.Sequential(backbone, nn.Linear(backbone_dim, self.head.param_size))

    @property
    def x_shape(self) -> tuple[int, ...]:
        """Shape of one input, ``(x_dim,)``."""
        return (self.x_dim,)

    @property
    def y_shape(self) -> tuple[int, ...]:
        """Shape of one target, ``(y_dim,)``."""
        return (self.y_dim,)

    def predictive(self, x: Tensor) -> MixtureSameFamily:
        """``p(y | x)``, the same as calling the model."""
        return self(x)

    def forward(self, x: Tensor) -> MixtureSameFamily:
        """``p(y | x)`` for ``x`` ``(B, x_dim)``: batch shape ``(B,)``, event shape ``(y_dim,)``."""
        x = _check_x(x, self.x_dim, "MDN.forward", self)
        params = self.backbone(x)
        if params.numel() == 0:
            # torch's argument check of Categorical cannot reshape an empty batch; with no
            # examples there is nothing to check, so build one row and expand it to none.
            return self.head(params.new_zeros(1, params.shape[-1])).expand(params.shape[:-1])
        return apply_head(self.head, params, "backbone", x=x)

    @torch.no_grad()
    def sample(
        self, x: Tensor, num_samples: int = 1, *, mean: bool = False, temperature: float = 1.0
    ) -> Tensor:
        """Draw ``y ~ p(y | x)``, optionally at a temperature (see :func:`tempered`).

        Args:
            x: ``(B, x_dim)`` inputs.
            num_samples: S draws per input.
            mean: Draw a component ``k ~ pi(x)`` and return its mean ``mu_k(x)`` (the model's
                hypotheses in proportion to their weights, without the observation noise)
                instead of a draw from it.
            temperature: See :func:`tempered`.

        Returns:
            ``(S, B, y_dim)``.
        """
        num_samples = check_count(num_samples, "num_samples", "MDN.sample")
        p_y = self(x)
        if temperature != 1.0:
            p_y = tempered(p_y, temperature)
        if not mean:
            return p_y.sample((num_samples,))
        k = p_y.mixture_distribution.sample((num_samples,))  # (S, B)
        loc = p_y.component_distribution.mean  # (B, K, D)
        index = k[..., None, None].expand(*k.shape, 1, loc.shape[-1])
        return loc.expand(num_samples, *loc.shape).gather(-2, index).squeeze(-2)

    @torch.no_grad()
    def mean(self, x: Tensor) -> Tensor:
        """Conditional mean ``sum_k pi_k mu_k``, ``(B, y_dim)``: what least squares estimates."""
        return self(x).mean

    @torch.no_grad()
    def variance(self, x: Tensor) -> Tensor:
        """Conditional variance per dimension by the law of total variance, ``(B, y_dim)``:
        ``sum_k pi_k (sigma_k^2 + (mu_k - mean)^2)``. Bishop's ``s^2(x)`` is its sum over dims."""
        return self(x).variance

    @torch.no_grad()
    def approximate_mode(self, x: Tensor) -> Tensor:
        """Mean of the most probable component (Bishop's approximate mode), ``(B, y_dim)``."""
        return approximate_mode(self(x))

    @torch.no_grad()
    def hypotheses(self, x: Tensor, num_hypotheses: int | None = None) -> tuple[Tensor, Tensor]:
        """Component means ranked by weight: ``(N, B, y_dim)`` and weights ``(N, B)``."""
        return top_hypotheses(self(x), num_hypotheses)


@MODELS.register("regression")
class GaussianRegression(nn.Module):
    """Least-squares regression network with a Gaussian noise model, the baseline for MDNs.

    With ``scale="homoscedastic"`` (default) the noise scale is one learned number per output
    dimension, so maximising the likelihood gives exactly the least-squares fit for the mean (and
    the residual spread as the scale): Bishop's "sum-of-squares" network with an NLL to compare.
    ``heteroscedastic`` lets the network predict the scale too (a 1-component MDN).

    Args:
        x_dim: Input dimension.
        y_dim: Target dimension.
        hidden_dims: Hidden widths of the MLP (use the MDN's for a same-size comparison).
        activation: Non-linearity of the MLP.
        scale: ``homoscedastic`` (learned constant) or ``heteroscedastic`` (input-dependent).
        min_scale: Floor on the standard deviation.
        init_scale: Initial standard deviation.
    """

    def __init__(
        self,
        x_dim: int = 1,
        y_dim: int = 1,
        *,
        hidden_dims: Sequence[int] = (32, 32),
        activation: Activation = "tanh",
        scale: ScaleModel = "homoscedastic",
        min_scale: float = 1e-3,
        init_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if scale not in ("homoscedastic", "heteroscedastic"):
            raise ValueError(f"scale must be 'homoscedastic' or 'heteroscedastic', got {scale!r}")
        if init_scale <= min_scale:
            raise ValueError(f"init_scale ({init_scale}) must exceed min_scale ({min_scale})")
        self.x_dim = int(x_dim)
        self.y_dim = int(y_dim)
        self.hidden_dims = tuple(int(h) for h in hidden_dims)
        self.activation = activation
        self.scale_model = scale
        self.min_scale = float(min_scale)
        out = self.y_dim * (2 if scale == "heteroscedastic" else 1)
        self.net = MLP(self.x_dim, out, self.hidden_dims, activation)
        raw = _inverse_softplus(init_scale - min_scale)
        if scale == "homoscedastic":
            self.raw_scale = nn.Parameter(torch.full((self.y_dim,), raw))
        else:
            # Start the predicted scale at init_scale rather than at softplus(0).
            last = self.net[-1]
            assert isinstance(last, nn.Linear)
            with torch.no_grad():
                last.bias[self.y_dim :] += raw

    @property
    def x_shape(self) -> tuple[int, ...]:
        """Shape of one input, ``(x_dim,)``."""
        return (self.x_dim,)

    @property
    def y_shape(self) -> tuple[int, ...]:
        """Shape of one target, ``(y_dim,)``."""
        return (self.y_dim,)

    def predictive(self, x: Tensor) -> Distribution:
        """``p(y | x)``, the same as calling the model."""
        return self(x)

    def forward(self, x: Tensor) -> Distribution:
        """``p(y | x) = N(f(x), diag(sigma^2))``, batch ``(B,)``, event ``(y_dim,)``."""
        out = self.net(_check_x(x, self.x_dim, "GaussianRegression.forward", self))
        if self.scale_model == "homoscedastic":
            loc = out
            scale = (F.softplus(self.raw_scale) + self.min_scale).expand_as(loc)
        else:
            loc, raw = out.split(self.y_dim, dim=-1)
            scale = F.softplus(raw) + self.min_scale
        return Independent(Normal(loc, scale), 1)

    @torch.no_grad()
    def sample(
        self, x: Tensor, num_samples: int = 1, *, mean: bool = False, temperature: float = 1.0
    ) -> Tensor:
        """Draw ``y ~ p(y | x)``, scale times ``sqrt(temperature)``: ``(S, B, y_dim)``.

        With ``mean`` the prediction itself, repeated S times.
        """
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        num_samples = check_count(num_samples, "num_samples", "GaussianRegression.sample")
        p_y = self(x)
        loc = p_y.mean
        if mean:
            return loc.expand(num_samples, *loc.shape).clone()
        return Normal(loc, p_y.stddev * temperature**0.5).sample((num_samples,))

    @torch.no_grad()
    def mean(self, x: Tensor) -> Tensor:
        """The least-squares prediction, ``(B, y_dim)``."""
        return self(x).mean

    @torch.no_grad()
    def variance(self, x: Tensor) -> Tensor:
        """Predicted noise variance, ``(B, y_dim)``."""
        return self(x).variance

    @torch.no_grad()
    def approximate_mode(self, x: Tensor) -> Tensor:
        """The mean (a Gaussian's mode), ``(B, y_dim)``."""
        return self(x).mean

    @torch.no_grad()
    def hypotheses(self, x: Tensor, num_hypotheses: int | None = None) -> tuple[Tensor, Tensor]:
        """One hypothesis, the mean: ``(1, B, y_dim)`` and weights ``(1, B)``."""
        return top_hypotheses(self(x))
