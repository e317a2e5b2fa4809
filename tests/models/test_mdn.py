"""MDN and regression baseline: densities integrate to one, K = 1 is Gaussian regression."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import MixtureSameFamily

from plausible.distributions.mixture import (
    GaussianMixtureHead,
    approximate_mode,
    gaussian_mixture,
    mixture_parts,
    tempered,
    top_hypotheses,
)
from plausible.models.mdn import MDN, GaussianRegression
from plausible.objectives.mdn import mdn_nll
from plausible.registry import MODELS


def _perturbed(model: torch.nn.Module, scale: float = 0.5) -> torch.nn.Module:
    """Move the weights away from initialisation so outputs are not near-trivial."""
    gen = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model


def test_registered() -> None:
    assert MODELS.get("mdn") is MDN
    assert MODELS.get("regression") is GaussianRegression


@pytest.mark.parametrize(
    ("covariance", "k", "d", "expected"),
    [("isotropic", 3, 1, 9), ("isotropic", 5, 24, 5 * 26), ("diagonal", 2, 3, 2 * 7)],
    ids=str,
)
def test_head_param_size_and_shapes(covariance: str, k: int, d: int, expected: int) -> None:
    head = GaussianMixtureHead(d, k, covariance=covariance)  # type: ignore[arg-type]
    assert head.param_size == expected
    p_y = head(torch.randn(7, expected))
    assert isinstance(p_y, MixtureSameFamily)
    assert p_y.batch_shape == (7,) and p_y.event_shape == (d,)
    _, loc, scale = mixture_parts(p_y)
    assert loc.shape == scale.shape == (7, k, d)
    assert (scale >= head.min_scale).all()
    if covariance == "isotropic":  # one scale per component
        assert torch.equal(scale, scale[..., :1].expand_as(scale))


def test_head_rejects_wrong_width_with_the_expected_size() -> None:
    head = GaussianMixtureHead(2, 3)
    with pytest.raises(ValueError, match="expects 12 raw values"):
        head(torch.randn(4, 10))
    with pytest.raises(ValueError, match="covariance"):
        GaussianMixtureHead(2, 3, covariance="full")  # type: ignore[arg-type]


@pytest.mark.parametrize("covariance", ["isotropic", "diagonal"], ids=str)
def test_density_integrates_to_one_1d(covariance: str) -> None:
    torch.manual_seed(0)
    model = _perturbed(MDN(2, 1, num_components=4, hidden_dims=(8,), covariance=covariance))
    model = model.double()
    x = torch.randn(3, 2, dtype=torch.float64)
    grid = torch.linspace(-40, 40, 200_001, dtype=torch.float64)
    with torch.no_grad():
        density = model(x).log_prob(grid[:, None, None]).exp()  # (G, 3)
    integral = torch.trapezoid(density, grid, dim=0)
    torch.testing.assert_close(integral, torch.ones(3, dtype=torch.float64), atol=1e-6, rtol=0)


@pytest.mark.parametrize("covariance", ["isotropic", "diagonal"], ids=str)
def test_density_integrates_to_one_2d(covariance: str) -> None:
    logits = torch.tensor([[0.3, -1.0, 0.5]], dtype=torch.float64)
    loc = torch.tensor([[[0.0, 0.0], [1.0, -1.0], [-1.5, 0.5]]], dtype=torch.float64)
    scale = torch.tensor([[[0.5, 0.3], [0.7, 0.7], [0.4, 0.9]]], dtype=torch.float64)
    if covariance == "isotropic":
        scale = scale[..., :1]
    p_y = gaussian_mixture(logits, loc, scale)
    g = torch.linspace(-8, 8, 1201, dtype=torch.float64)
    yy = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1)  # (G, G, 2)
    density = p_y.log_prob(yy[:, :, None, :]).exp()[..., 0]
    integral = torch.trapezoid(torch.trapezoid(density, g, dim=1), g, dim=0)
    assert abs(float(integral) - 1.0) < 1e-6


def test_one_component_mdn_equals_gaussian_regression() -> None:
    torch.manual_seed(0)
    mdn = MDN(3, 2, num_components=1, hidden_dims=(16, 16), covariance="diagonal").double()
    reg = GaussianRegression(3, 2, hidden_dims=(16, 16), scale="heteroscedastic").double()
    _perturbed(mdn)
    with torch.no_grad():
        # Same trunk; the MDN's last layer is [logit (1), loc (2), raw scale (2)].
        for (_, a), (_, b) in zip(
            list(mdn.backbone.named_parameters())[:-2],
            list(reg.net.named_parameters())[:-2],
            strict=True,
        ):
            b.copy_(a)
        reg.net[-1].weight.copy_(mdn.backbone[-1].weight[1:])
        reg.net[-1].bias.copy_(mdn.backbone[-1].bias[1:])
    x = torch.randn(10, 3, dtype=torch.float64)
    y = torch.randn(10, 2, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(mdn_nll(mdn(x), y).loss, -reg(x).log_prob(y))
        torch.testing.assert_close(mdn.mean(x), reg.mean(x))
        torch.testing.assert_close(mdn.variance(x), reg.variance(x))


def test_homoscedastic_regression_fits_least_squares() -> None:
    """Maximum likelihood with a constant scale is least squares: compare with numpy's lstsq."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(200, 3, generator=gen, dtype=torch.float64)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64) + 0.3
    y = y + 0.2 * torch.randn(200, 1, generator=gen, dtype=torch.float64)
    model = GaussianRegression(3, 1, hidden_dims=()).double()
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = -model(x).log_prob(y).mean()
        loss.backward()
        return loss

    opt.step(closure)
    design = np.hstack([x.numpy(), np.ones((200, 1))])
    coef, *_ = np.linalg.lstsq(design, y.numpy(), rcond=None)
    residual = y.numpy() - design @ coef
    np.testing.assert_allclose(model.net[0].weight.detach().numpy().T, coef[:3], atol=1e-5)
    np.testing.assert_allclose(model.net[0].bias.detach().numpy(), coef[3], atol=1e-5)
    sigma = float(model(x[:1]).stddev[0, 0].detach())
    assert sigma == pytest.approx(float(np.sqrt((residual**2).mean())), rel=1e-4)


