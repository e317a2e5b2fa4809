"""The recurrent forecasters: their densities, the CVAE bound's KL, Mix-and-Match units and the
curriculum, checked against computations written out with the models' own layers."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor
from torch.distributions import kl_divergence

import plausible.models.sequence as sequence_module
from plausible.models import SequenceBaseline, SequenceCVAE
from plausible.objectives.cvae import cvae_loss
from plausible.registry import OBJECTIVES

T_OBS, T_PRED, D, H, Z = 5, 4, 2, 8, 3


def _data(n: int = 6, seed: int = 0) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, T_OBS, D, generator=g, dtype=torch.float64)
    return x, torch.randn(n, T_PRED, D, generator=g, dtype=torch.float64)


def _cvae(**kwargs: Any) -> SequenceCVAE:
    torch.manual_seed(0)
    model = SequenceCVAE((T_OBS, D), (T_PRED, D), latent_dim=Z, hidden_size=H, **kwargs)
    return model.double()


def _baseline(**kwargs: Any) -> SequenceBaseline:
    torch.manual_seed(0)
    return SequenceBaseline((T_OBS, D), (T_PRED, D), hidden_size=H, **kwargs).double()


class _Recorder:
    """Wraps ``sample_units`` in the model's module: keeps each call's shape, rate and mask."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[tuple[int, ...], float, Tensor]] = []
        real = sequence_module.sample_units

        def record(shape: Any, size: int, rate: Any, **kwargs: Any) -> Tensor:
            mask = real(shape, size, rate, **kwargs)
            self.calls.append((tuple(shape), float(rate), mask))
            return mask

        monkeypatch.setattr(sequence_module, "sample_units", record)


def _mixed_decoder_mean(model: SequenceCVAE, x: Tensor, z: Tensor, mask: Tensor) -> Tensor:
    """Mean of p(y|x,z,I) from the layers: context h_c on I, tanh(Linear(z)) elsewhere."""
    h_c = model.condition_encoder(x)
    context = torch.where(mask, h_c, model.latent_map(z))
    lead = context.shape[:-1]
    last = x[:, -1].expand(*lead, -1).reshape(-1, D)
    raw = model.decoder(context.reshape(-1, H), last, T_PRED)
    return raw[..., :D].reshape(*lead, T_PRED, D)  # the first D parameters are the loc


def _mixed_posterior(model: SequenceCVAE, x: Tensor, y: Tensor, mask: Tensor) -> Any:
    """q(z|x,y,I) from the layers: h_y on I, h_c elsewhere."""
    assert model.recognition_net is not None and model.future_encoder is not None
    h_c, h_y = model.condition_encoder(x), model.future_encoder(y)
    return model.posterior_head(model.recognition_net(torch.where(mask, h_y, h_c)))


# -- the baseline's density --------------------------------------------------------------------
@pytest.mark.parametrize("likelihood", ["gaussian", "laplace"], ids=str)
def test_baseline_nll_is_minus_the_log_density_written_out(likelihood: str) -> None:
    model = _baseline(likelihood=likelihood, likelihood_init_scale=0.7)
    x, y = _data()
    loss = OBJECTIVES.get("conditional-nll")(model, {"x": x, "y": y}).loss
    p_y = model.predictive(x)
    loc, sd = p_y.mean.detach(), p_y.stddev.detach()
    if likelihood == "gaussian":
        assert torch.allclose(sd, torch.full_like(sd, 0.7))
        per_value = 0.5 * ((y - loc) / sd) ** 2 + torch.log(sd) + 0.5 * math.log(2 * math.pi)
    else:
        # The scale is the Laplace's b; its standard deviation is sqrt(2) b.
        assert torch.allclose(sd, torch.full_like(sd, 0.7 * math.sqrt(2.0)))
        b = 0.7
        per_value = (y - loc).abs() / b + math.log(2 * b)
    torch.testing.assert_close(loss.detach(), per_value.sum((1, 2)))


