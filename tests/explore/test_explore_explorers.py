"""The explorers behind the API: which models get which explorer, and what each endpoint returns."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
import torch

from plausible.explore import (
    BadRequestError,
    DensityExplorer,
    LatentExplorer,
    NotFoundError,
    explorer_for_run,
    make_explorer,
)
from plausible.explore.base import SLIDER_RANGE
from plausible.runs import load_run
from plausible.tasks.base import TaskData


def _pixels(url: str) -> np.ndarray:
    Image = pytest.importorskip("PIL.Image")
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


# -- unconditional VAE -------------------------------------------------------------------------


def test_vae_gets_sliders_ordered_by_kl(vae, vae_data) -> None:
    explorer = make_explorer(vae, vae_data, title="t", model_name="vae")
    assert isinstance(explorer, LatentExplorer)
    info = explorer.info()
    assert info["kind"] == "latent" and info["latent_dim"] == 12
    assert info["image"] == {"channels": 1, "height": 8, "width": 8}
    assert sorted(info["order"]) == list(range(12))
    kl = info["kl"]
    assert [kl[d] for d in info["order"]] == sorted(kl, reverse=True)
    assert info["kl_divergence"] == "KL(q(z|x) ‖ p(z))"
    assert info["endpoints"] == ["decode", "encode", "sample"]


def test_given_kl_sets_the_order(vae, vae_data) -> None:
    kl = torch.arange(12.0)
    explorer = make_explorer(vae, vae_data, kl=kl)
    assert explorer.info()["order"] == list(range(11, -1, -1))


def test_decode_matches_the_model(vae, vae_data) -> None:
    explorer = make_explorer(vae, vae_data)
    u = [0.5 * (-1) ** d for d in range(12)]
    array = explorer.call("decode", {"z": u, "format": "array"})
    expected = vae.decode(torch.tensor([u])).mean[0]  # standard normal prior: z = u
    assert array["shape"] == [1, 8, 8]
    np.testing.assert_allclose(
        np.array(array["values"]).reshape(1, 8, 8), expected.detach().numpy(), atol=1e-4
    )
    png = _pixels(explorer.call("decode", {"z": u})["image"])
    assert png.shape == (8, 8)
    np.testing.assert_allclose(png / 255.0, expected[0].detach().numpy(), atol=1 / 255 + 1e-6)


def test_moving_one_dimension_changes_the_image(vae, vae_data) -> None:
    explorer = make_explorer(vae, vae_data)
    zero = explorer.call("decode", {"z": [0.0] * 12})["image"]
    moved = explorer.call("decode", {"z": [3.0] + [0.0] * 11})["image"]
    assert zero != moved


def test_sample_is_seeded_and_within_the_sliders(vae, vae_data) -> None:
    explorer = make_explorer(vae, vae_data)
    a, b = (explorer.call("sample", {"seed": 7}) for _ in range(2))
    assert a["z"] == b["z"] and a["image"] == b["image"] and a["seed"] == 7
    assert len(a["z"]) == 12 and max(abs(v) for v in a["z"]) <= SLIDER_RANGE
    c = explorer.call("sample", {})
    assert isinstance(c["seed"], int)


def test_encode_gives_the_posterior_mean(vae, vae_data) -> None:
    explorer = make_explorer(vae, vae_data)
    out = explorer.call("encode", {"index": 3})
    mean = vae.encode(vae_data.test["x"][3:4]).mean[0].clamp(-SLIDER_RANGE, SLIDER_RANGE)
    np.testing.assert_allclose(out["z"], mean.detach().numpy(), atol=1e-3)
    assert out["index"] == 3 and out["label"] == int(vae_data.test["label"][3])
    assert out["input"].startswith("data:image/png") and out["image"].startswith("data:image/png")


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("decode", {"z": [0.0] * 11}, "exactly 12 numbers"),
        ("decode", {"z": [0.0] * 11 + [9.0]}, "out of range"),
        ("decode", {"z": [0.0] * 12, "format": "gif"}, "'format' must be one of"),
        ("decode", {"z": [0.0] * 12, "condition": 0}, "unknown field"),
        ("encode", {"index": 20}, r"'index' = 20 is out of range; it must lie in \[0, 19\]"),
        ("encode", {}, "missing field"),
        ("sample", {"seed": -1}, "'seed'"),
    ],
    ids=str,
)
def test_bad_requests_raise_bad_request(vae, vae_data, name, body, message) -> None:
    with pytest.raises(BadRequestError, match=message):
        make_explorer(vae, vae_data).call(name, body)


def test_unknown_endpoint_is_not_found_and_lists_the_valid_ones(vae, vae_data) -> None:
    with pytest.raises(NotFoundError, match="/api/decode, /api/encode, /api/sample"):
        make_explorer(vae, vae_data).call("density", {})


def test_flat_vae_on_vectors_returns_values(vae_data) -> None:
    from plausible.models.vae import VAE

    data = TaskData(
        train={"x": torch.randn(20, 5)}, val={"x": torch.randn(5, 5)}, test={"x": torch.randn(5, 5)}
    )
    model = VAE((5,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian").eval()
    explorer = make_explorer(model, data)
    assert explorer.info()["image"] is None
    assert len(explorer.call("decode", {"z": [0.0, 1.0]})["values"]) == 5


def test_explorer_for_run_reads_the_run(vae_run: Path) -> None:
    explorer = explorer_for_run(load_run(vae_run))
    info = explorer.info()
    assert info["title"] == "vae-run" and info["model"] == "vae"
    assert "untrained" in info["description"]
    assert info["examples"] > 0 and info["image"]["height"] == 8


# -- conditional models ------------------------------------------------------------------------


def test_quadrant_cvae_composites_hypotheses(quadrant_cvae, quadrant_data) -> None:
    explorer = make_explorer(quadrant_cvae, quadrant_data, model_name="cvae")
    info = explorer.info()
    assert info["kind"] == "conditional" and info["latent_dim"] == 3
    assert info["condition"] == {
        "picture": True,
        "classes": [str(d) for d in range(10)],
        "composite": True,
    }
    assert set(info["endpoints"]) == {"condition", "decode", "encode", "hypotheses", "sample"}
    cond = explorer.call("condition", {"index": 4})
    assert cond["index"] == 4 and cond["condition"] and cond["truth"]
    hyp = explorer.call("hypotheses", {"condition": 4, "count": 5, "seed": 1})
    assert len(hyp["images"]) == 5
    first = _pixels(hyp["images"][0])
    assert first.shape == (8, 8, 3)
    # Observed pixels (everything but the bottom-right quadrant) are the input, in grey.
    x = quadrant_data.test["x"][4, 0].numpy()
    observed = x != -1.0
    np.testing.assert_allclose(first[..., 0][observed] / 255.0, x[observed], atol=1 / 255 + 1e-6)
    assert (~observed).sum() == 16
    # The slider path goes through generate(x, z) for the chosen condition.
    decoded = explorer.call("decode", {"z": [0.0, 1.0, -1.0], "condition": 4})
    assert _pixels(decoded["image"]).shape == (8, 8, 3)
    assert len(explorer.call("encode", {"index": 4})["z"]) == 3
    assert len(explorer.call("sample", {"condition": 4, "seed": 0})["z"]) == 3


def test_cvae_decode_uses_the_conditional_prior(quadrant_cvae, quadrant_data) -> None:
    explorer = make_explorer(quadrant_cvae, quadrant_data)
    out = explorer.call("decode", {"z": [1.0, 0.0, 0.0], "condition": 2})
    x = quadrant_data.test["x"][2:3]
    prior = quadrant_cvae.prior(x)
    z = prior.mean + prior.stddev * torch.tensor([1.0, 0.0, 0.0])
    expected = quadrant_cvae.generate(x, z[None]).mean[0, 0]
    got = _pixels(out["image"])[..., 0][4:, 4:] / 255.0  # bottom-right quadrant, amber red channel
    ink = (got - 24 / 255) / ((255 - 24) / 255)
    np.testing.assert_allclose(ink.flatten(), expected.detach().numpy(), atol=2 / 255)


def test_class_conditional_picks_examples_by_label(class_cvae, class_data) -> None:
    explorer = make_explorer(class_cvae, class_data)
    info = explorer.info()
    assert info["condition"]["picture"] is False and info["condition"]["classes"] == [
        str(d) for d in range(10)
    ]
    label = int(class_data.test["label"][0])
    cond = explorer.call("condition", {"label": label, "seed": 3})
    assert cond["label"] == label and cond["label_name"] == [str(d) for d in range(10)][label]
    assert cond["condition"] is None and cond["truth"].startswith("data:image/png")
    assert int(class_data.test["label"][cond["index"]]) == label
    hyp = explorer.call("hypotheses", {"condition": cond["index"], "count": 3})
    assert [_pixels(i).shape for i in hyp["images"]] == [(8, 8)] * 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "exactly one of 'index'"),
        ({"index": 0, "label": 1}, "exactly one of 'index'"),
        ({"label": 10}, "'label' = 10 is out of range"),
        ({"index": 25}, "out of range"),
    ],
    ids=str,
)
def test_condition_bad_requests(class_cvae, class_data, body, message) -> None:
    with pytest.raises(BadRequestError, match=message):
        make_explorer(class_cvae, class_data).call("condition", body)


def _gaussian_kl(q_loc, q_scale, p_loc, p_scale):
    """KL(N(q_loc, q_scale²) || N(p_loc, p_scale²)) per coordinate, in nats (closed form)."""
    return (
        torch.log(p_scale / q_scale) + (q_scale**2 + (q_loc - p_loc) ** 2) / (2 * p_scale**2) - 0.5
    )


def test_cvae_kl_is_to_its_learned_prior_not_to_a_standard_normal(class_cvae, class_data) -> None:
    info = make_explorer(class_cvae, class_data).info()
    assert info["kl_divergence"] == "KL(q(z|x,y) ‖ p(z|x))"
    x, y = class_data.test["x"].double(), class_data.test["y"].double()
    model = class_cvae.double()
    with torch.no_grad():
        q_z, p_z = model.recognize(x, y), model.prior(x)
        to_prior = _gaussian_kl(q_z.mean, q_z.stddev, p_z.mean, p_z.stddev).mean(0)
        zeros, ones = torch.zeros_like(q_z.mean), torch.ones_like(q_z.stddev)
        to_standard = _gaussian_kl(q_z.mean, q_z.stddev, zeros, ones).mean(0)
    np.testing.assert_allclose(info["kl"], to_prior.numpy(), atol=2e-4)
    # The learned prior is not N(0, I): the two KLs differ, so the test tells them apart.
    assert float((to_prior - to_standard).abs().max()) > 0.01


def test_hypotheses_count_is_bounded(class_cvae, class_data) -> None:
    explorer = make_explorer(class_cvae, class_data)
    for count in (0, 17):
        with pytest.raises(BadRequestError, match="'count'"):
            explorer.call("hypotheses", {"condition": 0, "count": count})
    with pytest.raises(BadRequestError, match="missing field"):
        explorer.call("decode", {"z": [0.0, 0.0]})


def test_baseline_gets_hypotheses_only(baseline, class_data) -> None:
    explorer = make_explorer(baseline, class_data)
    info = explorer.info()
    assert info["kind"] == "conditional" and info["latent_dim"] == 0 and info["order"] == []
    assert info["kl"] is None and info["kl_divergence"] is None
    assert info["endpoints"] == ["condition", "hypotheses"]
    hyp = explorer.call("hypotheses", {"condition": 1, "count": 2})
    assert hyp["images"][0] == hyp["images"][1]  # a deterministic model has one answer


def test_conditional_model_without_targets_is_refused(class_cvae, class_data) -> None:
    data = TaskData(train=class_data.train, val=class_data.val, test={"x": class_data.test["x"]})
    with pytest.raises(ValueError, match="'x' and 'y'"):
        make_explorer(class_cvae, data)


# -- densities ---------------------------------------------------------------------------------


def test_mdn_density_curve_integrates_to_one(mdn, density_data) -> None:
    explorer = make_explorer(mdn, density_data(1, 1))
    assert isinstance(explorer, DensityExplorer)
    info = explorer.info()
    assert info["kind"] == "density" and info["input"]["kind"] == "scalar"
    assert len(info["scatter"]) == 50
    out = explorer.call("density", {"x": 0.5, "resolution": 400})
    y, p = np.array(out["y"]), np.array(out["density"])
    expected = mdn(torch.tensor([[0.5]])).log_prob(
        torch.tensor(y, dtype=torch.float32)[:, None, None]
    )
    np.testing.assert_allclose(p, expected.exp().flatten().detach().numpy(), rtol=1e-3)
    assert len(out["hypotheses"]) == 3
    assert sum(h["weight"] for h in out["hypotheses"]) == pytest.approx(1.0, abs=1e-3)
    wide = explorer.call("density", {"x": 0.5, "resolution": 512})
    assert 0.5 < np.trapezoid(wide["density"], wide["y"]) <= 1.0 + 1e-3


def test_mdn_density_by_example_and_heat_map(mdn_module, density_data) -> None:
    torch.manual_seed(0)
    model = mdn_module.MDN(2, 3, num_components=2, hidden_dims=(8,)).eval()
    explorer = make_explorer(model, density_data(2, 3))
    assert explorer.info()["input"] == {"kind": "example"}
    out = explorer.call("density", {"index": 3, "dims": [2, 0], "resolution": 16})
    assert out["dims"] == [2, 0] and len(out["truth"]) == 2 and len(out["extent"]) == 2
    Image = pytest.importorskip("PIL.Image")
    heat = np.asarray(Image.open(io.BytesIO(base64.b64decode(out["image"].split(",", 1)[1]))))
    assert heat.shape == (16, 16, 3)
    curve = explorer.call("density", {"index": 3, "dims": [1]})
    assert len(curve["density"]) == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "exactly one of 'x'"),
        ({"x": 0.5}, "1-D inputs"),
        ({"index": 15}, "out of range"),
        ({"index": 0, "dims": [3]}, "dimension 3 does not exist"),
        ({"index": 0, "dims": [0, 0]}, "two different"),
        ({"index": 0, "dims": [0, 1, 2]}, "one or two"),
        ({"index": 0, "dims": "0"}, "one or two"),
        ({"index": 0, "resolution": 4}, "'resolution'"),
        ({"index": 0, "extra": 1}, "unknown field"),
    ],
    ids=str,
)
def test_density_bad_requests(mdn_module, density_data, body, message) -> None:
    torch.manual_seed(0)
    explorer = make_explorer(
        mdn_module.MDN(2, 3, num_components=2, hidden_dims=(8,)), density_data(2, 3)
    )
    with pytest.raises(BadRequestError, match=message):
        explorer.call("density", body)


def test_scalar_input_range_is_enforced(mdn, density_data) -> None:
    explorer = make_explorer(mdn, density_data(1, 1))
    high = explorer.info()["input"]["high"]
    with pytest.raises(BadRequestError, match="out of range"):
        explorer.call("density", {"x": high + 1.0})


def test_regression_baseline_is_a_density_model(mdn_module, density_data) -> None:
    torch.manual_seed(0)
    explorer = make_explorer(
        mdn_module.GaussianRegression(1, 1, hidden_dims=(8,)), density_data(1, 1)
    )
    out = explorer.call("density", {"x": 0.2})
    assert len(out["hypotheses"]) == 1 and out["hypotheses"][0]["weight"] == 1.0


def test_unknown_model_gets_a_teaching_error(vae_data) -> None:
    with pytest.raises(ValueError, match=r"decode\(z\) \+ prior\(\) \+ latent_dim"):
        make_explorer(torch.nn.Linear(2, 2), vae_data)
