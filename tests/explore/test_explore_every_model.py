"""Every registered model through ``make_explorer``: an explorer that answers, or a clear refusal.

The models are the small instances of the model contract test (``tests/models/contract_examples``),
each explored on a task made of its own training batch.
"""

from __future__ import annotations

import base64
import math
import struct

import pytest
import torch
from contract_examples import EXAMPLES, ContractExample

import plausible
from plausible.explore import DensityExplorer, Explorer, LatentExplorer, make_explorer
from plausible.explore.base import seeded
from plausible.models.protocols import (
    ConditionalDensityModel,
    ConditionalLatentModel,
    ConditionalModel,
    LatentVariableModel,
)
from plausible.registry import MODELS
from plausible.tasks.base import TaskData

_ = plausible  # importing the package registers every model

_LATENT = (LatentVariableModel, ConditionalLatentModel)

#: Examples the explorer is expected to refuse, with a pattern of its ValueError's message.
REFUSED: dict[str, str] = {}


def _data(example: ContractExample) -> TaskData:
    batch = {k: v.clone() for k, v in example.batch.items()}
    return TaskData(train=batch, val=batch, test=batch)


def _png_size(url: str) -> tuple[int, int]:
    """``(height, width)`` from the header of a PNG data URL."""
    assert url.startswith("data:image/png;base64,"), url[:40]
    png = base64.b64decode(url.split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return height, width


def _bodies(explorer: Explorer, latent_dim: int) -> dict[str, dict[str, object]]:
    """A valid request for every endpoint an explorer may offer, on test example 0."""
    condition = {"condition": 0} if explorer.kind == "conditional" else {}
    return {
        "decode": {"z": [0.5] * latent_dim, **condition},
        "sample": {"seed": 0, **condition},
        "encode": {"index": 0},
        "condition": {"index": 0},
        "hypotheses": {"count": 3, "seed": 0, "condition": 0},
        "density": {"index": 0},
    }


def _check_picture(reply: dict[str, object], info: dict[str, object]) -> None:
    """An image of the size ``info`` announces, or finite values of the announced size."""
    image = info["image"]
    if image is None:
        values = reply["values"]
        assert isinstance(values, list) and len(values) == info["output_size"]
        assert all(math.isfinite(v) for v in values)
    else:
        assert isinstance(image, dict)
        assert _png_size(str(reply["image"])) == (image["height"], image["width"])


def test_every_registered_model_has_an_example() -> None:
    covered = {type(EXAMPLES[key]().build()) for key in EXAMPLES}
    missing = [name for name in MODELS.names() if MODELS.get(name) not in covered]
    assert not missing, f"add examples for {missing} in tests/models/contract_examples.py"


@pytest.mark.parametrize("key", sorted(EXAMPLES), ids=str)
def test_every_model_gets_an_explorer_that_answers(key: str) -> None:
    example = EXAMPLES[key]()
    torch.manual_seed(0)
    model = example.build().eval()
    data = _data(example)
    if key in REFUSED:
        with pytest.raises(ValueError, match=REFUSED[key]):
            make_explorer(model, data, model_name=key)
        return
    explorer = make_explorer(model, data, model_name=key)
    info = explorer.info()
    endpoints = info["endpoints"]

    # The explorer follows the protocol the model satisfies.
    if isinstance(model, LatentVariableModel):
        assert isinstance(explorer, LatentExplorer) and info["kind"] == "latent"
        assert info["latent_dim"] == model.latent_dim
        assert endpoints == ["decode", "encode", "sample"]
    elif isinstance(model, ConditionalLatentModel):
        assert isinstance(explorer, LatentExplorer) and info["kind"] == "conditional"
        assert info["latent_dim"] == model.latent_dim
        # Test pairs are encoded only by a model with a recognition network.
        assert ("encode" in endpoints) == model.has_recognition
        assert {"condition", "decode", "hypotheses", "sample"} <= set(endpoints)
    elif isinstance(model, ConditionalDensityModel) and len(model.x_shape) == 1 == len(
        model.y_shape
    ):
        assert isinstance(explorer, DensityExplorer) and endpoints == ["density"]
        assert (info["x_dim"], info["y_dim"]) == (model.x_shape[0], model.y_shape[0])
    else:
        assert isinstance(model, ConditionalModel)
        assert isinstance(explorer, LatentExplorer) and info["kind"] == "conditional"
        assert info["latent_dim"] == 0 and endpoints == ["condition", "hypotheses"]

    bodies = _bodies(explorer, int(info["latent_dim"]) if "latent_dim" in info else 0)
    for name in endpoints:
        reply = explorer.call(name, bodies[name])
        if name == "density":
            # y is 2-D here: a heat map at the default resolution, its peak a finite density.
            assert _png_size(reply["image"]) == (64, 64)
            assert math.isfinite(reply["peak"]) and reply["peak"] > 0
            assert len(reply["hypotheses"]) >= 1
        elif name == "hypotheses":
            # The page's names: "images", or "valuess" (one "values" list per hypothesis).
            if info["image"] is None:
                pictures = [{"values": v} for v in reply["valuess"]]
            else:
                pictures = [{"image": url} for url in reply["images"]]
            assert reply["count"] == 3 and len(pictures) == 3
            for picture in pictures:
                _check_picture(picture, info)
        elif name == "condition":
            assert reply["index"] == 0
        else:
            if "z" in reply:
                assert len(reply["z"]) == info["latent_dim"]
            _check_picture(reply, info)


@pytest.mark.parametrize(
    "key",
    sorted(k for k in EXAMPLES if k not in REFUSED and isinstance(EXAMPLES[k]().build(), _LATENT)),
    ids=str,
)
def test_sliders_decode_the_prior_mean_plus_u_prior_deviations(key: str) -> None:
    """Slider values u are in prior standard deviations: u decodes z = E[z] + u std[z]."""
    example = EXAMPLES[key]()
    torch.manual_seed(0)
    model = example.build().eval()
    explorer = make_explorer(model, _data(example))
    u = torch.linspace(-1.5, 1.5, model.latent_dim)
    x = example.batch["x"][:1]
    with torch.no_grad():
        if isinstance(model, LatentVariableModel):
            p_z, body = model.prior(), {"z": u.tolist(), "format": "array"}
            expected = model.decode((p_z.mean + p_z.stddev * u)[None]).mean[0]
        else:
            assert isinstance(model, ConditionalLatentModel)
            p_z, body = model.prior(x), {"z": u.tolist(), "condition": 0, "format": "array"}
            # The explorer fixes a generator's own draws (UC-Net's per-pixel noise) with seed 0.
            with seeded(0):
                expected = model.generate(x, p_z.mean + p_z.stddev * u).mean[0]  # p_z: batch (1,)
    reply = explorer.call("decode", body)
    assert reply["shape"] == list(expected.shape)
    got = torch.tensor(reply["values"]).reshape(expected.shape)
    torch.testing.assert_close(got, expected.float(), atol=2e-5, rtol=1e-4)


class _DecoderOnly(torch.nn.Module):
    """Half a VAE: a decoder and a latent size, but no prior, encoder or shapes."""

    latent_dim = 2

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z


class _ShapesOnly(torch.nn.Module):
    """Shapes of a conditional model, but nothing to sample with."""

    x_shape = (2,)
    y_shape = (2,)


@pytest.mark.parametrize(
    "model",
    [torch.nn.Linear(2, 2), _DecoderOnly(), _ShapesOnly()],
    ids=["linear", "decoder-only", "shapes-only"],
)
def test_a_model_of_no_protocol_is_refused_with_the_protocols_named(model: torch.nn.Module) -> None:
    x = torch.zeros(4, 2)
    data = TaskData(train={"x": x, "y": x}, val={"x": x, "y": x}, test={"x": x, "y": x})
    with pytest.raises(ValueError, match=r"LatentVariableModel .* ConditionalDensityModel"):
        make_explorer(model, data)
