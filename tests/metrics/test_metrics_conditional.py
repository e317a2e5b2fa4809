"""Conditional likelihood estimators against the closed form of a linear-Gaussian CVAE."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal

from plausible.data.quadrants import split_quadrants, unobserved_regions
from plausible.data.task_data import TaskData
from plausible.metrics.conditional import (
    conditional_log_weights,
    conditional_negative_elbo,
    conditional_nll,
    conditional_nll_values,
    deterministic_conditional_nll,
)
from plausible.metrics.suite import run_metrics
from plausible.models import CVAE, ConditionalBaseline
from plausible.models.protocols import ConditionalLatentModel


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # Small models run fastest on one thread, and far faster when other jobs share the cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class LinearGaussianCVAE(nn.Module):
    """p(z|x) = N(Ax + a, diag(s_p^2)), p(y|x,z) = N(Bz + Cx + c, diag(s_y^2)), q(z|x,y) diagonal.

    The recognition network is the exact posterior's mean with the diagonal of its covariance
    widened by ``q_widen`` (a good but imperfect proposal), so importance weights vary a little.
    """

    def __init__(
        self, x_dim: int = 2, z_dim: int = 2, y_dim: int = 3, *, q_widen: float = 1.1, seed: int = 0
    ) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)

        def rnd(*shape: int, scale: float = 1.0) -> nn.Parameter:
            return nn.Parameter(scale * torch.randn(*shape, generator=g, dtype=torch.float64))

        self.A, self.a = rnd(z_dim, x_dim, scale=0.5), rnd(z_dim, scale=0.3)
        self.B, self.C = rnd(y_dim, z_dim, scale=0.8), rnd(y_dim, x_dim, scale=0.5)
        self.c = rnd(y_dim)
        self.prior_scale = nn.Parameter(torch.full((z_dim,), 1.2, dtype=torch.float64))
        # y is informative (p(z|x,y) is much narrower than p(z|x)), as in image completion.
        self.noise_scale = nn.Parameter(torch.full((y_dim,), 0.4, dtype=torch.float64))
        self.q_widen = q_widen
        # The ConditionalLatentModel contract (plausible.models.protocols).
        self.x_shape, self.y_shape, self.latent_dim = (x_dim,), (y_dim,), z_dim
        self.has_recognition = True

    def sample(self, x: Tensor, num_samples: int, *, mean: bool = True) -> Tensor:
        p_y = self.generate(x, self.prior(x).sample((num_samples,)))
        return p_y.mean if mean else p_y.sample()

    def prior(self, x: Tensor) -> Distribution:
        loc = x @ self.A.T + self.a
        return Independent(Normal(loc, self.prior_scale.expand_as(loc)), 1)

    def generate(self, x: Tensor, z: Tensor) -> Distribution:
        loc = z @ self.B.T + x @ self.C.T + self.c
        return Independent(Normal(loc, self.noise_scale.expand_as(loc)), 1)

    def _posterior(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        prior_prec = torch.diag(self.prior_scale**-2)
        noise_prec = torch.diag(self.noise_scale**-2)
        precision = prior_prec + self.B.T @ noise_prec @ self.B
        cov = torch.linalg.inv(precision)
        resid = y - x @ self.C.T - self.c
        rhs = (x @ self.A.T + self.a) @ prior_prec + resid @ noise_prec @ self.B
        return rhs @ cov, cov

    def recognize(self, x: Tensor, y: Tensor) -> Distribution:
        loc, cov = self._posterior(x, y)
        scale = self.q_widen * cov.diagonal().sqrt()
        return Independent(Normal(loc, scale.expand_as(loc)), 1)

    def exact_log_likelihood(self, x: Tensor, y: Tensor) -> Tensor:
        """log p(y|x) = log N(y; B(Ax + a) + Cx + c, B S_p B^T + S_y)."""
        loc = (x @ self.A.T + self.a) @ self.B.T + x @ self.C.T + self.c
        cov = self.B @ torch.diag(self.prior_scale**2) @ self.B.T + torch.diag(self.noise_scale**2)
        return MultivariateNormal(loc, covariance_matrix=cov).log_prob(y)

    def sample_pairs(self, n: int, seed: int = 1) -> tuple[Tensor, Tensor]:
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, self.A.shape[1], generator=g, dtype=torch.float64)
        with torch.no_grad():
            loc = x @ self.A.T + self.a
            z = loc + self.prior_scale * torch.randn(loc.shape, generator=g, dtype=torch.float64)
            mean = z @ self.B.T + x @ self.C.T + self.c
            y = mean + self.noise_scale * torch.randn(mean.shape, generator=g, dtype=torch.float64)
        return x, y


@pytest.fixture(scope="module")
def linear_model() -> LinearGaussianCVAE:
    return LinearGaussianCVAE()


@pytest.mark.parametrize("proposal", ["prior", "posterior"], ids=str)
def test_estimators_match_the_closed_form_within_their_standard_error(
    linear_model: LinearGaussianCVAE, proposal: str
) -> None:
    # One (x, y) pair repeated: the spread across copies is then the estimator's own Monte
    # Carlo error, which is what the reported standard error must cover.
    # S is large enough that the estimators' small upward bias (Jensen) is well below the error.
    x, y = linear_model.sample_pairs(1)
    n = 200
    exact = -float(linear_model.exact_log_likelihood(x, y)[0].detach())
    est = conditional_nll(
        linear_model,
        x.expand(n, -1),
        y.expand(n, -1),
        num_samples=1000,
        proposal=proposal,
        batch_size=100,
    )  # type: ignore[arg-type]
    assert est.num_samples == 1000 and est.num_examples == n
    assert est.proposal == ("p(z|x)" if proposal == "prior" else "q(z|x,y)")
    assert abs(est.mean - exact) < 3 * est.stderr + 1e-9, (est.mean, exact, est.stderr)


@pytest.mark.parametrize("proposal", ["prior", "posterior"], ids=str)
def test_per_example_estimates_match_the_closed_form(
    linear_model: LinearGaussianCVAE, proposal: str
) -> None:
    x, y = linear_model.sample_pairs(300, seed=4)
    exact = -linear_model.exact_log_likelihood(x, y).detach()
    # Monte Carlo needs more samples for its Jensen bias to vanish on the pairs where y is most
    # informative: that is the paper's argument for importance sampling.
    num_samples = 4000 if proposal == "prior" else 1000
    values = conditional_nll_values(
        linear_model,
        x,
        y,
        num_samples=num_samples,  # type: ignore[arg-type]
        proposal=proposal,
        batch_size=64,
    )
    diff = values - exact
    stderr = float(diff.std() / math.sqrt(len(diff)))
    assert abs(float(diff.mean())) < 3 * stderr + 1e-3
    rms = float(diff.pow(2).mean().sqrt())
    assert rms < (0.03 if proposal == "posterior" else 0.2), rms


def test_importance_sampling_has_far_lower_variance_than_monte_carlo(
    linear_model: LinearGaussianCVAE,
) -> None:
    x, y = linear_model.sample_pairs(1, seed=7)
    n = 400
    mc = conditional_nll_values(
        linear_model,
        x.expand(n, -1),
        y.expand(n, -1),
        num_samples=16,  # type: ignore[arg-type]
        proposal="prior",
        seed=1,
    )
    is_ = conditional_nll_values(
        linear_model,
        x.expand(n, -1),
        y.expand(n, -1),
        num_samples=16,  # type: ignore[arg-type]
        proposal="posterior",
        seed=1,
    )
    # Both are noisy estimates of the same number; IS from q(z|x,y) should be far less noisy.
    assert float(is_.var()) * 10 < float(mc.var())


def test_exact_posterior_proposal_gives_a_zero_variance_estimate() -> None:
    # With q(z|x,y) = p(z|x,y) every weight equals p(y|x). (Only a diagonal q can be exact
    # here, so use one latent dimension.)
    model = LinearGaussianCVAE(z_dim=1, q_widen=1.0)
    x, y = model.sample_pairs(5, seed=3)
    values = conditional_nll_values(model, x, y, num_samples=3, proposal="posterior")  # type: ignore[arg-type]
    exact = -model.exact_log_likelihood(x, y).detach()
    assert torch.allclose(values, exact, atol=1e-10)


@pytest.mark.parametrize("budget_mb", [64.0, 0.01], ids=str)
def test_chunks_of_samples_combine_exactly(budget_mb: float) -> None:
    # With the exact posterior as proposal every weight is p(y|x), so any chunking must give
    # the closed form; 0.01 MiB holds three samples per chunk.
    model = LinearGaussianCVAE(z_dim=1, q_widen=1.0)
    x, y = model.sample_pairs(40, seed=5)
    values = conditional_nll_values(
        model,
        x,
        y,
        num_samples=50,
        batch_size=16,  # type: ignore[arg-type]
        memory_budget_mb=budget_mb,
    )
    exact = -model.exact_log_likelihood(x, y).detach()
    assert values.shape == (40,)
    assert torch.allclose(values, exact, atol=1e-9)


@pytest.mark.parametrize("proposal", ["prior", "posterior"], ids=str)
def test_same_seed_same_values_whatever_the_budget_and_batch_size(
    linear_model: LinearGaussianCVAE, proposal: str
) -> None:
    # An imperfect proposal, so every draw changes the value: only the same draws agree.
    x, y = linear_model.sample_pairs(30, seed=2)
    kwargs = {"num_samples": 40, "proposal": proposal, "seed": 9}
    one = conditional_nll_values(linear_model, x, y, batch_size=30, **kwargs)  # type: ignore[arg-type]
    chunked = conditional_nll_values(
        linear_model,
        x,
        y,
        batch_size=4,
        memory_budget_mb=0.005,
        **kwargs,  # type: ignore[arg-type]
    )
    # Equal up to the rounding of a differently ordered logsumexp; other draws differ by ~0.1.
    assert torch.allclose(one, chunked, rtol=0, atol=1e-10)
    other = conditional_nll_values(
        linear_model, x, y, batch_size=30, num_samples=40, proposal=proposal, seed=10
    )  # type: ignore[arg-type]
    assert float((one - other).abs().max()) > 1e-3
    a = conditional_negative_elbo(linear_model, x, y, num_samples=3, batch_size=30, seed=9)
    b = conditional_negative_elbo(linear_model, x, y, num_samples=3, batch_size=4, seed=9)
    assert math.isclose(a["negative_elbo"].mean, b["negative_elbo"].mean, abs_tol=1e-10)


def test_the_linear_model_satisfies_the_contract(linear_model: LinearGaussianCVAE) -> None:
    assert isinstance(linear_model, ConditionalLatentModel)


def test_a_gsnn_is_scored_with_the_prior_proposal_and_says_so() -> None:
    model, x, y = _quadrant_cvae(recognition_net=False)
    assert not model.has_recognition
    data = TaskData(train={"x": x, "y": y}, val={"x": x, "y": y}, test={"x": x, "y": y})
    result = run_metrics(["nll"], model, data, {"nll": {"num_samples": 5}})["nll"]
    assert result["nll"] == result["nll_mc"] and result["nll"]["proposal"] == "p(z|x)"
    assert "Monte Carlo" in result["nll"]["estimator"] and "nll_is" not in result
    with pytest.raises(ValueError, match="has no recognition network"):
        conditional_nll(model, x, y, num_samples=2, proposal="posterior")


def test_log_weights_shape_and_seeded_reproducibility(linear_model: LinearGaussianCVAE) -> None:
    x, y = linear_model.sample_pairs(7)
    assert conditional_log_weights(linear_model, x, y, 5, proposal="prior").shape == (5, 7)  # type: ignore[arg-type]
    a = conditional_nll_values(linear_model, x, y, num_samples=5, seed=11)  # type: ignore[arg-type]
    b = conditional_nll_values(linear_model, x, y, num_samples=5, seed=11)  # type: ignore[arg-type]
    assert torch.equal(a, b)


def _quadrant_cvae(**kwargs: object) -> tuple[CVAE, Tensor, Tensor]:
    x, y = split_quadrants(torch.rand(12, 1, 8, 8), 2)
    model = CVAE(
        (1, 8, 8),
        (y.shape[1],),
        latent_dim=4,
        hidden_dims=(32,),
        canvas_shape=(1, 8, 8),
        output_regions=unobserved_regions(8, 2),
        **kwargs,
    )  # type: ignore[arg-type]
    return model, x, y


def test_negative_elbo_is_an_upper_bound_on_the_is_estimate() -> None:
    model, x, y = _quadrant_cvae()
    bound = conditional_negative_elbo(model, x, y, num_samples=4)
    is_ = conditional_nll(model, x, y, num_samples=200)  # type: ignore[arg-type]
    assert set(bound) == {"negative_elbo", "reconstruction", "kl"}
    assert "upper bound" in bound["negative_elbo"].estimator
    assert is_.mean <= bound["negative_elbo"].mean + 3 * bound["negative_elbo"].stderr
    assert bound["kl"].mean >= 0


def test_evaluation_leaves_the_model_mode_and_global_rng_alone() -> None:
    model, x, y = _quadrant_cvae()
    model.train()
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    conditional_nll(model, x, y, num_samples=3, proposal="prior")  # type: ignore[arg-type]
    assert torch.equal(torch.rand(3), expected)
    assert model.training


def test_deterministic_nll_is_the_summed_cross_entropy() -> None:
    x, y = split_quadrants(torch.rand(9, 1, 8, 8), 3)
    model = ConditionalBaseline((1, 8, 8), (y.shape[1],), hidden_dims=(8,))
    est = deterministic_conditional_nll(model, x, y)
    with torch.no_grad():
        probs = model.predict(x)
    bce = torch.nn.functional.binary_cross_entropy(probs.double(), y.double(), reduction="none")
    assert est.mean == pytest.approx(float(bce.sum(1).mean()), rel=1e-5)
    assert est.num_samples == 1 and "exact" in est.proposal


@pytest.mark.parametrize(
    ("x_rows", "y_rows", "message"),
    [(5, 4, "same examples"), (0, 0, "no examples")],
    ids=str,
)
def test_mismatched_or_empty_inputs_are_refused(
    linear_model: LinearGaussianCVAE, x_rows: int, y_rows: int, message: str
) -> None:

    x = torch.zeros(x_rows, 2, dtype=torch.float64)
    y = torch.zeros(y_rows, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=message):
        conditional_nll(linear_model, x, y, num_samples=2)  # type: ignore[arg-type]


def test_unknown_proposal_is_refused(linear_model: LinearGaussianCVAE) -> None:
    x, y = linear_model.sample_pairs(2)
    with pytest.raises(ValueError, match=r"'prior' .* or 'posterior'"):
        conditional_nll(linear_model, x, y, proposal="recognition")  # type: ignore[arg-type]