def test_baseline_samples_are_its_prediction_or_draws_around_it() -> None:
    model = _baseline(likelihood_init_scale=0.3).eval()
    x, _ = _data(n=2)
    loc = model.predictive(x).mean
    assert torch.equal(model.sample(x, 3, mean=True), loc.expand(3, -1, -1, -1))
    torch.manual_seed(0)
    draws = model.sample(x, 4000, mean=False)
    residual = (draws - loc).detach()
    assert abs(float(residual.mean())) < 0.01
    assert abs(float(residual.std()) - 0.3) < 0.01


# -- shapes of the protocol ---------------------------------------------------------------------
@pytest.mark.parametrize("conditioning", ["concat", "mix-and-match"], ids=str)
def test_generate_and_sample_follow_the_protocol_shapes(conditioning: str) -> None:
    model = _cvae(conditioning=conditioning).eval()
    x, _ = _data(n=3)
    z = torch.randn(5, 3, Z, dtype=torch.float64)
    p_y = model.generate(x, z)
    assert p_y.batch_shape == (5, 3) and p_y.event_shape == (T_PRED, D)
    assert model.prior(x).batch_shape == (3,) and model.prior(x).event_shape == (Z,)
    assert model.sample(x, 7).shape == (7, 3, T_PRED, D)
    assert model.sample(x, 7, mean=False).shape == (7, 3, T_PRED, D)


# -- collapse: a decoder that ignores z gives one future ---------------------------------------
def test_with_the_latent_weights_zeroed_every_sample_is_the_same_future() -> None:
    model = _cvae().eval()
    x, _ = _data(n=3)
    torch.manual_seed(1)
    spread = model.sample(x, 5)
    assert float((spread - spread[:1]).abs().max()) > 1e-3
    with torch.no_grad():
        model.latent_map.b_map.weight.zero_()  # the concat context's only path from z
    samples = model.sample(x, 5)
    # Equal up to rounding: rows of one batched product may be summed in different orders.
    torch.testing.assert_close(samples, samples[:1].expand_as(samples), rtol=0, atol=1e-12)


def test_mix_and_match_with_fixed_units_and_no_latent_path_collapses_too() -> None:
    model = _cvae(conditioning="mix-and-match", deterministic_indices=True).eval()
    with torch.no_grad():
        model.latent_map[0].weight.zero_()
    x, _ = _data(n=3)
    samples = model.sample(x, 5)
    torch.testing.assert_close(samples, samples[:1].expand_as(samples), rtol=0, atol=1e-12)


# -- the CVAE bound ----------------------------------------------------------------------------
def test_the_bounds_kl_term_is_the_closed_form_kl_of_the_same_pass() -> None:
    model = _cvae().eval()
    x, y = _data()
    torch.manual_seed(3)
    out = model(x, y)
    terms = cvae_loss(out, y).terms
    q, p = model.recognize(x, y), model.prior(x)
    torch.testing.assert_close(terms["kl"], kl_divergence(q, p))
    # KL between diagonal Gaussians, written out.
    mq, sq, mp, sp = q.mean, q.stddev, p.mean, p.stddev
    by_hand = 0.5 * (2 * torch.log(sp / sq) + (sq**2 + (mq - mp) ** 2) / sp**2 - 1).sum(-1)
    torch.testing.assert_close(terms["kl"], by_hand)
    nll = -model.generate(x, out.z).log_prob(y).mean(0)
    torch.testing.assert_close(terms["reconstruction"], nll)


def test_forward_shares_one_set_of_units_between_recognition_and_generation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = _cvae(conditioning="mix-and-match", rate=0.5)
    recorder = _Recorder(monkeypatch)
    x, y = _data()
    out = model(x, y, num_samples=2)
    assert len(recorder.calls) == 1
    shape, _, mask = recorder.calls[0]
    assert shape == (6,) and (mask.sum(-1) == 4).all()
    assert out.q_z is not None
    torch.testing.assert_close(out.q_z.mean, _mixed_posterior(model, x, y, mask).mean)
    torch.testing.assert_close(out.p_y.mean, _mixed_decoder_mean(model, x, out.z, mask))


