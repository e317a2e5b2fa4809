"""One small example per registered model, for the model contract test.

Add an entry when you register a model: the contract test fails for any registered model
that has no example here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

import plausible.models  # registers every model
import plausible.objectives.cvae  # registers cvae, gsnn, hybrid, conditional_nll
import plausible.objectives.mdn  # noqa: F401  (registers mdn_nll and gaussian_nll)


@dataclass
class ContractExample:
    """How to exercise one model.

    Attributes:
        build: Zero-argument constructor; called twice to check that save -> load round-trips.
        batch: A training batch for ``objective``.
        objective: Registered objective name.
        sample: ``model -> samples`` for the sampling check.
        sample_shape: Expected shape of ``sample(model)``.
    """

    build: Callable[[], nn.Module]
    batch: dict[str, Tensor]
    objective: str
    sample: Callable[[nn.Module], Tensor]
    sample_shape: tuple[int, ...]


def _vae_example(**kwargs: object) -> ContractExample:
    from plausible.models import VAE

    g = torch.Generator().manual_seed(1)
    x = (torch.rand(6, 1, 12, 10, generator=g) > 0.5).float()
    return ContractExample(
        build=lambda: VAE((1, 12, 10), latent_dim=3, hidden_dims=(16,), **kwargs),  # type: ignore[arg-type]
        batch={"x": x},
        objective="elbo",
        sample=lambda m: m.sample(4),  # type: ignore[operator]
        sample_shape=(4, 1, 12, 10),
    )


def _conditional_example(
    model: str = "cvae", objective: str = "cvae", **kwargs: object
) -> ContractExample:
    """Quadrant imputation on 8x8 images: x is the image with -1 where unobserved, y the rest."""
    from plausible.data.quadrants import split_quadrants, unobserved_regions
    from plausible.registry import MODELS

    g = torch.Generator().manual_seed(2)
    x, y = split_quadrants(torch.rand(6, 1, 8, 8, generator=g), 1)
    shapes = {
        "x_shape": (1, 8, 8),
        "y_shape": (y.shape[1],),
        "canvas_shape": (1, 8, 8),
        "output_regions": unobserved_regions(8, 1),
    }
    latent = {} if model == "conditional-baseline" else {"latent_dim": 3}
    return ContractExample(
        build=lambda: MODELS.get(model)(**shapes, hidden_dims=(16,), **latent, **kwargs),
        batch={"x": x, "y": y},
        objective=objective,
        sample=lambda m: m.sample(x, 4, mean=False),  # type: ignore[operator]
        sample_shape=(4, 6, y.shape[1]),
    )


def _class_conditional_example(**kwargs: object) -> ContractExample:
    """x is a one-hot label, y an image."""
    from plausible.models.cvae import CVAE

    g = torch.Generator().manual_seed(3)
    x = torch.eye(4)[torch.tensor([0, 1, 2, 3, 1])]
    y = (torch.rand(5, 1, 8, 8, generator=g) > 0.5).float()
    return ContractExample(
        build=lambda: CVAE((4,), (1, 8, 8), latent_dim=3, hidden_dims=(16,), **kwargs),  # type: ignore[arg-type]
        batch={"x": x, "y": y},
        objective="cvae",
        sample=lambda m: m.sample(x, 2),  # type: ignore[operator]
        sample_shape=(2, 5, 1, 8, 8),
    )


def _mdn_example(
    model: str = "mdn", objective: str = "mdn_nll", **kwargs: object
) -> ContractExample:
    """x in R^3, y in R^2: an MDN or the least-squares regression baseline."""
    from plausible.registry import MODELS

    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(6, 3, generator=g), torch.randn(6, 2, generator=g)
    return ContractExample(
        build=lambda: MODELS.get(model)(3, 2, hidden_dims=(16,), **kwargs),
        batch={"x": x, "y": y},
        objective=objective,
        sample=lambda m: m.sample(x, 4),  # type: ignore[operator]
        sample_shape=(4, 6, 2),
    )


def _sequence_example(
    model: str = "sequence-cvae", objective: str = "cvae", **kwargs: object
) -> ContractExample:
    """Forecasting: 5 observed frames of 2 values, 4 future frames to predict."""
    from plausible.registry import MODELS

    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(6, 5, 2, generator=g), torch.randn(6, 4, 2, generator=g)
    latent = {} if model == "sequence-baseline" else {"latent_dim": 3}
    return ContractExample(
        build=lambda: MODELS.get(model)((5, 2), (4, 2), hidden_size=8, **latent, **kwargs),
        batch={"x": x, "y": y},
        objective=objective,
        sample=lambda m: m.sample(x, 4, mean=False),  # type: ignore[operator]
        sample_shape=(4, 6, 4, 2),
    )


def _dense_example(
    model: str = "dense-cvae", objective: str = "cvae", **kwargs: object
) -> ContractExample:
    """Dense prediction: 2-channel 11x9 images (odd sizes on purpose), one-channel masks."""
    from plausible.registry import MODELS

    g = torch.Generator().manual_seed(6)
    x = torch.rand(5, 2, 11, 9, generator=g)
    y = (torch.rand(5, 1, 11, 9, generator=g) > 0.5).float()
    latent = {} if model == "dense-baseline" else {"latent_dim": 3, "combine_hidden": (8,)}
    return ContractExample(
        build=lambda: MODELS.get(model)(
            (2, 11, 9), (1, 11, 9), channels=(4, 8), feature_channels=4, **latent, **kwargs
        ),
        batch={"x": x, "y": y},
        objective=objective,
        sample=lambda m: m.sample(x, 3, mean=False),  # type: ignore[operator]
        sample_shape=(3, 5, 1, 11, 9),
    )


EXAMPLES: dict[str, Callable[[], ContractExample]] = {
    "vae": _vae_example,
    "vae-conv": lambda: _vae_example(architecture="conv", conv_channels=(4, 8)),
    "vae-gaussian-per-dim": lambda: _vae_example(likelihood="gaussian", likelihood_scale="per_dim"),
    "vae-continuous-bernoulli": lambda: _vae_example(likelihood="continuous_bernoulli"),
    "vae-laplace-shared": lambda: _vae_example(likelihood="laplace", likelihood_scale="shared"),
    "cvae": _conditional_example,
    "cvae-gsnn": lambda: _conditional_example(objective="gsnn", recognition_net=False),
    "cvae-hybrid": lambda: _conditional_example(objective="hybrid"),
    "cvae-shared-trunk": lambda: _conditional_example(share_trunk=True),
    "cvae-conv-multiscale": lambda: _conditional_example(
        architecture="conv", conv_channels=(4, 8), feature_dim=8, multiscale=True, share_trunk=True
    ),
    "cvae-class-standard-prior": lambda: _class_conditional_example(prior="standard"),
    "cvae-class-conv": lambda: _class_conditional_example(
        architecture="conv", conv_channels=(4, 8), feature_dim=8
    ),
    "conditional-baseline": lambda: _conditional_example("conditional-baseline", "conditional_nll"),
    "conditional-baseline-conv-multiscale": lambda: _conditional_example(
        "conditional-baseline",
        "conditional_nll",
        architecture="conv",
        conv_channels=(4, 8),
        feature_dim=8,
        multiscale=True,
    ),
    "mdn": lambda: _mdn_example(num_components=3),
    "mdn-diagonal": lambda: _mdn_example(num_components=2, covariance="diagonal"),
    "regression": lambda: _mdn_example("regression", "gaussian_nll"),
    "regression-heteroscedastic": lambda: _mdn_example(
        "regression", "gaussian_nll", scale="heteroscedastic"
    ),
    "sequence-cvae": _sequence_example,
    # Fixed units outside training, so that p(y|x,z) is a function of z (explorer sliders);
    # training still draws random units.
    "sequence-cvae-mix-and-match": lambda: _sequence_example(
        conditioning="mix-and-match",
        rate=0.5,
        rate_start=0.25,
        curriculum_steps=4,
        deterministic_indices=True,
    ),
    "sequence-cvae-gsnn": lambda: _sequence_example(objective="gsnn", recognition_net=False),
    "sequence-cvae-hybrid-teacher-forcing": lambda: _sequence_example(
        objective="hybrid",
        conditioning="mix-and-match",
        teacher_forcing=0.5,
        deterministic_indices=True,
    ),
    "sequence-baseline": lambda: _sequence_example("sequence-baseline", "conditional_nll"),
    "dense-cvae": _dense_example,
    "dense-cvae-ucnet-hybrid": lambda: _dense_example(style="ucnet", objective="hybrid"),
    "dense-cvae-gsnn": lambda: _dense_example(objective="gsnn", recognition_net=False),
    "dense-baseline": lambda: _dense_example("dense-baseline", "conditional_nll"),
    "sequence-baseline-laplace": lambda: _sequence_example(
        "sequence-baseline", "conditional_nll", likelihood="laplace", likelihood_scale="per_dim"
    ),
}
