"""What the explorer asks of a trained model: a latent space to decode, conditions, or a density.

Models are recognised by their methods (duck typing), not their class:

- ``decode(z)``, ``prior()`` and ``latent_dim`` (a VAE): sliders over z, decoded live.
- ``generate(x, z)``, ``prior(x)`` and ``latent_dim`` (a CVAE or GSNN): the same sliders for a
  chosen condition x, plus several hypotheses side by side.
- ``sample(x, num_samples)`` alone (a deterministic baseline): the hypotheses only.
- ``forward(x)`` returning a distribution over a vector ``y`` (an MDN, a regression net): the
  conditional density p(y|x) for a chosen input.

Latent values travel in prior standard deviations, ``u = (z - E[z]) / std[z]`` under the prior
(p(z) or p(z|x)), so one slider range fits every model and every condition.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, distributions, nn
from torch.distributions import Distribution, MixtureSameFamily, Normal

from plausible.checkpoint import read_json
from plausible.distributions.independent import Independent
from plausible.explore.png import colormap, png_data_url
from plausible.explore.validation import (
    BadRequestError,
    NotFoundError,
    check_fields,
    choice_field,
    int_field,
    number_field,
    vector_field,
)
from plausible.runs import Run
from plausible.tasks.base import TaskData

__all__ = [
    "MAX_HYPOTHESES",
    "SLIDER_RANGE",
    "Z_LIMIT",
    "DensityExplorer",
    "Explorer",
    "LatentExplorer",
    "explorer_for_run",
    "make_explorer",
]

log = logging.getLogger(__name__)

#: Range of the page's sliders, in prior standard deviations.
SLIDER_RANGE = 3.0
#: Largest ``|u|`` the API accepts, in prior standard deviations.
Z_LIMIT = 5.0
#: Most hypotheses one request may ask for.
MAX_HYPOTHESES = 16
#: Examples used to rank latent dimensions by KL at start-up.
_KL_EXAMPLES = 1000
#: Training points sent to the page for the MDN scatter plot.
_SCATTER_POINTS = 400

_UNOBSERVED = -1.0  # the quadrant task's marker of unobserved input pixels
_BACKGROUND = np.array([24, 32, 58], np.float32)  # unobserved / imagined pixels: dark slate
_IMAGINED = np.array([255, 200, 110], np.float32)  # ink of imagined pixels: amber

Endpoint = Callable[[dict[str, Any]], dict[str, Any]]


def _image_shape(numel: int, *candidates: Any) -> tuple[int, int, int] | None:
    """``(C, H, W)`` of the first candidate shape holding ``numel`` values, else a square guess."""
    from plausible.viz._common import infer_image_shape

    for shape in candidates:
        if shape is None:
            continue
        shape = tuple(int(s) for s in shape)
        if math.prod(shape) != numel:
            continue
        guess = infer_image_shape(shape)
        if guess is not None:
            return guess
    return infer_image_shape((numel,))


def _hwc(image: Tensor, shape: tuple[int, int, int]) -> np.ndarray:
    """A flat or ``(C, H, W)`` tensor -> ``(H, W)`` or ``(H, W, 3)`` float array."""
    arr = image.detach().float().cpu().reshape(shape).numpy()
    return arr[0] if shape[0] == 1 else arr.transpose(1, 2, 0)


def _moments(dist: Distribution, dim: int) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation of a distribution over ``(..., dim)`` vectors."""
    try:
        loc, scale = dist.mean, dist.stddev
        if loc.shape[-1] == dim and scale.shape == loc.shape and bool(torch.isfinite(scale).all()):
            return loc, scale.clamp_min(1e-6)
    except NotImplementedError:
        pass
    draws = dist.sample((4096,))  # no closed form: estimate
    return draws.mean(0), draws.std(0).clamp_min(1e-6)


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


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
        self.split = data.test if _length(data.test) else data.val
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
        return int_field(body, name, low=0, high=_length(self.split) - 1)


def _length(split: dict[str, Tensor]) -> int:
    return len(next(iter(split.values()))) if split else 0


