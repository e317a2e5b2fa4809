"""MDN loss: matches scipy, stays finite where probability-space losses fail, Dirichlet prior."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import special, stats
from torch.distributions import Dirichlet

from plausible.distributions.mixture import gaussian_mixture
from plausible.models.mdn import MDN, GaussianRegression
from plausible.objectives.mdn import mdn_nll, predictive_nll


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


@pytest.mark.parametrize("concentration", [1.0, 2.0, 3.5], ids=str)
def test_dirichlet_prior_is_the_negative_dirichlet_log_density(concentration: float) -> None:
    """The prior term is ``-log Dirichlet(pi; lambda)`` but for the normaliser; same gradient."""
    logits = torch.tensor(
        [[2.0, 0.0, -1.0], [0.0, 0.0, 0.0], [-3.0, 1.5, 0.5]],
        dtype=torch.float64,
        requires_grad=True,
    )
    p_y = gaussian_mixture(logits, torch.zeros(3, 3, 1, dtype=torch.float64), torch.ones(3, 3, 1))
    y = torch.zeros(3, 1, dtype=torch.float64)
    plain = mdn_nll(p_y, y)
    got = mdn_nll(p_y, y, dirichlet_concentration=concentration)
    weights = torch.softmax(logits, -1).detach().numpy()
    alpha = np.full(3, concentration)
    log_density = np.array([stats.dirichlet.logpdf(w / w.sum(), alpha) for w in weights])
    # log Dirichlet(pi; lambda) = sum_k (lambda - 1) log pi_k - log B(lambda): the normaliser
    # log B = K log Gamma(lambda) - log Gamma(K lambda) is the only difference.
    log_normaliser = 3 * special.gammaln(concentration) - special.gammaln(3 * concentration)
    np.testing.assert_allclose(
        got.terms["dirichlet_prior"].detach().numpy(), -log_density - log_normaliser, atol=1e-12
    )
    torch.testing.assert_close(got.loss, plain.loss + got.terms["dirichlet_prior"])
    # Same gradient with respect to the logits as torch's Dirichlet density of softmax(logits).
    (grad,) = torch.autograd.grad(got.terms["dirichlet_prior"].sum(), logits)
    density = Dirichlet(torch.full((3,), concentration, dtype=torch.float64))
    (expected,) = torch.autograd.grad(-density.log_prob(torch.softmax(logits, -1)).sum(), logits)
    torch.testing.assert_close(grad, expected)


def test_dirichlet_prior_pushes_up_small_weights() -> None:
    logits = torch.tensor([[4.0, 0.0, 0.0]], requires_grad=True)
    p_y = gaussian_mixture(logits, torch.zeros(1, 3, 1), torch.ones(1, 3, 1))
    prior = mdn_nll(p_y, torch.zeros(1, 1), dirichlet_concentration=2.0).terms["dirichlet_prior"]
    (grad,) = torch.autograd.grad(prior.sum(), logits)
    assert grad[0, 0] > 0 and (grad[0, 1:] < 0).all()


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
