"""The density explorer: p(y|x) of a conditional density model with vector inputs and outputs.

A chosen input (a value for 1-D inputs, a test example otherwise) gets its predictive density
``p(y|x)`` over one output dimension (a curve) or two (a heat map); the model's ranked hypotheses
(mixture components) are marked when it offers them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, distributions, nn
from torch.distributions import Distribution, MixtureSameFamily, Normal

from plausible.data.task_data import TaskData
from plausible.distributions.independent import Independent
from plausible.explore.base import Endpoint, Explorer, length
from plausible.explore.png import colormap, png_data_url
from plausible.explore.validation import BadRequestError, check_fields, int_field, number_field
from plausible.models.protocols import ConditionalDensityModel, RankedHypotheses

__all__ = ["DensityExplorer"]

#: Largest output vector shown as a density: the page offers a menu of y's dimensions.
MAX_OUTPUT_DIM = 64
#: Training points sent to the page for the scatter plot of 1-D inputs and outputs.
_SCATTER_POINTS = 400


def shows_density(model: object) -> bool:
    """Whether the density explorer suits ``model``: a conditional density model with vector
    inputs (chosen by value or by test example, so of any size) and vector outputs of at most
    ``MAX_OUTPUT_DIM`` dimensions."""
    return (
        isinstance(model, ConditionalDensityModel)
        and len(model.x_shape) == 1
        and len(model.y_shape) == 1
        and model.y_shape[0] <= MAX_OUTPUT_DIM
    )


def _marginal(p_y: Distribution, dims: list[int]) -> Distribution:
    """Marginal of a diagonal Gaussian or a mixture of them over the event dimensions ``dims``."""

    def diag(d: Distribution) -> Distribution | None:
        if isinstance(d, distributions.Independent) and isinstance(d.base_dist, Normal):
            base = d.base_dist
            return Independent(Normal(base.loc[..., dims], base.scale[..., dims]), 1)
        return None

    if isinstance(p_y, MixtureSameFamily):
        comp = diag(p_y.component_distribution)
        if comp is not None:
            return MixtureSameFamily(p_y.mixture_distribution, comp)
    elif (single := diag(p_y)) is not None:
        return single
    raise BadRequestError(
        f"cannot show a marginal of {type(p_y).__name__}; pick dims covering all output dimensions"
    )


class DensityExplorer(Explorer):
    """The conditional density p(y|x) of a :class:`ConditionalDensityModel` on vectors.

    Args:
        model: A :class:`ConditionalDensityModel` with ``x_shape == (x_dim,)`` and
            ``y_shape == (y_dim,)`` (an MDN or a Gaussian regression net); when it also offers
            :class:`RankedHypotheses`, its hypotheses are marked.
        data: The run's data with ``x`` ``(N, x_dim)`` and ``y`` ``(N, y_dim)`` in every split.
        title: Shown on the page.
        model_name: Registered model name.

    Raises:
        ValueError: When the model is not a conditional density model on vectors, or the data
            lack ``x`` or ``y``.
    """

    kind = "density"

    def __init__(
        self, model: nn.Module, data: TaskData, *, title: str = "", model_name: str = ""
    ) -> None:
        if not isinstance(model, ConditionalDensityModel):
            raise ValueError(
                f"the density explorer needs a ConditionalDensityModel (predictive(x) -> p(y|x)); "
                f"a {type(model).__name__} is not one"
            )
        if len(model.x_shape) != 1 or len(model.y_shape) != 1:
            raise ValueError(
                f"the density explorer shows vector inputs and outputs; this "
                f"{type(model).__name__} maps x of shape {tuple(model.x_shape)} to y of shape "
                f"{tuple(model.y_shape)}: explore it through its samples instead (make_explorer "
                "picks that for it)"
            )
        super().__init__(model, data, title=title, model_name=model_name)
        self.density_model: ConditionalDensityModel = model
        self.x_dim, self.y_dim = int(model.x_shape[0]), int(model.y_shape[0])
        for name, split in (("train", data.train), ("test", self.split)):
            if "x" not in split or "y" not in split:
                raise ValueError(
                    f"exploring a density model needs 'x' and 'y' in the {name} "
                    f"split; it holds {sorted(split)}"
                )
        xs = torch.cat([data.train["x"], self.split["x"]]).reshape(-1, self.x_dim).float()
        ys = torch.cat([data.train["y"], self.split["y"]]).reshape(-1, self.y_dim).float()
        self.x_range = _padded_range(xs)
        self.y_range = _padded_range(ys)
        gen = torch.Generator().manual_seed(0)
        n = len(data.train["x"])
        pick = torch.randperm(n, generator=gen)[:_SCATTER_POINTS]
        self.scatter = None
        if self.x_dim == 1 and self.y_dim == 1:
            self.scatter = [
                [round(float(a), 4), round(float(b), 4)]
                for a, b in zip(
                    data.train["x"][pick].flatten(), data.train["y"][pick].flatten(), strict=True
                )
            ]

    def endpoints(self) -> dict[str, Endpoint]:
        return {"density": self.density}

    def info(self) -> dict[str, Any]:
        info = super().info()
        info |= {
            "x_dim": self.x_dim,
            "y_dim": self.y_dim,
            "input": (
                {"kind": "scalar", "low": self.x_range[0][0], "high": self.x_range[0][1]}
                if self.x_dim == 1
                else {"kind": "example"}
            ),
            "examples": length(self.split),
            "x_range": self.x_range,
            "y_range": self.y_range,
            "scatter": self.scatter,
        }
        return info

    def density(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{"x": v}`` (1-D inputs) or ``{"index": i}``, ``"dims"?: [a] or [a, b]``,
        ``"resolution"?: n`` -> p(y|x) on a grid: a curve (one dim) or a heat map (two)."""
        check_fields(body, optional=("x", "index", "dims", "resolution"))
        if ("x" in body) == ("index" in body):
            raise BadRequestError(
                "give exactly one of 'x' (an input value) or 'index' (a test example)"
            )
        truth = None
        if "x" in body:
            if self.x_dim != 1:
                raise BadRequestError(
                    f"'x' works for 1-D inputs; this model takes {self.x_dim}-D inputs, "
                    "so choose a test example by 'index'"
                )
            low, high = self.x_range[0]
            value = number_field(body, "x", low=low, high=high)
            x = torch.tensor([[value]], device=self.device)
        else:
            index = self._example(body, "index")
            x = self.split["x"][index : index + 1].reshape(1, self.x_dim).float().to(self.device)
            truth = self.split["y"][index].reshape(self.y_dim).float()
        dims = self._dims(body)
        p_y = self.density_model.predictive(x)
        if dims != list(range(self.y_dim)):
            p_y = _marginal(p_y, dims)
        out: dict[str, Any] = {"x": [round(float(v), 5) for v in x.flatten().cpu()], "dims": dims}
        if truth is not None:
            out["truth"] = [round(float(truth[d]), 5) for d in dims]
        if isinstance(self.model, RankedHypotheses):
            means, weights = self.model.hypotheses(x)
            out["hypotheses"] = [
                {"y": [round(float(m[0, d]), 5) for d in dims], "weight": round(float(w[0]), 5)}
                for m, w in zip(means.cpu(), weights.cpu(), strict=True)
            ]
        if len(dims) == 1:
            n = int_field(body, "resolution", low=16, high=512, default=200)
            low, high = self.y_range[dims[0]]
            grid = torch.linspace(low, high, n, device=self.device)
            density = p_y.log_prob(grid[:, None, None]).exp().reshape(n)
            out |= {
                "y": [round(float(v), 5) for v in grid.cpu()],
                "density": [float(f"{float(v):.5g}") for v in density.cpu()],
            }
            return out
        n = int_field(body, "resolution", low=8, high=128, default=64)
        (a_low, a_high), (b_low, b_high) = (self.y_range[d] for d in dims)
        ga = torch.linspace(a_low, a_high, n, device=self.device)
        gb = torch.linspace(b_high, b_low, n, device=self.device)  # image rows run top to bottom
        grid = torch.stack(torch.meshgrid(gb, ga, indexing="ij")[::-1], -1).reshape(n * n, 1, 2)
        heat = p_y.log_prob(grid).exp().reshape(n, n).cpu().numpy()
        peak = float(heat.max())
        shade = heat / peak if peak > 0 else heat
        return out | {
            "image": png_data_url(colormap(shade)),
            "peak": peak,
            "extent": [self.y_range[d] for d in dims],
        }

    def _dims(self, body: dict[str, Any]) -> list[int]:
        default = list(range(min(self.y_dim, 2)))
        dims = body.get("dims", default)
        if (
            not isinstance(dims, list)
            or not 1 <= len(dims) <= 2
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in dims)
        ):
            raise BadRequestError(
                f"'dims' must be a list of one or two output dimensions, got {dims!r}"
            )
        for d in dims:
            if not 0 <= d < self.y_dim:
                raise BadRequestError(
                    f"output dimension {d} does not exist; y has dimensions 0..{self.y_dim - 1}"
                )
        if len(set(dims)) != len(dims):
            raise BadRequestError(f"'dims' must name two different output dimensions, got {dims}")
        return dims


def _padded_range(values: Tensor, margin: float = 0.1) -> list[list[float]]:
    low, high = values.min(0).values, values.max(0).values
    pad = (high - low).clamp_min(1e-3) * margin
    return [
        [round(float(a), 4), round(float(b), 4)] for a, b in zip(low - pad, high + pad, strict=True)
    ]
