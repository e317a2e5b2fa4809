"""What the conditional generators share: shape checks, input encoders, canvas and output heads."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from torch import Tensor, nn
from torch.distributions import Distribution

from plausible.distributions import make_likelihood
from plausible.distributions.heads import DistributionHead, ScaleMode
from plausible.models._validation import apply_head
from plausible.nn import ConvEncoder, OutputCanvas
from plausible.nn.mlp import Activation, make_activation

__all__ = ["ConditionalGenerator", "Likelihood", "check_pair", "input_encoder", "positive_shape"]

Likelihood = Literal["bernoulli", "continuous_bernoulli", "gaussian", "laplace"]


def positive_shape(shape: Sequence[int], what: str) -> tuple[int, ...]:
    """``shape`` as a tuple of ints; an error unless it is non-empty and every size positive."""
    out = tuple(int(s) for s in shape)
    if not out or any(s <= 0 for s in out):
        raise ValueError(f"{what} must be a non-empty tuple of positive sizes, got {shape!r}")
    return out


def check_pair(x: Tensor, y: Tensor, model: str) -> None:
    """Refuse inputs and targets of different batch sizes."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{model} got {x.shape[0]} inputs x {tuple(x.shape)} but {y.shape[0]} targets y "
            f"{tuple(y.shape)}; x and y must hold the same examples in the same order"
        )


def input_encoder(
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
    canvas = OutputCanvas(positive_shape(canvas_shape, "canvas_shape"), output_regions, num_scales)
    if canvas.size != math.prod(y_shape):
        raise ValueError(
            f"{model}: y_shape {y_shape} holds {math.prod(y_shape)} values but the output regions "
            f"of the {tuple(canvas_shape)} canvas hold {canvas.size}; they must match"
        )
    return canvas


class ConditionalGenerator(nn.Module):
    """Shared plumbing: the likelihood head, the canvas and the (multi-scale) output decoder.

    Attributes:
        canvas: The image canvas y's values come from, or ``None`` when y is not an image.
        num_scales: Resolutions predicted: 1, or 3 (full, 1/2, 1/4) when multi-scale.
    """

    output_canvas: OutputCanvas | None

    @property
    def canvas(self) -> OutputCanvas | None:
        """The image canvas y's values come from, or ``None`` when y is not an image.

        A property over the submodule ``output_canvas`` so that ``isinstance(model,
        CanvasOutput)`` sees it on every Python: from 3.12 runtime protocol checks look members
        up statically, which does not find submodules.
        """
        return self.output_canvas

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
        self.output_canvas = _make_canvas(
            y_shape, canvas_shape, output_regions, self.num_scales, model
        )
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