def test_generate_draws_fresh_units_for_every_latent_sample_and_example(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = _cvae(conditioning="mix-and-match", rate=0.25).eval()
    recorder = _Recorder(monkeypatch)
    x, _ = _data(n=3)
    z = torch.randn(4, 3, Z, dtype=torch.float64)
    p_y = model.generate(x, z)
    ((shape, rate, mask),) = recorder.calls
    assert shape == (4, 3) and rate == 0.25 and (mask.sum(-1) == 2).all()
    torch.testing.assert_close(p_y.mean, _mixed_decoder_mean(model, x, z, mask))


def test_deterministic_indices_fix_the_first_units_outside_training(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = _cvae(conditioning="mix-and-match", rate=0.375, deterministic_indices=True).eval()
    recorder = _Recorder(monkeypatch)
    x, _ = _data(n=3)
    z = torch.randn(4, 3, Z, dtype=torch.float64)
    fixed = (torch.arange(H) < 3).expand(4, 3, H)  # round(0.375 * 8) = 3
    torch.manual_seed(0)
    a = model.generate(x, z).mean
    torch.manual_seed(1)
    b = model.generate(x, z).mean
    assert not recorder.calls and torch.equal(a, b)
    torch.testing.assert_close(a, _mixed_decoder_mean(model, x, z, fixed))
    model.train()  # training draws random units all the same
    model.generate(x, z)
    assert len(recorder.calls) == 1


def test_hybrid_is_the_weighted_sum_of_the_cvae_and_gsnn_losses_of_one_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """alpha (-L_CVAE) + (1 - alpha) (-L_GSNN) on one pass's units (Sohn et al., 2015, eq. 6)."""
    model = _cvae(conditioning="mix-and-match")
    x, y = _data()
    recorder = _Recorder(monkeypatch)
    torch.manual_seed(4)
    hybrid = OBJECTIVES.get("hybrid")(model, {"x": x, "y": y}, alpha=0.3, num_samples=2)
    assert len(recorder.calls) == 1  # one pass: one set of units for both latent draws
    torch.manual_seed(4)
    posterior, prior = model.forward_pair(x, y, num_samples=2)
    mask = recorder.calls[1][2]
    assert torch.equal(mask, recorder.calls[0][2])  # the same noise as the objective's pass
    assert posterior.q_z is not None and prior.q_z is None
    torch.testing.assert_close(prior.p_y.mean, _mixed_decoder_mean(model, x, prior.z, mask))
    cvae = -posterior.p_y.log_prob(y).mean(0) + kl_divergence(posterior.q_z, posterior.p_z)
    gsnn = -prior.p_y.log_prob(y).mean(0)
    torch.testing.assert_close(hybrid.loss, 0.3 * cvae + 0.7 * gsnn)
    torch.testing.assert_close(hybrid.terms["cvae"], cvae)
    torch.testing.assert_close(hybrid.terms["gsnn"], gsnn)


def test_a_pure_gsnn_has_no_recognition_network() -> None:
    model = _cvae(recognition_net=False)
    assert not model.has_recognition
    x, y = _data()
    with pytest.raises(ValueError, match="recognition_net=False"):
        model.recognize(x, y)
    loss = OBJECTIVES.get("gsnn")(model, {"x": x, "y": y}).loss
    assert loss.shape == (6,) and torch.isfinite(loss).all()


# -- the curriculum ----------------------------------------------------------------------------
def test_the_rate_ramps_linearly_over_training_passes_and_then_stays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = _cvae(conditioning="mix-and-match", rate_start=0.25, rate=0.75, curriculum_steps=4)
    recorder = _Recorder(monkeypatch)
    x, y = _data()
    for step in range(6):
        expected = 0.25 + 0.5 * min(step, 4) / 4
        assert float(model.current_rate()) == pytest.approx(expected)
        model(x, y)
        assert int(model.rate_step) == step + 1
        assert (recorder.calls[-1][2].sum(-1) == round(expected * H)).all()
    # Passes outside training do not move the curriculum.
    model.eval()
    model(x, y)
    assert int(model.rate_step) == 6


def test_a_resumed_model_continues_its_curriculum() -> None:
    kwargs: dict[str, Any] = {
        "conditioning": "mix-and-match",
        "rate_start": 0.0,
        "rate": 1.0,
        "curriculum_steps": 10,
    }
    model = _cvae(**kwargs)
    x, y = _data()
    for _ in range(3):
        model(x, y)
    state = model.state_dict()
    assert int(state["rate_step"]) == 3
    resumed = _cvae(**kwargs)
    assert float(resumed.current_rate()) == 0.0
    resumed.load_state_dict(state)
    assert float(resumed.current_rate()) == pytest.approx(0.3)
    resumed(x, y)
    assert float(resumed.current_rate()) == pytest.approx(0.4)


# -- bad inputs --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shape", "seen"),
    [
        ((6, 4, D), "4 frames of 2 values"),
        ((6, T_OBS, 3), "5 frames of 3 values"),
        ((6, 10), "2-D"),
    ],
    ids=["frames", "values", "flat"],
)
def test_histories_of_the_wrong_shape_are_refused_with_the_expected_shape(
    shape: tuple[int, ...], seen: str
) -> None:
    model = _cvae().eval()
    bad = torch.zeros(shape, dtype=torch.float64)
    for call in (model.prior, lambda v: model.sample(v, 2), lambda v: model(v, _data()[1])):
        with pytest.raises(ValueError, match=rf"\(B, T=5, D=2\).*{seen}"):
            call(bad)
    with pytest.raises(ValueError, match=rf"\(B, T=5, D=2\).*{seen}"):
        _baseline().predictive(bad)


def test_futures_of_the_wrong_shape_and_non_finite_frames_are_refused() -> None:
    model = _cvae()
    x, y = _data()
    with pytest.raises(ValueError, match=r"y of shape \(B, T=4, D=2\)"):
        model(x, y[:, :3])
    nan = x.clone()
    nan[2, 1, 0] = float("nan")
    with pytest.raises(ValueError, match=r"x holds 1 NaN .*first in example 2"):
        model(nan, y)
    with pytest.raises(ValueError, match=r"z of shape \(\.\.\., B=6, latent_dim=3\)"):
        model.generate(x, torch.zeros(6, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="conditioning must be"):
        _cvae(conditioning="add")
    with pytest.raises(ValueError, match="same size D"):
        SequenceCVAE((5, 2), (4, 3))


# -- learning ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_mix_and_match_cvae_learns_branching_trajectories() -> None:
    """A small Mix-and-Match CVAE, 300 Adam steps of the CVAE bound on 2000 branching paths.

    Seen on one CPU thread (about 40 s): the held-out bound falls from about 12 600 to about
    -16 nats per future of 20 x 2 values, with KL(q || p) about 6 nats (the latent is used).
    """
    from plausible.data.branching import make_branching

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small recurrent network: threads only add synchronisation
    try:
        torch.manual_seed(0)
        data = make_branching(2000, seed=0)
        x, y = data["x"], data["y"]
        model = SequenceCVAE(
            tuple(x.shape[1:]),
            tuple(y.shape[1:]),
            latent_dim=4,
            hidden_size=32,
            conditioning="mix-and-match",
            likelihood_init_scale=0.1,
        )
        optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
        objective = OBJECTIVES.get("cvae")
        g = torch.Generator().manual_seed(1)

        def held_out() -> tuple[float, float]:
            with torch.no_grad():
                torch.manual_seed(2)
                out = objective(model, {"x": x[-200:], "y": y[-200:]})
            return float(out.loss.mean()), float(out.terms["kl"].mean())

        before, _ = held_out()
        for _ in range(300):
            index = torch.randint(0, 1800, (64,), generator=g)
            loss = objective(model, {"x": x[index], "y": y[index]}).loss.mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        after, kl = held_out()
    finally:
        torch.set_num_threads(threads)
    assert before > 1000 and after < 0.0, (before, after)
    assert kl > 1.0, kl
