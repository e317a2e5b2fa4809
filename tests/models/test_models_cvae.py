"""CVAE, GSNN and the deterministic baseline: shapes, options, inference and bad input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from plausible.data.quadrants import split_quadrants, unobserved_regions
from plausible.models.baseline import ConditionalBaseline
from plausible.models.cvae import CVAE
from plausible.registry import MODELS


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # Small models run fastest on one thread, and far faster when other jobs share the cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _quadrant_batch(
    q: int = 1, size: int = 8, n: int = 5
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    x, y = split_quadrants(torch.rand(n, 1, size, size), q)
    shapes = {
        "x_shape": (1, size, size),
        "y_shape": (y.shape[1],),
        "canvas_shape": (1, size, size),
        "output_regions": unobserved_regions(size, q),
    }
    return x, y, shapes


def test_models_are_registered() -> None:
    assert MODELS.get("cvae") is CVAE
    assert MODELS.get("conditional-baseline") is ConditionalBaseline
    assert MODELS.get("conditional_baseline") is ConditionalBaseline  # older run folders


@pytest.mark.parametrize("architecture", ["mlp", "conv"], ids=str)
@pytest.mark.parametrize("share_trunk", [False, True], ids=str)
@pytest.mark.parametrize("q", [1, 2, 3], ids=str)
def test_forward_shapes(architecture: str, share_trunk: bool, q: int) -> None:
    x, y, shapes = _quadrant_batch(q)
    model = CVAE(
        **shapes,
        latent_dim=3,
        hidden_dims=(16,),
        architecture=architecture,  # type: ignore[arg-type]
        conv_channels=(4, 8),
        feature_dim=8,
        share_trunk=share_trunk,
    )
    out = model(x, y, num_samples=2)
    assert out.z.shape == (2, 5, 3)
    assert out.p_y.batch_shape == (2, 5) and out.p_y.event_shape == (y.shape[1],)
    assert out.q_z is not None and out.q_z.batch_shape == (5,)
    assert out.p_z.batch_shape == (5,)
    prior_out = model(x, y, latent="prior")
    assert prior_out.q_z is None and prior_out.z.shape == (1, 5, 3)


def test_generation_network_sees_x() -> None:
    # The flaw of the common public re-implementation: p(y|x,z) that ignores x.
    x, _, shapes = _quadrant_batch()
    model = CVAE(**shapes, latent_dim=3, hidden_dims=(16,))  # type: ignore[arg-type]
    z = torch.zeros(1, 2, 3)
    p1 = model.generate(x[:2], z).mean
    p2 = model.generate(x[2:4], z).mean
    assert not torch.allclose(p1, p2)


def test_standard_prior_is_the_label_conditional_vae() -> None:
    model = CVAE((4,), (1, 8, 8), latent_dim=3, hidden_dims=(16,), prior="standard")
    p_z = model.prior(torch.eye(4))
    assert p_z.batch_shape == (4,)
    assert torch.equal(p_z.mean, torch.zeros(4, 3)) and torch.equal(p_z.stddev, torch.ones(4, 3))


def test_learned_prior_depends_on_x() -> None:
    model = CVAE((4,), (6,), latent_dim=3, hidden_dims=(16,))
    p_z = model.prior(torch.eye(4))
    assert not torch.allclose(p_z.mean[0], p_z.mean[1])


def test_shared_trunk_is_one_module_used_by_prior_and_generation() -> None:
    x, y, shapes = _quadrant_batch()
    model = CVAE(**shapes, latent_dim=3, hidden_dims=(16, 16), share_trunk=True)  # type: ignore[arg-type]
    assert model.trunk is not None
    model(x, y).p_y.log_prob(y).sum().backward()
    assert model.trunk[1].weight.grad is not None
    separate = CVAE(**shapes, latent_dim=3, hidden_dims=(16, 16))  # type: ignore[arg-type]
    count = sum(p.numel() for p in model.parameters())
    assert count < sum(p.numel() for p in separate.parameters())


def test_gsnn_without_recognition_network() -> None:
    x, y, shapes = _quadrant_batch()
    model = CVAE(**shapes, latent_dim=3, hidden_dims=(16,), recognition_net=False)  # type: ignore[arg-type]
    assert model(x, y, latent="prior").q_z is None
    with pytest.raises(ValueError, match="recognition_net=False"):
        model(x, y)


def test_sample_predict_and_conditional_mean() -> None:
    x, y, shapes = _quadrant_batch(2)
    model = CVAE(**shapes, latent_dim=3, hidden_dims=(16,)).eval()  # type: ignore[arg-type]
    samples = model.sample(x, 7)
    assert samples.shape == (7, 5, y.shape[1])
    assert float(samples.min()) >= 0.0 and float(samples.max()) <= 1.0
    draws = model.sample(x, 3, mean=False)
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    y_star = model.predict(x)
    z_star = model.prior(x).mean
    assert torch.allclose(y_star, model.generate(x, z_star).mean)
    assert model.conditional_mean(x, 11).shape == (5, y.shape[1])


def test_baseline_is_deterministic_and_scores_cross_entropy() -> None:
    x, y, shapes = _quadrant_batch(3)
    model = ConditionalBaseline(**shapes, hidden_dims=(16,)).eval()  # type: ignore[arg-type]
    probs = model.predict(x)
    assert torch.equal(probs, model.predict(x))
    bce = torch.nn.functional.binary_cross_entropy(probs, y, reduction="none").sum(1)
    assert torch.allclose(-model.predictive(x).log_prob(y), bce, atol=1e-4)
    assert torch.equal(model.sample(x, 3)[1], probs)


def test_multiscale_cvae_has_a_loss_per_scale() -> None:
    x, y, shapes = _quadrant_batch(1, size=12)
    model = CVAE(
        **shapes,
        latent_dim=3,
        hidden_dims=(16,),
        architecture="conv",  # type: ignore[arg-type]
        conv_channels=(4, 4, 8),
        feature_dim=8,
        multiscale=True,
    )
    out = model(x, y)
    assert len(out.p_y_scales) == len(out.y_scales) == 2
    for p, t in zip(out.p_y_scales, out.y_scales, strict=True):
        assert p.log_prob(t).shape == (1, 5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"architecture": "rnn"}, "architecture must be 'mlp' or 'conv'"),
        ({"multiscale": True}, "multiscale=True needs architecture='conv'"),
        ({"prior": "flat"}, "prior must be 'learned' or 'standard'"),
        ({"latent_dim": 0}, "latent_dim must be >= 1"),
        ({"y_shape": (7,)}, "must match"),
        ({"output_regions": [(6, 6, 4, 4)]}, "does not lie inside"),
        ({"prior": "standard", "share_trunk": True}, "share_trunk"),
    ],
    ids=str,
)
def test_bad_configuration_is_explained(kwargs: dict, message: str) -> None:
    _, _, shapes = _quadrant_batch()
    with pytest.raises(ValueError, match=message):
        CVAE(**{**shapes, "latent_dim": 3, "hidden_dims": (8,), **kwargs})


def test_conv_needs_an_image_target() -> None:
    with pytest.raises(ValueError, match="needs y to be an image"):
        CVAE((4,), (10,), architecture="conv")


def test_mismatched_batch_sizes_are_refused() -> None:
    x, y, shapes = _quadrant_batch()
    model = CVAE(**shapes, latent_dim=3, hidden_dims=(8,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same examples"):
        model(x[:3], y)
    with pytest.raises(ValueError, match="same examples"):
        model.recognize(x, y[:2])
    baseline = ConditionalBaseline(
        **shapes,
        hidden_dims=(8,),
        architecture="conv",  # type: ignore[arg-type]
        conv_channels=(4, 4),
        feature_dim=8,
        multiscale=True,
    )
    with pytest.raises(ValueError, match="same examples"):
        baseline(x[:3], y)


def test_mismatched_shapes_are_refused() -> None:
    x, y, shapes = _quadrant_batch()
    model = CVAE(**shapes, latent_dim=3, hidden_dims=(8,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"expects y of shape \(B, 48\)"):
        model(x, y[:, :40])
    with pytest.raises(ValueError, match=r"expects x of shape \(B, 1, 8, 8\)"):
        model(torch.rand(5, 1, 6, 6), y)
    with pytest.raises(ValueError, match="latent_dim=3"):
        model.generate(x, torch.zeros(2, 5, 4))
