"""Small models, data and a running explorer server for the explorer tests."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

import plausible
from plausible.checkpoint import FORMAT_VERSION, save_weights
from plausible.explore import Explorer, ExplorerServer, make_server
from plausible.models.vae import VAE
from plausible.tasks.base import TaskData

CLASSES = [str(d) for d in range(10)]


def _module(name: str) -> Any:
    # Conditional models and MDNs are optional for these tests: skip, do not break, without them.
    return pytest.importorskip(name, reason=f"{name} is not available")


def _images(n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=gen)


def _labels(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def vae_data() -> TaskData:
    split = lambda n, s: {"x": _images(n, s), "label": _labels(n, s)}  # noqa: E731
    return TaskData(
        train=split(40, 0),
        val=split(10, 1),
        test=split(20, 2),
        info={"x_shape": (1, 8, 8), "class_names": CLASSES},
    )


@pytest.fixture
def vae() -> VAE:
    torch.manual_seed(0)
    return VAE((1, 8, 8), latent_dim=12, hidden_dims=(32, 16)).eval()


@pytest.fixture
def quadrant_data() -> TaskData:
    def split(n: int, s: int) -> dict[str, torch.Tensor]:
        x, y = _module("plausible.data.quadrants").split_quadrants(_images(n, s), 3)
        return {"x": x, "y": y, "label": _labels(n, s)}

    return TaskData(
        train=split(30, 0),
        val=split(10, 1),
        test=split(12, 2),
        info={"x_shape": (1, 8, 8), "class_names": CLASSES},
    )


@pytest.fixture
def quadrant_cvae() -> torch.nn.Module:
    torch.manual_seed(0)
    regions = _module("plausible.data.quadrants").unobserved_regions(8, 3)
    return (
        _module("plausible.models.cvae")
        .CVAE(
            (1, 8, 8),
            (16,),
            latent_dim=3,
            hidden_dims=(32,),
            canvas_shape=(1, 8, 8),
            output_regions=regions,
        )
        .eval()
    )


@pytest.fixture
def class_data() -> TaskData:
    def split(n: int, s: int) -> dict[str, torch.Tensor]:
        labels = _labels(n, s)
        return {
            "x": torch.nn.functional.one_hot(labels, 10).float(),
            "y": _images(n, s),
            "label": labels,
        }

    return TaskData(
        train=split(30, 0),
        val=split(10, 1),
        test=split(25, 2),
        info={"class_names": CLASSES, "y_shape": (1, 8, 8)},
    )


@pytest.fixture
def class_cvae() -> torch.nn.Module:
    torch.manual_seed(0)
    return (
        _module("plausible.models.cvae")
        .CVAE((10,), (1, 8, 8), latent_dim=2, hidden_dims=(32,))
        .eval()
    )


@pytest.fixture
def baseline() -> torch.nn.Module:
    torch.manual_seed(0)
    return (
        _module("plausible.models.baseline")
        .ConditionalBaseline((10,), (1, 8, 8), hidden_dims=(16,))
        .eval()
    )


@pytest.fixture
def density_data() -> Callable[[int, int], TaskData]:
    """``density_data(x_dim, y_dim)``: regression pairs, 50 / 10 / 15 examples."""

    def make(x_dim: int, y_dim: int) -> TaskData:
        gen = torch.Generator().manual_seed(0)

        def split(n: int) -> dict[str, torch.Tensor]:
            return {
                "x": torch.rand(n, x_dim, generator=gen),
                "y": torch.randn(n, y_dim, generator=gen),
            }

        return TaskData(train=split(50), val=split(10), test=split(15))

    return make


@pytest.fixture
def class_names() -> list[str]:
    return CLASSES


@pytest.fixture
def mdn_module() -> Any:
    return _module("plausible.models.mdn")


@pytest.fixture
def mdn(mdn_module: Any) -> torch.nn.Module:
    torch.manual_seed(0)
    return mdn_module.MDN(1, 1, num_components=3, hidden_dims=(16,)).eval()


# -- a running server ------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """Plain http.client requests against a running explorer (one connection per request)."""

    def __init__(self, server: ExplorerServer) -> None:
        self.host, self.port = server.server_address[:2]

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
            conn.request(method, path, body=data, headers=headers or {})
            response = conn.getresponse()
            return Reply(
                response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            )
        finally:
            conn.close()

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.request("POST", path, body, **kwargs)


@pytest.fixture
def serve() -> Iterator[Callable[[Explorer], Client]]:
    """Start explorer servers on free ports; all are shut down after the test."""
    servers: list[ExplorerServer] = []

    def start(explorer: Explorer) -> Client:
        server = make_server(explorer, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return Client(server)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# -- a run folder (an untrained VAE: fast, and its decoder does depend on z) -------------------


def write_vae_run(path: Path, *, latent_dim: int = 12, seed: int = 0) -> Path:
    """A run folder as `plausible train` writes it, with randomly initialised weights."""
    path.mkdir(parents=True, exist_ok=True)
    kwargs = {"x_shape": [1, 8, 8], "latent_dim": latent_dim, "hidden_dims": [64, 32]}
    config = {
        "format_version": FORMAT_VERSION,
        "plausible_version": plausible.__version__,
        "description": "untrained VAE on 8x8 digits (explorer tests)",
        "task": {"name": "images", "dataset": "digits", "binarize": "threshold"},
        "model": {"name": "vae", **kwargs},
        "objective": {"name": "elbo"},
        "training": {},
        "evaluation": {},
    }
    (path / "config.json").write_text(json.dumps(config))
    torch.manual_seed(seed)
    save_weights(
        path / "model.safetensors", VAE((1, 8, 8), latent_dim=latent_dim, hidden_dims=(64, 32))
    )
    return path


@pytest.fixture(scope="session")
def vae_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_vae_run(tmp_path_factory.mktemp("explore") / "vae-run")
