"""Importance-sampled likelihood against closed forms: a linear-Gaussian VAE, and a Bernoulli
decoder with a one-dimensional latent integrated by quadrature."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import MultivariateNormal

from plausible.metrics import importance_sampled_nll, negative_elbo, samples_per_chunk
from plausible.metrics.likelihood import _floats_per_sample
from plausible.models import VAE
from plausible.objectives.iwae import log_importance_weights

D, Z, SIGMA = 6, 2, 0.5


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # Tiny float64 models run fastest on one thread, and far faster when other jobs share cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _linear_gaussian_vae(perturb: float) -> tuple[VAE, torch.Tensor, torch.Tensor]:
    """p(z) = N(0, I), p(x|z) = N(Wz + b, sigma^2 I) with orthogonal columns of W, so the exact
    posterior is diagonal and the encoder can be set to it (then perturbed by ``perturb``)."""
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(D, Z, generator=g, dtype=torch.float64))
    s = torch.tensor([2.0, 0.8], dtype=torch.float64)
    W, b = q * s, torch.randn(D, generator=g, dtype=torch.float64)
    model = VAE(
        (D,),
        latent_dim=Z,
        hidden_dims=(),
        likelihood="gaussian",
        likelihood_init_scale=SIGMA,
        min_scale=1e-6,
    ).double()
    precision = 1 + s**2 / SIGMA**2  # diagonal of I + W^T W / sigma^2
    post_scale = precision.rsqrt()
    with torch.no_grad():
        decoder, encoder = model.decoder[0], model.encoder[0]
        decoder.weight.copy_(W)
        decoder.bias.copy_(b)
        A = (W / SIGMA**2).T / precision[:, None]  # posterior mean = A (x - b)
        encoder.weight.zero_()
        encoder.weight[:Z] = A * (1 + perturb)
        encoder.bias[:Z] = -(A @ b) * (1 + perturb)
        raw = torch.log(torch.expm1(post_scale * (1 + perturb) - 1e-6))
        encoder.bias[Z:] = raw
    p_x = MultivariateNormal(b, W @ W.T + SIGMA**2 * torch.eye(D, dtype=torch.float64))
    x = p_x.sample((300,))
    return model, x, -p_x.log_prob(x)


def test_exact_posterior_gives_the_exact_likelihood_with_any_k() -> None:
    model, x, exact = _linear_gaussian_vae(perturb=0.0)
    est = importance_sampled_nll(model, x, num_samples=3, batch_size=64)
    assert abs(est.mean - float(exact.mean())) < 1e-8
    bound = negative_elbo(model, x)["negative_elbo"]
    # With the exact posterior the ELBO is tight up to its single-sample noise.
    assert abs(bound.mean - float(exact.mean())) < 4 * bound.stderr + 1e-6


def test_importance_sampling_matches_closed_form_with_imperfect_proposal() -> None:
    model, x, exact = _linear_gaussian_vae(perturb=0.3)
    est = importance_sampled_nll(model, x, num_samples=1000, batch_size=64, memory_budget_mb=1.0)
    # The spread of log p(x) across examples (est.stderr, ~0.1 nats) says nothing about the
    # estimator; on the same examples its error is a few thousandths of a nat (bias of the
    # K-sample bound plus Monte Carlo noise), so 0.015 nats catches a real error.
    assert abs(est.mean - float(exact.mean())) < 0.015
    assert est.num_samples == 1000 and est.proposal == "q(z|x)" and est.num_examples == 300
    elbo_bound = negative_elbo(model, x)["negative_elbo"].mean
    assert elbo_bound > est.mean  # the ELBO is a looser bound than the K = 1000 estimate


def test_estimates_are_per_example_close() -> None:
    """Each example's estimate is within 5 of its own Monte-Carlo standard errors of the truth.

    The standard error of ``log p_hat`` with K samples is, by the delta method,
    ``std(w) / (mean(w) sqrt(K))``; it is measured from 20,000 further weights per example.
    """
    model, x, exact = _linear_gaussian_vae(perturb=0.1)
    torch.manual_seed(0)
    k = 2000
    for i in range(20):
        estimate = importance_sampled_nll(model, x[i : i + 1], num_samples=k).mean
        with torch.no_grad():
            log_w = log_importance_weights(model, x[i : i + 1], 20 * k)[:, 0]
        w = torch.exp(log_w - log_w.max())
        stderr = float(w.std() / w.mean()) / math.sqrt(k)
        assert abs(estimate - float(exact[i])) < 5 * stderr, (i, estimate, float(exact[i]), stderr)


def test_chunking_does_not_change_the_estimate() -> None:
    """With the exact posterior as proposal every weight equals p(x), whatever was drawn, so
    however the K samples are split into chunks the running logsumexp must give the same value."""
    model, x, exact = _linear_gaussian_vae(perturb=0.0)
    one_chunk = importance_sampled_nll(model, x[:50], num_samples=64, batch_size=10)
    floats = _floats_per_sample(model)
    assert samples_per_chunk(10, 64, floats, 512.0, max_rows=1024) == 64  # one chunk indeed
    many = importance_sampled_nll(model, x[:50], num_samples=64, memory_budget_mb=0.05)
    assert samples_per_chunk(50, 64, floats, 0.05) < 64
    assert math.isclose(one_chunk.mean, many.mean, rel_tol=0, abs_tol=1e-9)
    assert math.isclose(many.mean, float(exact[:50].mean()), rel_tol=0, abs_tol=1e-9)


def test_the_cpu_row_cap_bounds_each_chunk_but_keeps_at_least_one_sample() -> None:
    assert samples_per_chunk(100, 1000, 100, 10_000.0, max_rows=1024) == 10
    assert samples_per_chunk(2000, 1000, 100, 10_000.0, max_rows=1024) == 1
    assert samples_per_chunk(1, 1000, 100, 10_000.0, max_rows=1024) == 1000
    assert samples_per_chunk(100, 1000, 100, 10_000.0) == 1000


def test_memory_budget_too_small_names_the_largest_batch() -> None:
    with pytest.raises(ValueError, match="use a batch size of at most 26"):
        samples_per_chunk(100, 1000, floats_per_sample=10_000, memory_budget_mb=1.0)


def _bernoulli_vae(num_pixels: int = 4) -> VAE:
    """p(z) = N(0, 1), p(x|z) = prod_d Bernoulli(sigmoid(w_d z + b_d)); q(z|x) = N(0, 1.5^2),
    broad enough to cover every posterior."""
    g = torch.Generator().manual_seed(0)
    model = VAE((num_pixels,), latent_dim=1, hidden_dims=(), likelihood="bernoulli").double()
    with torch.no_grad():
        model.decoder[0].weight.copy_(2.0 * torch.randn(num_pixels, 1, generator=g).double())
        model.decoder[0].bias.copy_(torch.randn(num_pixels, generator=g).double())
        model.encoder[0].weight.zero_()
        model.encoder[0].bias.copy_(torch.tensor([0.0, math.log(math.expm1(1.5))]))
    return model


def _quadrature_nll(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """-log p(x) = -log int N(z; 0, 1) p(x|z) dz by the trapezoid rule on [-12, 12]."""
    z = torch.linspace(-12.0, 12.0, 24001, dtype=torch.float64)
    w, b = model.decoder[0].weight.detach()[:, 0], model.decoder[0].bias.detach()
    logits = z[:, None, None] * w + b  # (Z, 1, D)
    log_lik = (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(-1)  # (Z, N)
    log_prior = -0.5 * z**2 - 0.5 * math.log(2 * math.pi)
    return -torch.log(torch.trapezoid(torch.exp(log_lik + log_prior[:, None]), z, dim=0))


def test_bernoulli_decoder_matches_quadrature_on_every_binary_image() -> None:
    model = _bernoulli_vae()
    x = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)), dtype=torch.float64)
    exact = _quadrature_nll(model, x)
    est = importance_sampled_nll(model, x, num_samples=20_000, batch_size=16, seed=3)
    # Independent of the VAE's code: the average over all 16 images is within a hundredth of a
    # nat (its Monte Carlo error is ~0.004 here); a dropped prior or proposal term is off by > 0.5.
    assert abs(est.mean - float(exact.mean())) < 0.01
    assert est.num_examples == 16 and est.num_samples == 20_000


@pytest.mark.parametrize("perturb", [0.3], ids=str)
def test_same_seed_same_numbers_whatever_the_budget_and_batch_size(perturb: float) -> None:
    model, x, _ = _linear_gaussian_vae(perturb=perturb)
    x = x[:60]
    one = importance_sampled_nll(model, x, num_samples=64, batch_size=60, seed=5)
    many = importance_sampled_nll(
        model, x, num_samples=64, batch_size=7, memory_budget_mb=0.02, seed=5
    )
    assert samples_per_chunk(7, 64, _floats_per_sample(model), 0.02) < 64  # chunked indeed
    assert math.isclose(one.mean, many.mean, rel_tol=0, abs_tol=1e-12)
    other = importance_sampled_nll(model, x, num_samples=64, batch_size=60, seed=6)
    assert other.mean != one.mean  # and the seed matters
    a = negative_elbo(model, x, batch_size=60, seed=5)["negative_elbo"]
    b = negative_elbo(model, x, batch_size=7, seed=5)["negative_elbo"]
    assert math.isclose(a.mean, b.mean, rel_tol=0, abs_tol=1e-12)


def test_evaluation_leaves_the_global_random_stream_alone() -> None:
    model, x, _ = _linear_gaussian_vae(perturb=0.3)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    importance_sampled_nll(model, x[:10], num_samples=8)
    negative_elbo(model, x[:10])
    assert torch.equal(torch.rand(3), expected)