def test_sample_shapes_and_temperature() -> None:
    torch.manual_seed(0)
    model = _perturbed(MDN(2, 3, num_components=4, hidden_dims=(8,))).eval()
    x = torch.randn(5, 2)
    assert model.sample(x, 7).shape == (7, 5, 3)
    cold = model.sample(x, 50, temperature=1e-12)
    torch.testing.assert_close(cold, model.approximate_mode(x).expand(50, 5, 3), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="temperature"):
        model.sample(x, 2, temperature=0.0)
    reg = GaussianRegression(2, 3, hidden_dims=(8,))
    assert reg.sample(x, 7).shape == (7, 5, 3)
    assert reg.hypotheses(x)[0].shape == (1, 5, 3)


def test_tempered_weights_and_scales() -> None:
    p_y = gaussian_mixture(
        torch.tensor([[0.0, math.log(3.0)]]), torch.zeros(1, 2, 1), torch.ones(1, 2, 1)
    )
    hot = tempered(p_y, 2.0)
    log_w, _, scale = mixture_parts(hot)
    torch.testing.assert_close(
        log_w.exp(), torch.tensor([[1 / (1 + 3**0.5), 3**0.5 / (1 + 3**0.5)]])
    )
    torch.testing.assert_close(scale, torch.full((1, 2, 1), 2**0.5))


def test_hypotheses_ranked_by_weight_and_mode() -> None:
    logits = torch.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 1.0]])
    loc = torch.arange(12.0).reshape(2, 3, 2)
    p_y = gaussian_mixture(logits, loc, torch.ones(2, 3, 1))
    hyp, probs = top_hypotheses(p_y)
    assert hyp.shape == (3, 2, 2) and probs.shape == (3, 2)
    assert (probs[:-1] >= probs[1:]).all()
    torch.testing.assert_close(hyp[0], torch.stack([loc[0, 1], loc[1, 0]]))
    torch.testing.assert_close(approximate_mode(p_y), hyp[0])
    top2, _ = top_hypotheses(p_y, 2)
    assert top2.shape == (2, 2, 2)
    with pytest.raises(ValueError, match="num_hypotheses"):
        top_hypotheses(p_y, 4)


def test_samples_pass_a_goodness_of_fit_test() -> None:
    """Kolmogorov-Smirnov test of MDN samples against the mixture's own CDF (float64)."""
    torch.manual_seed(0)
    model = _perturbed(MDN(1, 1, num_components=3, hidden_dims=(8,))).double().eval()
    x = torch.tensor([[0.3]], dtype=torch.float64)
    with torch.no_grad():
        log_w, loc, scale = mixture_parts(model(x))
    w, mu, sd = log_w[0].exp().numpy(), loc[0, :, 0].numpy(), scale[0, :, 0].numpy()
    samples = model.sample(x, 5000)[:, 0, 0].numpy()

    def cdf(v: np.ndarray) -> np.ndarray:
        return (w * stats.norm.cdf((v[:, None] - mu) / sd)).sum(-1)

    assert stats.kstest(samples, cdf).pvalue > 0.01


def test_custom_backbone() -> None:
    backbone = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU())
    model = MDN(4, 2, num_components=2, backbone=backbone, backbone_dim=6)
    assert model(torch.randn(3, 4)).batch_shape == (3,)
    with pytest.raises(ValueError, match="backbone_dim"):
        MDN(4, 2, backbone=backbone)


def test_wrong_input_shape_says_what_was_expected() -> None:
    model = MDN(2, 1)
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        model(torch.randn(5, 3))
    assert MDN(1, 1)(torch.randn(5)).batch_shape == (5,)  # a flat 1-D input is accepted
