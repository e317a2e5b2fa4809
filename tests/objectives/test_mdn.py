"""MDN loss: matches scipy, stays finite where probability-space losses fail, Dirichlet prior."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import special, stats

from plausible.distributions.mixture import gaussian_mixture
from plausible.models.mdn import MDN, GaussianRegression
from plausible.objectives.mdn import mdn_nll, predictive_nll
from plausible.registry import OBJECTIVES


def _random_mixture(b: int, k: int, d: int, *, isotropic: bool, dtype: torch.dtype, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, k, generator=gen, dtype=dtype)
    loc = torch.randn(b, k, d, generator=gen, dtype=dtype)
    scale = 0.3 + torch.rand(b, k, 1 if isotropic else d, generator=gen, dtype=dtype)
    return logits, loc, scale


def _scipy_nll(logits, loc, scale, y) -> np.ndarray:
    logits, loc, y = logits.numpy(), loc.numpy(), y.numpy()
    scale = np.broadcast_to(scale.numpy(), loc.shape)
    log_w = logits - special.logsumexp(logits, axis=-1, keepdims=True)
    log_comp = stats.norm.logpdf(y[:, None, :], loc, scale).sum(-1)
    return -special.logsumexp(log_w + log_comp, axis=-1)


@pytest.mark.parametrize("isotropic", [True, False], ids=str)
@pytest.mark.parametrize("d", [1, 3], ids=str)
def test_nll_matches_scipy(isotropic: bool, d: int) -> None:
    logits, loc, scale = _random_mixture(8, 4, d, isotropic=isotropic, dtype=torch.float64)
    y = torch.randn(8, d, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = mdn_nll(gaussian_mixture(logits, loc, scale), y)
    assert out.loss.shape == (8,)
    np.testing.assert_allclose(out.loss.numpy(), _scipy_nll(logits, loc, scale, y), rtol=1e-12)
    torch.testing.assert_close(out.terms["nll"], out.loss)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_loss_finite_for_far_away_targets(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    model = MDN(2, 3, num_components=5, hidden_dims=(16,)).to(dtype)
    x = torch.randn(4, 2, dtype=dtype)
    y = torch.full((4, 3), 1e4, dtype=dtype)  # every component density underflows to 0
    with torch.no_grad():
        p_y = model(x)
        naive = torch.log(
            (
                p_y.mixture_distribution.probs
                * p_y.component_distribution.log_prob(y[:, None]).exp()
            ).sum(-1)
        )
    assert torch.isinf(naive).all()  # what a probability-space loss would compute
    loss = mdn_nll(model(x), y).loss
    assert torch.isfinite(loss).all()
    loss.mean().backward()
    for p in model.parameters():
        assert torch.isfinite(p.grad).all()


def test_loss_finite_for_50_dimensional_outputs() -> None:
    """In 50 dimensions every component density is below float32's smallest number."""
    logits, loc, scale = _random_mixture(16, 5, 50, isotropic=True, dtype=torch.float32)
    loc.requires_grad_(True)
    y = 3.0 * torch.randn(16, 50, generator=torch.Generator().manual_seed(2))
    p_y = gaussian_mixture(logits, loc, scale * 0.2)
    with torch.no_grad():
        naive = torch.log(
            (
                p_y.mixture_distribution.probs
                * p_y.component_distribution.log_prob(y[:, None]).exp()
            ).sum(-1)
        )
    assert torch.isinf(naive).all()
    loss = mdn_nll(p_y, y).loss
    assert torch.isfinite(loss).all()
    reference = _scipy_nll(
        logits.double(), loc.detach().double(), (scale * 0.2).double(), y.double()
    )
    np.testing.assert_allclose(loss.detach().numpy(), reference, rtol=1e-5)
    loss.sum().backward()
    assert torch.isfinite(loc.grad).all()


def test_dirichlet_prior_term() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    loc = torch.zeros(2, 3, 1, dtype=torch.float64)
    p_y = gaussian_mixture(logits, loc, torch.ones(2, 3, 1, dtype=torch.float64))
    y = torch.zeros(2, 1, dtype=torch.float64)
    plain = mdn_nll(p_y, y)
    prior = mdn_nll(p_y, y, dirichlet_concentration=2.0)
    expected = -torch.log_softmax(logits, -1).sum(-1)  # -(lambda - 1) sum_k log pi_k, lambda = 2
    torch.testing.assert_close(prior.terms["dirichlet_prior"], expected)
    torch.testing.assert_close(prior.loss, plain.loss + expected)
    assert prior.terms["dirichlet_prior"][1] == pytest.approx(3 * math.log(3))
    torch.testing.assert_close(mdn_nll(p_y, y, dirichlet_concentration=1.0).loss, plain.loss)


def test_dirichlet_prior_pushes_up_small_weights() -> None:
    logits = torch.tensor([[4.0, 0.0, 0.0]], requires_grad=True)
    p_y = gaussian_mixture(logits, torch.zeros(1, 3, 1), torch.ones(1, 3, 1))
    mdn_nll(p_y, torch.zeros(1, 1), dirichlet_concentration=2.0).terms[
        "dirichlet_prior"
    ].sum().backward()
    assert logits.grad[0, 0] > 0 and (logits.grad[0, 1:] < 0).all()


def test_dirichlet_prior_refuses_bad_input() -> None:
    p_y = gaussian_mixture(torch.zeros(2, 3), torch.zeros(2, 3, 1), torch.ones(2, 3, 1))
    with pytest.raises(ValueError, match="no minimum"):
        mdn_nll(p_y, torch.zeros(2, 1), dirichlet_concentration=0.5)
    regression = GaussianRegression(1, 1)(torch.zeros(2, 1))
    with pytest.raises(TypeError, match="mixing weights"):
        mdn_nll(regression, torch.zeros(2, 1), dirichlet_concentration=2.0)


def test_target_shape_mismatch_is_explained() -> None:
    p_y = gaussian_mixture(torch.zeros(4, 2), torch.zeros(4, 2, 1), torch.ones(4, 2, 1))
    with pytest.raises(ValueError, match=r"y\[:, None\]"):
        predictive_nll(p_y, torch.zeros(4))


@pytest.mark.parametrize(
    ("name", "model", "kwargs"),
    [
        ("mdn_nll", "mdn", {}),
        ("mdn_nll", "mdn", {"dirichlet_concentration": 2.0}),
        ("gaussian_nll", "regression", {}),
    ],
    ids=str,
)
def test_training_adapters(name: str, model: str, kwargs: dict) -> None:
    net = MDN(2, 3) if model == "mdn" else GaussianRegression(2, 3)
    batch = {"x": torch.randn(6, 2), "y": torch.randn(6, 3)}
    out = OBJECTIVES.get(name)(net, batch, **kwargs)
    assert out.loss.shape == (6,)
    assert set(out.terms) >= {"nll"}
    assert ("dirichlet_prior" in out.terms) == bool(kwargs)