class LatentExplorer(Explorer):
    """Sliders over the latent space of a VAE, or of a CVAE for a chosen condition.

    Args:
        model: A model with ``decode(z)``, ``prior()`` and ``latent_dim`` (unconditional), or
            ``generate(x, z)``, ``prior(x)`` and ``latent_dim`` (conditional); a conditional model
            with ``sample(x, num_samples)`` only gets hypotheses and no sliders.
        data: The run's data; conditional models need ``x`` and ``y`` in the test split.
        title: Shown on the page.
        model_name: Registered model name.
        kl: Average KL per latent dimension in nats, ``(latent_dim,)``, to order the sliders;
            estimated on the test split when ``None``.
    """

    kind = "latent"

    def __init__(
        self,
        model: nn.Module,
        data: TaskData,
        *,
        title: str = "",
        model_name: str = "",
        kl: Tensor | None = None,
    ) -> None:
        super().__init__(model, data, title=title, model_name=model_name)
        self.conditional = not callable(getattr(model, "decode", None))
        if self.conditional:
            self.kind = "conditional"
            missing = [k for k in ("x", "y") if k not in self.split]
            if missing:
                raise ValueError(
                    f"exploring a conditional model needs test examples with 'x' and "
                    f"'y'; the task's test split holds {sorted(self.split)}"
                )
        self.latent_dim = int(getattr(model, "latent_dim", 0) or 0)
        self.has_sliders = self.latent_dim > 0 and (
            callable(getattr(model, "generate", None))
            if self.conditional
            else callable(getattr(model, "decode", None))
        )
        self._setup_images()
        if not self.conditional:
            loc, scale = _moments(model.prior(), self.latent_dim)  # type: ignore[operator]
            self._loc, self._scale = loc.reshape(-1), scale.reshape(-1)
        self.kl = self._kl_order(kl) if self.has_sliders else None

    # -- shapes and pictures ------------------------------------------------------------------
    def _setup_images(self) -> None:
        info = self.data.info
        model = self.model
        self.canvas = getattr(model, "canvas", None) if self.conditional else None
        if not self.conditional:
            x = self.split.get("x")
            x_shape = getattr(model, "x_shape", None)
            numel = math.prod(x_shape) if x_shape else (x[0].numel() if x is not None else 0)
            self.out_shape = _image_shape(
                numel, getattr(model, "x_shape", None), info.get("x_shape")
            )
            self.cond_shape = None
            self.out_numel = numel
            self.composite = False
            return
        x, y = self.split["x"], self.split["y"]
        self.out_numel = y[0].numel()
        self.cond_shape = _image_shape(
            x[0].numel(),
            getattr(model, "x_shape", None),
            info.get("x_shape"),
            info.get("image_shape"),
        )
        if len(info.get("class_names") or ()) == x[0].numel():
            self.cond_shape = None  # a one-hot label, not a picture
        if self.canvas is not None:
            self.out_shape = tuple(self.canvas.canvas_shape)  # type: ignore[assignment]
        else:
            self.out_shape = _image_shape(
                self.out_numel,
                getattr(model, "y_shape", None),
                info.get("y_shape"),
                info.get("image_shape"),
            )
        self.composite = (
            self.cond_shape is not None
            and self.out_shape is not None
            and tuple(self.cond_shape) == tuple(self.out_shape)
            and (self.canvas is not None or x[0].numel() == self.out_numel)
        )

    def _render(self, out: Tensor, condition: int | None = None) -> dict[str, Any]:
        """``{"image": data URL}`` for a picture, else ``{"values": [...]}`` (one x or y)."""
        if self.out_shape is None:
            return {"values": [round(float(v), 5) for v in out.flatten().tolist()]}
        if not self.conditional or not self.composite or condition is None:
            if self.canvas is not None:
                out = self.canvas.scatter(out.reshape(1, -1).to(self.device))[0]
            return {"image": png_data_url(_hwc(out, self.out_shape))}
        x = self.split["x"][condition].reshape(self.out_shape).float()
        if self.canvas is not None:
            full = self.canvas.scatter(out.reshape(1, -1).to(self.device))[0].cpu()
            imagined = self.canvas.mask[0, 0].cpu().bool().expand_as(full)
        else:
            full = out.reshape(self.out_shape).cpu()
            imagined = x == _UNOBSERVED
        return {"image": png_data_url(self._tinted(torch.where(imagined, full, x), imagined))}

    def _tinted(self, image: Tensor, imagined: Tensor, *, hidden: bool = False) -> np.ndarray:
        """Grey pixels as they are; imagined (or ``hidden``) pixels on a dark slate background."""
        assert self.out_shape is not None
        grey = _hwc(image.clamp(0, 1), self.out_shape)
        mask = _hwc(imagined.float(), self.out_shape) > 0.5
        if grey.ndim == 3:
            grey, mask = grey.mean(-1), np.asarray(mask.any(-1))
        rgb = np.repeat(grey[..., None] * 255.0, 3, axis=-1)
        ink = np.zeros_like(grey) if hidden else grey
        tint = _BACKGROUND + ink[..., None] * (_IMAGINED - _BACKGROUND)
        rgb[mask] = tint[mask]
        return rgb.astype(np.uint8)

    def _condition_picture(self, index: int) -> str | None:
        if self.cond_shape is None:
            return None
        x = self.split["x"][index].reshape(self.cond_shape).float()
        hidden = x == _UNOBSERVED
        if self.composite and bool(hidden.any()):
            return png_data_url(self._tinted(x.clamp_min(0), hidden, hidden=True))
        return png_data_url(_hwc(x.clamp(0, 1), self.cond_shape))

    # -- latent geometry ----------------------------------------------------------------------
    def _x(self, index: int) -> Tensor:
        return self.split["x"][index : index + 1].to(self.device)

    def _prior_moments(self, condition: int | None) -> tuple[Tensor, Tensor]:
        if condition is None:
            return self._loc, self._scale
        loc, scale = _moments(self.model.prior(self._x(condition)), self.latent_dim)  # type: ignore[operator]
        return loc.reshape(self.latent_dim), scale.reshape(self.latent_dim)

    def _to_z(self, u: list[float], condition: int | None) -> Tensor:
        loc, scale = self._prior_moments(condition)
        return loc + scale * torch.tensor(u, dtype=loc.dtype, device=loc.device)

    def _to_u(self, z: Tensor, condition: int | None, *, clip: float) -> list[float]:
        loc, scale = self._prior_moments(condition)
        u = ((z.reshape(-1) - loc) / scale).clamp(-clip, clip)
        return [round(float(v), 4) for v in u.cpu()]

    def _decode_mean(self, z: Tensor, condition: int | None) -> Tensor:
        if condition is None:
            return self.model.decode(z[None]).mean[0]  # type: ignore[operator]
        return self.model.generate(self._x(condition), z[None]).mean[0]  # type: ignore[operator]

    def _kl_order(self, kl: Tensor | None) -> Tensor | None:
        if kl is not None and kl.numel() == self.latent_dim:
            return kl.float().cpu()
        x = self.split["x"][:_KL_EXAMPLES].to(self.device)
        try:
            with torch.no_grad():
                from plausible.distributions.kl import kl_per_dimension

                if self.conditional:
                    y = self.split["y"][:_KL_EXAMPLES].to(self.device)
                    q_z, p_z = self.model.recognize(x, y), self.model.prior(x)  # type: ignore[operator]
                else:
                    q_z, p_z = self.model.encode(x), self.model.prior()  # type: ignore[operator]
                return kl_per_dimension(q_z, p_z).reshape(-1, self.latent_dim).mean(0).float().cpu()
        except (AttributeError, TypeError, ValueError, NotImplementedError) as err:
            log.info("latent dimensions keep their natural order (no KL per dimension: %s)", err)
            return None

    # -- endpoints ----------------------------------------------------------------------------
    def endpoints(self) -> dict[str, Endpoint]:
        table: dict[str, Endpoint] = {}
        if self.has_sliders:
            table |= {"decode": self.decode, "sample": self.sample}
        if self.conditional:
            table |= {"condition": self.condition, "hypotheses": self.hypotheses}
            if self.has_sliders and callable(getattr(self.model, "recognize", None)):
                table["encode"] = self.encode
        elif callable(getattr(self.model, "encode", None)) and "x" in self.split:
            table["encode"] = self.encode
        return table

    def info(self) -> dict[str, Any]:
        info = super().info()
        order = list(range(self.latent_dim))
        if self.kl is not None:
            order = sorted(order, key=lambda d: -float(self.kl[d]))  # type: ignore[index]
        info |= {
            "latent_dim": self.latent_dim if self.has_sliders else 0,
            "slider_range": SLIDER_RANGE,
            "z_limit": Z_LIMIT,
            "order": order if self.has_sliders else [],
            "kl": [round(float(v), 4) for v in self.kl] if self.kl is not None else None,
            "image": (
                None
                if self.out_shape is None
                else dict(zip(("channels", "height", "width"), self.out_shape, strict=True))
            ),
            "output_size": self.out_numel,
            "examples": _length(self.split),
            "max_hypotheses": MAX_HYPOTHESES,
        }
        if self.conditional:
            names = self.data.info.get("class_names")
            labels = self.split.get("label")
            info["condition"] = {
                "picture": self.cond_shape is not None,
                "classes": list(names) if names is not None and labels is not None else None,
                "composite": self.composite,
            }
        return info

    def _condition_arg(self, body: dict[str, Any]) -> int | None:
        return self._example(body, "condition") if self.conditional else None

    def decode(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{"z": [u_1..u_D], "condition"?: i, "format"?: "png"|"array"}`` -> the decoded mean."""
        check_fields(
            body,
            required=("z", *(("condition",) if self.conditional else ())),
            optional=("format",),
        )
        u = vector_field(body, "z", length=self.latent_dim, limit=Z_LIMIT)
        fmt = choice_field(body, "format", ("png", "array"), "png")
        condition = self._condition_arg(body)
        out = self._decode_mean(self._to_z(u, condition), condition)
        if fmt == "array":
            return {
                "values": [round(float(v), 5) for v in out.flatten().cpu()],
                "shape": list(out.shape),
            }
        return self._render(out.cpu(), condition)

    def sample(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{"seed"?: s, "condition"?: i}`` -> a prior draw ``z`` (within the sliders), image."""
        check_fields(body, required=("condition",) if self.conditional else (), optional=("seed",))
        seed = self._seed(body)
        condition = self._condition_arg(body)
        prior = self.model.prior() if condition is None else self.model.prior(self._x(condition))  # type: ignore[operator]
        with _seeded(seed):
            z = prior.sample()
        u = self._to_u(z, condition, clip=SLIDER_RANGE)
        out = self._decode_mean(self._to_z(u, condition), condition)
        return {"z": u, "seed": seed, **self._render(out.cpu(), condition)}

    def encode(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{"index": i}`` -> test example ``i``'s posterior mean as slider values, its image."""
        check_fields(body, required=("index",))
        index = self._example(body, "index")
        x = self._x(index)
        if self.conditional:
            y = self.split["y"][index : index + 1].to(self.device)
            z = self.model.recognize(x, y).mean  # type: ignore[operator]
            condition: int | None = index
            picture = self._render(self.split["y"][index].cpu(), index)
        else:
            z = self.model.encode(x).mean  # type: ignore[operator]
            condition = None
            picture = self._render(self.split["x"][index].cpu())
        u = self._to_u(z, condition, clip=SLIDER_RANGE)
        out = self._decode_mean(self._to_z(u, condition), condition)
        return {
            "z": u,
            "index": index,
            "input": picture.get("image"),
            **self._render(out.cpu(), condition),
            **self._label(index),
        }

    def _label(self, index: int) -> dict[str, Any]:
        labels = self.split.get("label")
        if labels is None:
            return {}
        label = int(labels[index])
        names = self.data.info.get("class_names")
        return {
            "label": label,
            "label_name": names[label] if names and 0 <= label < len(names) else str(label),
        }

    def condition(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{"index": i}`` or ``{"label": c, "seed"?: s}`` -> a test example as a condition."""
        check_fields(body, optional=("index", "label", "seed"))
        if ("index" in body) == ("label" in body):
            raise BadRequestError(
                "give exactly one of 'index' (a test example) or 'label' (a class)"
            )
        if "index" in body:
            index = self._example(body, "index")
        else:
            labels = self.split.get("label")
            if labels is None:
                raise BadRequestError(
                    "this task's examples have no labels; choose a condition by 'index'"
                )
            label = int_field(body, "label", low=0, high=int(labels.max()))
            matches = (labels == label).nonzero().flatten()
            if not len(matches):
                raise BadRequestError(f"no test example has label {label}")
            index = int(matches[random.Random(self._seed(body)).randrange(len(matches))])
        truth = self._render(self.split["y"][index].cpu(), index)
        return {
            "index": index,
            "condition": self._condition_picture(index),
            "truth": truth.get("image"),
            **self._label(index),
        }

    def hypotheses(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{"condition": i, "count"?: k, "seed"?: s}`` -> k plausible outputs for condition i."""
        check_fields(body, required=("condition",), optional=("count", "seed"))
        index = self._example(body, "condition")
        count = int_field(body, "count", low=1, high=MAX_HYPOTHESES, default=8)
        seed = self._seed(body)
        x = self._x(index)
        with _seeded(seed):
            if self.has_sliders and callable(getattr(self.model, "prior", None)):
                z = self.model.prior(x).sample((count,))  # type: ignore[operator]  # (k, 1, D)
                outs = self.model.generate(x, z).mean.reshape(count, -1)  # type: ignore[operator]
            else:
                outs = self.model.sample(x, count).reshape(count, -1)  # type: ignore[operator]
        rendered = [self._render(o.cpu(), index) for o in outs]
        key = "image" if self.out_shape is not None else "values"
        return {"seed": seed, "count": count, key + "s": [r[key] for r in rendered]}


# -- conditional densities ---------------------------------------------------------------------


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
    """The conditional density p(y|x) of a model whose ``forward(x)`` returns a distribution.

    Args:
        model: A model with ``x_dim``, ``y_dim`` and ``forward(x) -> Distribution`` over
            ``(y_dim,)`` vectors (an MDN or a Gaussian regression net).
        data: The run's data with ``x`` ``(N, x_dim)`` and ``y`` ``(N, y_dim)`` in every split.
        title: Shown on the page.
        model_name: Registered model name.
    """

    kind = "density"

    def __init__(
        self, model: nn.Module, data: TaskData, *, title: str = "", model_name: str = ""
    ) -> None:
        super().__init__(model, data, title=title, model_name=model_name)
        self.x_dim, self.y_dim = int(model.x_dim), int(model.y_dim)  # type: ignore[arg-type]
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
            "examples": _length(self.split),
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
        p_y = self.model(x)
        if dims != list(range(self.y_dim)):
            p_y = _marginal(p_y, dims)
        out: dict[str, Any] = {"x": [round(float(v), 5) for v in x.flatten().cpu()], "dims": dims}
        if truth is not None:
            out["truth"] = [round(float(truth[d]), 5) for d in dims]
        hyp = getattr(self.model, "hypotheses", None)
        if callable(hyp):
            means, weights = hyp(x)
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
        density = p_y.log_prob(grid).exp().reshape(n, n).cpu().numpy()
        peak = float(density.max())
        shade = density / peak if peak > 0 else density
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


# -- choosing an explorer ----------------------------------------------------------------------


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


def make_explorer(
    model: nn.Module,
    data: TaskData,
    *,
    title: str = "",
    model_name: str = "",
    kl: Tensor | None = None,
) -> Explorer:
    """Pick the explorer that suits ``model`` by the methods it has.

    Args:
        model: A trained model (eval mode is set here).
        data: Its data splits.
        title: Shown on the page.
        model_name: Registered model name.
        kl: Average KL per latent dimension (nats) to order the sliders; estimated when ``None``.

    Raises:
        ValueError: When the model offers nothing the explorer can show.
    """

    def has(name: str) -> bool:
        return callable(getattr(model, name, None))

    latent = int(getattr(model, "latent_dim", 0) or 0) > 0
    if latent and (has("decode") or has("generate")) and has("prior"):
        return LatentExplorer(model, data, title=title, model_name=model_name, kl=kl)
    if isinstance(getattr(model, "x_dim", None), int) and isinstance(
        getattr(model, "y_dim", None), int
    ):
        return DensityExplorer(model, data, title=title, model_name=model_name)
    if has("sample") and "y" in data.test:
        return LatentExplorer(model, data, title=title, model_name=model_name)
    raise ValueError(
        f"the explorer cannot show a {type(model).__name__}: it needs decode(z) + prior() + "
        "latent_dim (a VAE), generate(x, z) + prior(x) + latent_dim (a CVAE), sample(x, n) "
        "(a conditional model) or x_dim + y_dim with forward(x) -> Distribution (an MDN)"
    )
