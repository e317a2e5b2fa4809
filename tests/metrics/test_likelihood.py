"""Importance-sampled likelihood against the closed form of a linear-Gaussian VAE."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from plausible.metrics import importance_sampled_nll, negative_elbo, samples_per_chunk
from plausible.models import VAE

D, Z, SIGMA = 6, 2, 0.5


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
        min_posterior_scale=1e-6,
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
    assert abs(est.mean - float(exact.mean())) < est.stderr
    assert est.num_samples == 1000 and est.proposal == "q(z|x)" and est.num_examples == 300
    elbo_bound = negative_elbo(model, x)["negative_elbo"].mean
    assert elbo_bound > est.mean  # the ELBO is a looser bound than the K = 1000 estimate


def test_estimates_are_per_example_close() -> None:
    model, x, exact = _linear_gaussian_vae(perturb=0.1)
    values = []
    for i in range(0, 20):
        values.append(importance_sampled_nll(model, x[i : i + 1], num_samples=2000).mean)
    assert max(abs(v - float(e)) for v, e in zip(values, exact[:20], strict=True)) < 0.02


def test_chunking_does_not_change_the_estimate() -> None:
    model, x, _ = _linear_gaussian_vae(perturb=0.1)
    torch.manual_seed(0)
    a = importance_sampled_nll(model, x[:50], num_samples=64, memory_budget_mb=1000.0)
    torch.manual_seed(0)
    b = importance_sampled_nll(model, x[:50], num_samples=64, memory_budget_mb=0.05)
    assert math.isclose(a.mean, b.mean, rel_tol=0, abs_tol=0.01)


def test_memory_budget_too_small_names_the_largest_batch() -> None:
    with pytest.raises(ValueError, match="use a batch size of at most 26"):
        samples_per_chunk(100, 1000, floats_per_sample=10_000, memory_budget_mb=1.0)
