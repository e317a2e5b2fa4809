"""The dense CVAE and U-Net baseline: likelihoods by hand, shared features, learning, bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import kl_divergence

from plausible.models import DenseBaseline, DenseCVAE
from plausible.objectives.cvae import cvae_loss

SHAPE_X, SHAPE_Y = (1, 9, 7), (1, 9, 7)


def _batch(n: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *SHAPE_X, generator=g), (
        torch.rand(n, *SHAPE_Y, generator=g) > 0.5
    ).float()


def _cvae(**kwargs: object) -> DenseCVAE:
    return DenseCVAE(SHAPE_X, SHAPE_Y, latent_dim=2, channels=(4, 8), feature_channels=4, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("style", ["prob-unet", "ucnet"], ids=str)
def test_bernoulli_log_likelihood_is_the_summed_cross_entropy_of_the_logits(style: str) -> None:
    model = _cvae(style=style).double()
    x, y = (t.double() for t in _batch())
    z = model.prior(x).sample((3,))
    torch.manual_seed(1)
    p_y = model.generate(x, z)
    torch.manual_seed(1)  # the same per-pixel noise map for the UC-Net style
    logits = model.combine(model._features(x), z)  # (3, B, 1, H, W)
    by_hand = -F.binary_cross_entropy_with_logits(
        logits, y.expand_as(logits), reduction="none"
    ).sum((-3, -2, -1))
    torch.testing.assert_close(p_y.log_prob(y), by_hand)
    torch.testing.assert_close(p_y.mean, torch.sigmoid(logits))


def test_generate_for_stacked_latents_equals_one_call_per_latent() -> None:
    model = _cvae().eval()
    x, _ = _batch()
    z = torch.randn(4, x.shape[0], 2)
    stacked = model.generate(x, z).mean
    for s in range(4):
        torch.testing.assert_close(stacked[s], model.generate(x, z[s : s + 1]).mean[0])


def test_cvae_loss_is_reconstruction_plus_the_closed_form_kl() -> None:
    model = _cvae().double()
    x, y = (t.double() for t in _batch())
    torch.manual_seed(2)
    out = model(x, y, num_samples=2)
    loss = cvae_loss(out, y)
    assert out.q_z is not None
    expected = -out.p_y.log_prob(y).mean(0) + kl_divergence(out.q_z, out.p_z)
    torch.testing.assert_close(loss.loss, expected)


def test_forward_pair_shares_the_prior_and_draws_each_latent_from_its_own_net() -> None:
    model = _cvae()
    x, y = _batch()
    posterior, prior = model.forward_pair(x, y, num_samples=2)
    assert posterior.p_z is prior.p_z
    assert posterior.q_z is not None and prior.q_z is None
    torch.testing.assert_close(posterior.q_z.mean, model.recognize(x, y).mean)


def test_baseline_samples_repeat_its_mean_and_its_likelihood_is_cross_entropy() -> None:
    model = DenseBaseline(SHAPE_X, SHAPE_Y, channels=(4, 8), feature_channels=4).double()
    x, y = (t.double() for t in _batch())
    p_y = model.predictive(x)
    logits = model.output(model._features(x))
    by_hand = -F.binary_cross_entropy_with_logits(logits, y, reduction="none").sum((1, 2, 3))
    torch.testing.assert_close(p_y.log_prob(y), by_hand)
    samples = model.sample(x, 3, mean=True)
    assert torch.equal(samples, p_y.mean.expand(3, *p_y.mean.shape))


def test_the_cvae_learns_two_annotators_where_the_baseline_learns_their_average() -> None:
    """Each image has two equally likely masks (left half or right half). The CVAE's samples
    split between the two masks; the baseline predicts 0.5 everywhere, one blurred map.

    The image is a horizontal ramp, so that the convolutions can tell the columns apart; the KL
    weight rises from 0 over the first half of training, without which this small model
    collapses its posterior onto the prior before it learns the masks."""
    torch.manual_seed(0)
    n, h, w = 64, 6, 6
    x = torch.linspace(0, 1, w).expand(n, 1, h, w).contiguous()
    left = torch.zeros(1, h, w)
    left[..., : w // 2] = 1.0
    masks = torch.stack([left, 1 - left])  # (2, 1, H, W)
    cvae = DenseCVAE((1, h, w), (1, h, w), latent_dim=1, channels=(4,), feature_channels=4)
    base = DenseBaseline((1, h, w), (1, h, w), channels=(4,), feature_channels=4)
    opt = torch.optim.Adam([*cvae.parameters(), *base.parameters()], lr=1e-2)
    for step in range(300):
        y = masks[torch.randint(0, 2, (n,))]
        bound = cvae_loss(cvae(x, y), y, beta=min(1.0, step / 150)).loss.mean()
        loss = bound - base.predictive(x).log_prob(y).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    cvae.eval()
    with torch.no_grad():
        samples = cvae.sample(x[:1], 200, mean=True)[:, 0] > 0.5  # (200, 1, H, W)
        # A sample follows a grader when it agrees with that grader's mask on 90 % of pixels.
        agree = (samples[:, None] == masks.bool()).flatten(2).float().mean(-1)  # (200, 2)
        on_left = (agree[:, 0] >= 0.9).float().mean()
        on_right = (agree[:, 1] >= 0.9).float().mean()
        average = base.predictive(x[:1]).mean
    # z is continuous, so a few samples fall between the two modes: 90 %, not all.
    assert on_left + on_right > 0.9, "samples should follow one of the two annotators' masks"
    assert 0.2 < on_left < 0.8, f"both masks should be drawn, got {float(on_left):.2f} left"
    torch.testing.assert_close(average, torch.full_like(average, 0.5), atol=0.05, rtol=0)


def test_bad_inputs_name_what_to_change() -> None:
    model = _cvae()
    x, y = _batch()
    with pytest.raises(ValueError, match="x"):
        model.prior(torch.rand(2, 1, 8, 7))
    with pytest.raises(ValueError, match=r"NaN|finite"):
        model.prior(torch.full((2, *SHAPE_X), float("nan")))
    with pytest.raises(ValueError, match="same examples"):
        model(x, y[:2])
    with pytest.raises(ValueError, match="latent_dim=2"):
        model.generate(x, torch.randn(3, x.shape[0], 5))
    with pytest.raises(ValueError, match="same height and width"):
        DenseCVAE((1, 9, 7), (1, 9, 8))
    with pytest.raises(ValueError, match="style"):
        DenseCVAE(SHAPE_X, SHAPE_Y, style="segnet")  # type: ignore[arg-type]
    gsnn = _cvae(recognition_net=False)
    with pytest.raises(ValueError, match="recognition_net=True"):
        gsnn.recognize(x, y)
