"""Choosing an explorer: by the model protocol a model satisfies, never by its methods' names."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from plausible.checkpoint import read_json
from plausible.data.task_data import TaskData
from plausible.explore.base import Explorer
from plausible.explore.density import DensityExplorer, shows_density
from plausible.explore.latent import LatentExplorer
from plausible.models.protocols import (
    ConditionalLatentModel,
    ConditionalModel,
    LatentVariableModel,
)
from plausible.runs import Run

__all__ = ["explorer_for_run", "make_explorer"]


def make_explorer(
    model: nn.Module,
    data: TaskData,
    *,
    title: str = "",
    model_name: str = "",
    kl: Tensor | None = None,
) -> Explorer:
    """Pick the explorer that suits ``model`` by the protocol it satisfies.

    In this order: a :class:`LatentVariableModel` or :class:`ConditionalLatentModel` gets the
    latent explorer (sliders over z); a :class:`ConditionalDensityModel` on vectors with at most
    ``density.MAX_OUTPUT_DIM`` outputs the density explorer (p(y|x)); any other
    :class:`ConditionalModel` the latent explorer without sliders (its hypotheses).

    Args:
        model: A trained model (eval mode is set here).
        data: Its data splits.
        title: Shown on the page.
        model_name: Registered model name.
        kl: Average KL per latent dimension (nats) to order the sliders; estimated when ``None``.

    Raises:
        ValueError: When the model satisfies none of these protocols, or its data do not suit
            the explorer it gets.
    """
    if isinstance(model, (LatentVariableModel, ConditionalLatentModel)):
        return LatentExplorer(model, data, title=title, model_name=model_name, kl=kl)
    if shows_density(model):
        return DensityExplorer(model, data, title=title, model_name=model_name)
    if isinstance(model, ConditionalModel):
        return LatentExplorer(model, data, title=title, model_name=model_name)
    raise ValueError(
        f"the explorer cannot show a {type(model).__name__}: it satisfies none of the protocols "
        "of plausible.models.protocols. It needs a LatentVariableModel (encode(x), "
        "decode(z) + prior() + latent_dim, a VAE), a ConditionalLatentModel (generate(x, z) + "
        "prior(x) + latent_dim, a CVAE), a ConditionalDensityModel (predictive(x) -> p(y|x), an "
        "MDN) or a ConditionalModel (x_shape, y_shape and sample(x, n))"
    )


def explorer_for_run(run: Run) -> Explorer:
    """The explorer of a loaded run: its model, its data and the KL order from ``summary.json``."""
    kl = None
    summary = run.path / "summary.json"
    if summary.exists():
        values = read_json(summary).get("test", {}).get("kl_per_dimension")
        if isinstance(values, list) and values:
            kl = torch.tensor(values, dtype=torch.float32)
    explorer = make_explorer(
        run.model,
        run.load_data(),
        title=run.path.name,
        model_name=run.config.get("model", {}).get("name", ""),
        kl=kl,
    )
    explorer.description = str(run.config.get("description") or "")
    return explorer
