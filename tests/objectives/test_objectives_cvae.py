"""CVAE bound, GSNN, hybrid and baseline objectives: values, terms, adapters and learning."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch.distributions import kl_divergence

from plausible.data.quadrants import split_quadrants, unobserved_regions
from plausible.models import CVAE, ConditionalBaseline
from plausible.objectives.cvae import (
    conditional_nll_loss,
    cvae_loss,
    gsnn_loss,
    hybrid_loss,
    multiscale_nll,
)
from plausible.registry import OBJECTIVES


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # Small models run fastest on one thread, and far faster when other jobs share the cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def batch() -> dict[str, torch.Tensor]:
    x, y = split_quadrants(torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0)), 1)
    return {"x": x, "y": y}


def _cvae(batch: dict[str, torch.Tensor], **kwargs: object) -> CVAE:
    return CVAE(
        (1, 8, 8),
        (batch["y"].shape[1],),
        latent_dim=3,
        hidden_dims=(16,),
        canvas_shape=(1, 8, 8),
        output_regions=unobserved_regions(8, 1),
        **kwargs,
    )  # type: ignore[arg-type]


def test_cvae_loss_is_reconstruction_plus_beta_kl(batch: dict[str, torch.Tensor]) -> None:
    model = _cvae(batch)
    out = model(batch["x"], batch["y"], num_samples=3)
    res = cvae_loss(out, batch["y"], beta=2.5)
    rec = -out.p_y.log_prob(batch["y"]).mean(0)
    kl = kl_divergence(out.q_z, out.p_z)
    assert res.loss.shape == (6,)
    assert torch.allclose(res.terms["reconstruction"], rec)
    assert torch.allclose(res.terms["kl"], kl)
    assert torch.allclose(res.loss, rec + 2.5 * kl)
    assert torch.allclose(res.terms["elbo"], -(rec + kl))


def test_monte_carlo_kl_agrees_with_the_analytic_one(batch: dict[str, torch.Tensor]) -> None:
    model = _cvae(batch)
    torch.manual_seed(0)
    out = model(batch["x"], batch["y"], num_samples=20000)
    mc = cvae_loss(out, batch["y"], analytic_kl=False).terms["kl"]
    exact = cvae_loss(out, batch["y"]).terms["kl"]
    assert torch.allclose(mc, exact, atol=0.05, rtol=0.05)


def test_gsnn_loss_uses_prior_samples_only(batch: dict[str, torch.Tensor]) -> None:
    model = _cvae(batch)
    out = model(batch["x"], batch["y"], latent="prior", num_samples=2)
    res = gsnn_loss(out, batch["y"])
    assert torch.allclose(res.loss, -out.p_y.log_prob(batch["y"]).mean(0))
    with pytest.raises(ValueError, match="latent='prior'"):
        gsnn_loss(model(batch["x"], batch["y"]), batch["y"])
    with pytest.raises(ValueError, match="latent='posterior'"):
        cvae_loss(out, batch["y"])


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0], ids=str)
def test_hybrid_interpolates_cvae_and_gsnn(batch: dict[str, torch.Tensor], alpha: float) -> None:
    model = _cvae(batch)
    c_out = model(batch["x"], batch["y"])
    g_out = model(batch["x"], batch["y"], latent="prior")
    res = hybrid_loss(c_out, g_out, batch["y"], alpha=alpha)
    c, g = cvae_loss(c_out, batch["y"]).loss, gsnn_loss(g_out, batch["y"]).loss
    assert torch.allclose(res.loss, alpha * c + (1 - alpha) * g)
    assert set(res.terms) == {"cvae", "gsnn", "kl", "elbo"}


def test_hybrid_alpha_outside_unit_interval_is_refused(batch: dict[str, torch.Tensor]) -> None:
    model = _cvae(batch)
    out = model(batch["x"], batch["y"])
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        hybrid_loss(out, out, batch["y"], alpha=1.5)


def test_multiscale_terms_are_added_to_the_loss(batch: dict[str, torch.Tensor]) -> None:
    model = _cvae(batch, architecture="conv", conv_channels=(4, 4), feature_dim=8, multiscale=True)
    out = model(batch["x"], batch["y"])
    res = cvae_loss(out, batch["y"])
    coarse = multiscale_nll(out.p_y_scales, out.y_scales)
    assert coarse is not None and torch.allclose(res.terms["multiscale"], coarse)
    assert torch.allclose(res.loss, res.terms["reconstruction"] + coarse + res.terms["kl"])
    # The reported bound excludes the auxiliary coarse losses.
    assert torch.allclose(res.terms["elbo"], -(res.terms["reconstruction"] + res.terms["kl"]))


def test_baseline_objective_is_the_cross_entropy(batch: dict[str, torch.Tensor]) -> None:
    model = ConditionalBaseline((1, 8, 8), (batch["y"].shape[1],), hidden_dims=(16,))
    res = conditional_nll_loss(model(batch["x"]), batch["y"])
    probs = model.predict(batch["x"])
    bce = torch.nn.functional.binary_cross_entropy(probs, batch["y"], reduction="none").sum(1)
    assert torch.allclose(res.loss, bce, atol=1e-4)


def _train(model: torch.nn.Module, objective: str, batch: dict, steps: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    fn = OBJECTIVES.get(objective)
    for _ in range(steps):
        loss = fn(model, batch).loss.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss.detach())


def test_cvae_beats_the_baseline_on_a_two_mode_problem() -> None:
    # y is one of two opposite patterns whatever x says: a deterministic network can only
    # predict their average, a CVAE can put its mass on both. Scored by -log p(y|x) (IS).
    from plausible.metrics.conditional import conditional_nll, deterministic_conditional_nll

    torch.manual_seed(0)
    n, d = 256, 12
    pattern = (torch.arange(d) % 2).float()
    choice = torch.randint(0, 2, (n, 1)).float()
    y = choice * pattern + (1 - choice) * (1 - pattern)
    x = torch.randn(n, 2)
    batch = {"x": x, "y": y}
    cvae = CVAE((2,), (d,), latent_dim=2, hidden_dims=(32,))
    base = ConditionalBaseline((2,), (d,), hidden_dims=(32,))
    _train(cvae, "cvae", batch, 300)
    _train(base, "conditional_nll", batch, 300)
    nll_cvae = conditional_nll(cvae, x, y, num_samples=200)  # type: ignore[arg-type]
    nll_base = deterministic_conditional_nll(base, x, y)
    assert nll_base.mean > d * 0.6  # about d * log 2 = 8.3 nats: the average of both modes
    assert nll_cvae.mean < 2.0  # close to the log 2 = 0.69 of the choice itself


def test_hybrid_pair_pass_equals_two_separate_passes(batch: dict[str, torch.Tensor]) -> None:
    model = _cvae(batch)
    torch.manual_seed(4)
    post, prior = model.forward_pair(batch["x"], batch["y"], num_samples=2)
    torch.manual_seed(4)
    post2 = model(batch["x"], batch["y"], num_samples=2)
    prior2 = model(batch["x"], batch["y"], latent="prior", num_samples=2)
    assert torch.equal(post.z, post2.z) and torch.equal(prior.z, prior2.z)
    a = hybrid_loss(post, prior, batch["y"], alpha=0.3).loss
    b = hybrid_loss(post2, prior2, batch["y"], alpha=0.3).loss
    assert torch.allclose(a, b)
