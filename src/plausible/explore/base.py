"""The explorer base class: a model, its data, a lock around model calls, and an endpoint table.

Each kind of model gets its own explorer (``latent.py``, ``density.py``); ``factory.py`` picks
one by the protocol of ``plausible.models.protocols`` the model satisfies.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from plausible.data.task_data import TaskData
from plausible.explore.validation import NotFoundError, int_field

__all__ = ["MAX_HYPOTHESES", "SLIDER_RANGE", "Z_LIMIT", "Endpoint", "Explorer"]

#: Range of the page's sliders, in prior standard deviations.
SLIDER_RANGE = 3.0
#: Largest ``|u|`` the API accepts, in prior standard deviations.
Z_LIMIT = 5.0
#: Most hypotheses one request may ask for.
MAX_HYPOTHESES = 16

Endpoint = Callable[[dict[str, Any]], dict[str, Any]]


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's CPU generator seeded, restoring its state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def length(split: dict[str, Tensor]) -> int:
    """Number of examples in a split (0 for an empty one)."""
    return len(next(iter(split.values()))) if split else 0


class Explorer:
    """Base class: the model, its data, a lock around model calls, and the endpoint table.

    Args:
        model: A trained model in eval mode.
        data: The run's data splits; the test split supplies conditions and inputs.
        title: Shown on the page (the run's description or folder name).
        model_name: Registered model name, shown on the page.
    """

    kind: str = ""

    def __init__(
        self, model: nn.Module, data: TaskData, *, title: str = "", model_name: str = ""
    ) -> None:
        self.model = model.eval()
        self.data = data
        self.title = title
        self.description = ""
        self.model_name = model_name or type(model).__name__
        self.split = data.test if length(data.test) else data.val
        self.device = next((p.device for p in model.parameters()), torch.device("cpu"))
        self._lock = threading.Lock()
        self._rng = random.Random()

    def endpoints(self) -> dict[str, Endpoint]:
        """POST endpoints by name (``/api/<name>``)."""
        return {}

    def info(self) -> dict[str, Any]:
        """What the page needs to lay itself out (``GET /api/info``)."""
        return {
            "kind": self.kind,
            "title": self.title,
            "description": self.description,
            "model": self.model_name,
            "endpoints": sorted(self.endpoints()),
        }

    def call(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Run endpoint ``name`` on a decoded JSON body; raises BadRequestError or NotFoundError."""
        endpoint = self.endpoints().get(name)
        if endpoint is None:
            valid = ", ".join(f"/api/{n}" for n in sorted(self.endpoints()))
            raise NotFoundError(
                f"no endpoint /api/{name} for this {self.kind} model "
                f"({self.model_name}); it answers GET /api/info and POST {valid}"
            )
        with self._lock, torch.no_grad():
            return endpoint(body)

    def _seed(self, body: dict[str, Any]) -> int:
        return int_field(body, "seed", low=0, high=2**31 - 1, default=self._rng.randrange(2**31))

    def _example(self, body: dict[str, Any], name: str) -> int:
        return int_field(body, name, low=0, high=length(self.split) - 1)
