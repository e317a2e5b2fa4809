"""The model contract: what each kind of model offers, declared once as runtime-checkable protocols.

Every consumer (metrics, figures, the explorer, the command line) asks ``isinstance(model, P)`` for
one of the protocols below and then calls only what ``P`` declares. Nothing probes for method
names, and nothing reads another family's attributes. A new model family satisfies one of the
three *model* protocols; the *capability* protocols below them are optional extras that some
consumers use when present.

Shapes are tuples of one example: a vector ``(D,)``, an image ``(C, H, W)`` or a sequence
``(T, D)`` all fit, so a new family needs no new probe for a new kind of data.

The sampling convention is the same for every family (positional arguments and result shapes):

- unconditional: ``sample(num_samples, *, mean=...) -> (S, *x_shape)``;
- conditional: ``sample(x, num_samples, *, mean=...) -> (S, B, *y_shape)`` for ``x`` of shape
  ``(B, *x_shape)``.

``mean=True`` removes the observation noise but keeps the model's own multiplicity: the mean of
``p(y|x,z)`` for each drawn ``z`` (a latent model), the mean of each drawn mixture component (a
mixture density network), the prediction itself repeated (a deterministic model). ``mean=False``
draws from the full predictive distribution. Consumers always pass ``mean`` explicitly, so each
family may keep the default that suits it.

Runtime checks see only that the members exist, not their signatures; the contract test
(``tests/models/test_contract.py``) checks the signatures and shapes of every registered model.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor
from torch.distributions import Distribution

__all__ = [
    "CanvasOutput",
    "ConditionalDensityModel",
    "ConditionalLatentModel",
    "ConditionalModel",
    "LatentVariableModel",
    "OutputCanvasLike",
    "PairedPasses",
    "RankedHypotheses",
    "model_protocols",
]


# -- the model protocols --------------------------------------------------------------------------
@runtime_checkable
class LatentVariableModel(Protocol):
    """An unconditional latent-variable model ``p(z) p(x|z)`` with an amortised posterior.

    Attributes:
        latent_dim: Number of latent dimensions.
        x_shape: Shape of one observation.
    """

    latent_dim: int
    x_shape: tuple[int, ...]

    def encode(self, x: Tensor) -> Distribution:
        """q(z|x) for ``x`` ``(B, *x_shape)``: batch ``(B,)``, event ``(latent_dim,)``."""
        ...

    def decode(self, z: Tensor) -> Distribution:
        """p(x|z) for ``z`` ``(..., latent_dim)``: batch ``(...)``, event ``x_shape``."""
        ...

    def prior(self) -> Distribution:
        """p(z): batch ``()``, event ``(latent_dim,)``."""
        ...

    def sample(self, num_samples: int, *, mean: bool = True) -> Tensor:
        """``(S, *x_shape)`` samples from the model."""
        ...


@runtime_checkable
class ConditionalModel(Protocol):
    """Anything that maps an input ``x`` to many plausible outputs ``y``.

    Attributes:
        x_shape: Shape of one input.
        y_shape: Shape of one output.
    """

    x_shape: tuple[int, ...]
    y_shape: tuple[int, ...]

    def sample(self, x: Tensor, num_samples: int, *, mean: bool = False) -> Tensor:
        """``(S, B, *y_shape)`` plausible outputs for ``x`` of shape ``(B, *x_shape)``."""
        ...


@runtime_checkable
class ConditionalLatentModel(ConditionalModel, Protocol):
    """A conditional latent-variable model: prior p(z|x), recognition q(z|x,y), generation p(y|x,z).

    Attributes:
        latent_dim: Number of latent dimensions.
        has_recognition: Whether q(z|x,y) exists. A model trained without it (a pure GSNN)
            declares ``False``; its ``recognize`` raises, and estimators use the prior as their
            proposal instead.
    """

    latent_dim: int
    has_recognition: bool

    def prior(self, x: Tensor) -> Distribution:
        """p(z|x): batch ``(B,)``, event ``(latent_dim,)``."""
        ...

    def recognize(self, x: Tensor, y: Tensor) -> Distribution:
        """q(z|x,y): batch ``(B,)``, event ``(latent_dim,)``."""
        ...

    def generate(self, x: Tensor, z: Tensor) -> Distribution:
        """p(y|x,z) for ``z`` ``(..., B, latent_dim)``: batch ``(..., B)``, event ``y_shape``."""
        ...


@runtime_checkable
class ConditionalDensityModel(ConditionalModel, Protocol):
    """A model with an exact predictive density p(y|x): mixture density networks, regressions,
    deterministic baselines with an observation model."""

    def predictive(self, x: Tensor) -> Distribution:
        """p(y|x) for ``x`` ``(B, *x_shape)``: batch ``(B,)``, event ``y_shape``."""
        ...


# -- optional capabilities -----------------------------------------------------------------------
@runtime_checkable
class RankedHypotheses(Protocol):
    """A model that can name its few most probable answers (mixture components, say)."""

    def hypotheses(self, x: Tensor, num_hypotheses: int | None = None) -> tuple[Tensor, Tensor]:
        """Hypotheses ``(N, B, *y_shape)`` ranked by weight, and their weights ``(N, B)``."""
        ...


class OutputCanvasLike(Protocol):
    """Where the values of a flat target ``y`` sit on an image canvas ``(C, H, W)``."""

    canvas_shape: tuple[int, ...]

    def scatter(self, y: Tensor) -> Tensor:
        """``(..., n)`` targets -> ``(..., C, H, W)`` canvas, zero outside the target regions."""
        ...


@runtime_checkable
class CanvasOutput(Protocol):
    """A conditional model whose target is a set of regions of an image (``None``: it is not).

    Attributes:
        canvas: The canvas y's values come from, or ``None`` when y is not part of an image.
    """

    canvas: OutputCanvasLike | None


@runtime_checkable
class PairedPasses(Protocol):
    """A conditional latent model that scores one batch with z from q(z|x,y) and from p(z|x) in
    one pass, sharing what both draws need (x's features, p(z|x), any per-pass randomness).

    The hybrid objective uses it when present; without it the model is called twice.
    """

    def forward_pair(self, x: Tensor, y: Tensor, *, num_samples: int = 1) -> tuple[Any, Any]:
        """The outputs of ``forward(x, y, latent="posterior")`` and ``latent="prior"``."""
        ...


_MODEL_PROTOCOLS: tuple[type, ...] = (
    LatentVariableModel,
    ConditionalLatentModel,
    ConditionalDensityModel,
)


def model_protocols(model: object) -> list[str]:
    """Names of the model protocols ``model`` satisfies (the most specific ones; may be empty)."""
    return [p.__name__ for p in _MODEL_PROTOCOLS if isinstance(model, p)]
