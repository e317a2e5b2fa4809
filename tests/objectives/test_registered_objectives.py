"""Each registered objective, built from recipe arguments, equals its free function with them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from plausible.models import CVAE, MDN, VAE, ConditionalBaseline, GaussianRegression
from plausible.objectives import (
    ObjectiveOutput,
    cvae_loss,
    elbo,
    gsnn_loss,
    hybrid_loss,
    iwae_bound,
    mdn_nll,
    multi_sample_elbo,
    predictive_nll,
)
from plausible.objectives.cvae import conditional_nll_loss
from plausible.registry import OBJECTIVES
from plausible.training import ConfiguredObjective

Batch = dict[str, Tensor]


def _images() -> Batch:
    gen = torch.Generator().manual_seed(0)
    return {"x": (torch.rand(6, 10, generator=gen, dtype=torch.float64) > 0.5).double()}


def _pairs() -> Batch:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    y = (torch.rand(6, 6, generator=gen, dtype=torch.float64) > 0.5).double()
    return {"x": x, "y": y}


def _regression() -> Batch:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(6, 2, generator=gen, dtype=torch.float64)
    return {"x": x, "y": torch.randn(6, 3, generator=gen, dtype=torch.float64)}


def _vae() -> nn.Module:
    return VAE((10,), latent_dim=3, hidden_dims=(16,))


def _cvae(*, recognition_net: bool = True) -> nn.Module:
    return CVAE((4,), (6,), latent_dim=2, hidden_dims=(8,), recognition_net=recognition_net)


# The free functions, written out from their docstrings rather than through the adapters.
def _elbo(model: Any, batch: Batch, **kw: Any) -> ObjectiveOutput:
    return elbo(model(batch["x"]), batch["x"], **kw)


def _iwae(model: Any, batch: Batch, *, num_samples: int = 5) -> ObjectiveOutput:
    return iwae_bound(model, batch["x"], num_samples=num_samples)


def _multi_sample_elbo(model: Any, batch: Batch, *, num_samples: int = 5) -> ObjectiveOutput:
    return multi_sample_elbo(model, batch["x"], num_samples=num_samples)


def _cvae_loss(model: Any, batch: Batch, *, num_samples: int = 1, **kw: Any) -> ObjectiveOutput:
    out = model(batch["x"], batch["y"], latent="posterior", num_samples=num_samples)
    return cvae_loss(out, batch["y"], **kw)


def _gsnn(model: Any, batch: Batch, *, num_samples: int = 1) -> ObjectiveOutput:
    return gsnn_loss(
        model(batch["x"], batch["y"], latent="prior", num_samples=num_samples), batch["y"]
    )


def _hybrid(model: Any, batch: Batch, *, num_samples: int = 1, **kw: Any) -> ObjectiveOutput:
    post, prior = model.forward_pair(batch["x"], batch["y"], num_samples=num_samples)
    return hybrid_loss(post, prior, batch["y"], **kw)


def _conditional_nll(model: Any, batch: Batch) -> ObjectiveOutput:
    return conditional_nll_loss(model(batch["x"], batch["y"]), batch["y"])


def _mdn(model: Any, batch: Batch, **kw: Any) -> ObjectiveOutput:
    return mdn_nll(model(batch["x"]), batch["y"], **kw)


def _gaussian_nll(model: Any, batch: Batch) -> ObjectiveOutput:
    nll = predictive_nll(model(batch["x"]), batch["y"])
    return ObjectiveOutput(loss=nll, terms={"nll": nll})


@dataclass(frozen=True)
class Case:
    name: str
    model: Callable[[], nn.Module]
    batch: Callable[[], Batch]
    free: Callable[..., ObjectiveOutput]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.name}{self.kwargs or ''}"


CASES = [
    Case("elbo", _vae, _images, _elbo),
    Case("elbo", _vae, _images, _elbo, {"beta": 2.5}),
    Case("elbo", _vae, _images, _elbo, {"analytic_kl": False}),
    Case("elbo", _vae, _images, _elbo, {"free_bits": 0.13}),
    Case("elbo", _vae, _images, _elbo, {"free_bits": 0.13, "free_bits_mode": "example"}),
    Case("elbo", _vae, _images, _elbo, {"beta": 4.0, "capacity": 0.4}),
    Case("elbo", _vae, _images, _elbo, {"capacity": 0.4, "capacity_mode": "example"}),
    Case("iwae", _vae, _images, _iwae),
    Case("iwae", _vae, _images, _iwae, {"num_samples": 3}),
    Case("multi-sample-elbo", _vae, _images, _multi_sample_elbo),
    Case("multi-sample-elbo", _vae, _images, _multi_sample_elbo, {"num_samples": 3}),
    Case("cvae", _cvae, _pairs, _cvae_loss),
    Case("cvae", _cvae, _pairs, _cvae_loss, {"beta": 0.5, "num_samples": 3}),
    Case("gsnn", lambda: _cvae(recognition_net=False), _pairs, _gsnn, {"num_samples": 3}),
    Case("hybrid", _cvae, _pairs, _hybrid),
    Case("hybrid", _cvae, _pairs, _hybrid, {"alpha": 0.3}),
    Case("hybrid", _cvae, _pairs, _hybrid, {"alpha": 0.3, "beta": 2.0, "num_samples": 2}),
    Case(
        "conditional_nll",
        lambda: ConditionalBaseline((4,), (6,), hidden_dims=(8,)),
        _pairs,
        _conditional_nll,
    ),
    Case("mdn_nll", lambda: MDN(2, 3, num_components=3, hidden_dims=(8,)), _regression, _mdn),
    Case(
        "mdn_nll",
        lambda: MDN(2, 3, num_components=3, hidden_dims=(8,)),
        _regression,
        _mdn,
        {"dirichlet_concentration": 2.0},
    ),
    Case(
        "gaussian_nll",
        lambda: GaussianRegression(2, 3, hidden_dims=(8,)),
        _regression,
        _gaussian_nll,
    ),
]


def _seeded(fn: Callable[..., ObjectiveOutput], *args: Any, **kwargs: Any) -> ObjectiveOutput:
    torch.manual_seed(7)  # the same latent draws for the adapter and the free function
    return fn(*args, **kwargs)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_recipe_objective_equals_the_free_function(case: Case) -> None:
    torch.manual_seed(0)
    model = case.model().double()
    batch = case.batch()
    configured = ConfiguredObjective(case.name, dict(case.kwargs))
    got = _seeded(configured, model, batch, 3)
    expected = _seeded(case.free, model, batch, **case.kwargs)
    torch.testing.assert_close(got.loss, expected.loss, rtol=0.0, atol=0.0)
    assert got.terms.keys() == expected.terms.keys()
    for key, value in expected.terms.items():
        torch.testing.assert_close(got.terms[key], value, rtol=0.0, atol=0.0)
    # Each option changes the value here, so an adapter that dropped one could not pass.
    for key in case.kwargs:
        rest = {k: v for k, v in case.kwargs.items() if k != key}
        without = _seeded(case.free, model, batch, **rest)
        assert not torch.allclose(got.loss, without.loss), f"{case}: {key} changes nothing"


def test_every_registered_objective_is_checked() -> None:
    checked = {OBJECTIVES.get(case.name) for case in CASES}
    missing = [name for name in OBJECTIVES.names() if OBJECTIVES.get(name) not in checked]
    assert not missing, f"add a Case for the registered objectives {missing}"


def test_schedules_are_resolved_at_the_step_given() -> None:
    torch.manual_seed(0)
    model, batch = _vae().double(), _images()
    ramp = {"schedule": "linear", "start": 0.0, "end": 4.0, "steps": 8}
    configured = ConfiguredObjective("elbo", {"beta": ramp, "free_bits": 0.1})
    for step, beta in ((0, 0.0), (2, 1.0), (6, 3.0), (100, 4.0), (None, 4.0)):
        got = _seeded(configured, model, batch, step)
        expected = _seeded(_elbo, model, batch, beta=beta, free_bits=0.1)
        torch.testing.assert_close(got.loss, expected.loss, rtol=0.0, atol=0.0)
