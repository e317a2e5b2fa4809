"""Tests for plausible.viz.latent on a tiny real VAE."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch

import plausible.viz.latent as viz_latent
from plausible.metrics.latent import ACTIVE_UNIT_THRESHOLD, active_units, posterior_means
from plausible.models import VAE
from plausible.viz import interpolation, latent_manifold, latent_scatter, latent_traversal


def assert_png(path: Path) -> None:
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) >= 50
    assert float(image[..., :3].std()) > 0.01


def make_vae(latent_dim: int, x_shape: tuple[int, ...] = (1, 8, 8)) -> VAE:
    torch.manual_seed(0)
    return VAE(x_shape=x_shape, latent_dim=latent_dim, hidden_dims=(16,))


@pytest.fixture
def x() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.rand(20, 1, 8, 8)


@pytest.mark.parametrize("training", [True, False], ids=str)
def test_traversal_writes_png_and_keeps_mode(
    tmp_path: Path, x: torch.Tensor, training: bool
) -> None:
    model = make_vae(3).train(training)
    model.decoder.train(not training)  # a mixed state must come back as it was
    out = latent_traversal(model, tmp_path / "trav.png", num_steps=7)
    assert_png(out)
    out = latent_traversal(model, tmp_path / "trav_x.png", x=x)
    assert_png(out)
    assert model.training is training
    assert model.decoder.training is (not training)
    assert torch.is_grad_enabled()


def test_traversal_dims_and_numpy_input(tmp_path: Path, x: torch.Tensor) -> None:
    model = make_vae(3)
    out = latent_traversal(model, tmp_path / "t.png", x=x.numpy(), dims=[2, 0], span=2.0)
    assert_png(out)
    with pytest.raises(ValueError, match="dims"):
        latent_traversal(model, tmp_path / "bad.png", dims=[3])


def _row_labels(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record the row labels each traversal hands to the renderer."""
    seen: list[list[str]] = []
    render = viz_latent._render_rows

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(list(kwargs["row_labels"]))
        return render(*args, **kwargs)

    monkeypatch.setattr(viz_latent, "_render_rows", recording)
    return seen


def test_traversal_orders_rows_by_the_activity_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _row_labels(monkeypatch)
    model = make_vae(4)
    activity = [0.5, 0.0, 2.0, 0.01]  # 0.01 is at the threshold: not above it, so inactive
    latent_traversal(model, tmp_path / "a.png", activity=activity, threshold=0.01)
    latent_traversal(model, tmp_path / "b.png", activity=activity)  # no threshold: no labels
    latent_traversal(model, tmp_path / "c.png")  # no activity: the first dimensions in order
    assert seen == [
        ["z2", "z0", "z3 (inactive)", "z1 (inactive)"],
        ["z2", "z0", "z3", "z1"],
        ["z0", "z1", "z2", "z3"],
    ]
    with pytest.raises(ValueError, match="one value per latent dimension"):
        latent_traversal(model, tmp_path / "bad.png", activity=[1.0, 2.0])


def test_traversal_with_metrics_activity_labels_dead_units(
    tmp_path: Path, x: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _row_labels(monkeypatch)
    model = make_vae(3)
    last = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():  # output 1 is the posterior mean of z1: now constant, a dead unit
        last.weight[1].zero_()
    _, activity = active_units(posterior_means(model, x))
    assert float(activity[1]) == 0.0 and bool((activity[[0, 2]] > 0).all())
    latent_traversal(
        model, tmp_path / "t.png", x=x, activity=activity, threshold=ACTIVE_UNIT_THRESHOLD
    )
    assert seen[0][-1] == "z1 (inactive)"


@pytest.mark.parametrize("training", [True, False], ids=str)
def test_interpolation_writes_png_and_keeps_mode(
    tmp_path: Path, x: torch.Tensor, training: bool
) -> None:
    model = make_vae(3).train(training)
    out = interpolation(model, x[:3], x[3:6], tmp_path / "interp.png", num_steps=6)
    assert_png(out)
    assert model.training is training


def test_interpolation_single_pair_and_mismatch(tmp_path: Path, x: torch.Tensor) -> None:
    model = make_vae(2)
    assert_png(interpolation(model, x[0], x[1], tmp_path / "one.png"))
    with pytest.raises(ValueError, match="same number"):
        interpolation(model, x[:2], x[:3], tmp_path / "bad.png")


def test_manifold(tmp_path: Path) -> None:
    model = make_vae(2).train()
    assert_png(latent_manifold(model, tmp_path / "manifold.png", num_steps=12))
    assert model.training
    with pytest.raises(ValueError, match="latent_dim == 2"):
        latent_manifold(make_vae(3), tmp_path / "bad.png")


@pytest.mark.parametrize("latent_dim", [1, 2, 5], ids=str)
def test_scatter(tmp_path: Path, x: torch.Tensor, latent_dim: int) -> None:
    model = make_vae(latent_dim)
    labels = torch.arange(20) % 4
    out = latent_scatter(
        model, x, labels, tmp_path / "scatter.png", class_names=["a", "b", "c", "d"], batch_size=7
    )
    assert_png(out)


def test_scatter_continuous_labels_and_checks(tmp_path: Path, x: torch.Tensor) -> None:
    model = make_vae(3)
    assert_png(latent_scatter(model, x, np.linspace(0, 1, 20), tmp_path / "cont.png"))
    with pytest.raises(ValueError, match="labels"):
        latent_scatter(model, x, np.zeros(5), tmp_path / "bad.png")


def test_flat_model_images_inferred(tmp_path: Path, x: torch.Tensor) -> None:
    model = make_vae(2, x_shape=(64,))
    flat = x.reshape(20, 64)
    assert_png(latent_traversal(model, tmp_path / "t.png", x=flat))
    assert_png(interpolation(model, flat[:2], flat[2:4], tmp_path / "i.png"))
    assert_png(latent_manifold(model, tmp_path / "m.png", num_steps=5))
    odd = make_vae(2, x_shape=(10,))
    with pytest.raises(ValueError, match="image_shape"):
        latent_traversal(odd, tmp_path / "odd.png")
    assert_png(latent_traversal(odd, tmp_path / "odd.png", image_shape=(2, 5)))


def test_uses_model_dtype(tmp_path: Path, x: torch.Tensor) -> None:
    model = make_vae(2).double()
    assert_png(interpolation(model, x[:2], x[2:4], tmp_path / "f64.png"))
    assert_png(latent_scatter(model, x, torch.arange(20) % 2, tmp_path / "s64.png"))
