"""The latent explorer: sliders over z for a latent model, hypotheses for a conditional model.

What a model gets follows the protocol it satisfies (``plausible.models.protocols``):

- a :class:`LatentVariableModel` (a VAE): sliders over z, decoded live, and test examples encoded;
- a :class:`ConditionalLatentModel` (a CVAE or GSNN): the same sliders for a chosen condition x,
  plus several hypotheses side by side (and test pairs encoded when it has a recognition network);
- any other :class:`ConditionalModel` (a deterministic baseline): the hypotheses only.

Latent values travel in prior standard deviations, ``u = (z - E[z]) / std[z]`` under the prior
(p(z) or p(z|x)), so one slider range fits every model and every condition.
"""

from __future__ import annotations

import logging
import math
import random
from typing import Any

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from plausible.data.task_data import TaskData
from plausible.distributions.kl import kl_per_dimension
from plausible.explore.base import (
    MAX_HYPOTHESES,
    SLIDER_RANGE,
    Z_LIMIT,
    Endpoint,
    Explorer,
    length,
    seeded,
)
from plausible.explore.pictures import UNOBSERVED, hwc, image_shape, tinted
from plausible.explore.png import png_data_url
from plausible.explore.sequences import SequencePictures, sequence_pictures
from plausible.explore.validation import (
    BadRequestError,
    check_fields,
    choice_field,
    int_field,
    vector_field,
)
from plausible.models.protocols import (
    CanvasOutput,
    ConditionalLatentModel,
    ConditionalModel,
    LatentVariableModel,
    OutputCanvasLike,
)

__all__ = ["LatentExplorer"]

log = logging.getLogger(__name__)

#: Examples used to rank latent dimensions by KL at start-up.
_KL_EXAMPLES = 1000


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


class LatentExplorer(Explorer):
    """Sliders over the latent space of a VAE, or of a CVAE for a chosen condition.

    Args:
        model: A :class:`LatentVariableModel` (unconditional) or a :class:`ConditionalModel`;
            a :class:`ConditionalLatentModel` gets sliders, any other conditional model only
            hypotheses (its ``sample(x, k, mean=True)``).
        data: The run's data; conditional models need ``x`` and ``y`` in the test split.
        title: Shown on the page.
        model_name: Registered model name.
        kl: Average KL per latent dimension in nats, ``(latent_dim,)``, to order the sliders;
            estimated on the test split when ``None``: KL(q(z|x) || p(z)) for a VAE,
            KL(q(z|x,y) || p(z|x)) for a CVAE (its learned prior, not N(0, I)).

    Raises:
        ValueError: When the model satisfies none of these protocols, or a conditional model's
            test split lacks ``x`` or ``y``.
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
        self.vae: LatentVariableModel | None = None
        self.conditional_model: ConditionalModel | None = None
        if isinstance(model, LatentVariableModel):
            self.vae = model
        elif isinstance(model, ConditionalModel):
            self.conditional_model = model
        else:
            raise ValueError(
                f"the latent explorer needs a LatentVariableModel or a ConditionalModel "
                f"(plausible.models.protocols); a {type(model).__name__} is neither"
            )
        self.cvae = model if isinstance(model, ConditionalLatentModel) else None
        self.conditional = self.vae is None
        if self.conditional:
            self.kind = "conditional"
            missing = [k for k in ("x", "y") if k not in self.split]
            if missing:
                raise ValueError(
                    f"exploring a conditional model needs test examples with 'x' and "
                    f"'y'; the task's test split holds {sorted(self.split)}"
                )
        latent = self.vae if self.vae is not None else self.cvae
        self.latent_dim = int(latent.latent_dim) if latent is not None else 0
        self.has_sliders = self.latent_dim > 0
        self._setup_images()
        if self.vae is not None:
            loc, scale = _moments(self.vae.prior(), self.latent_dim)
            self._loc, self._scale = loc.reshape(-1), scale.reshape(-1)
        self.kl = self._kl_order(kl) if self.has_sliders else None
        # The divergence the KL values measure, named as the page shows it: a CVAE's dimensions
        # carry information about y beyond the condition, so the reference is p(z|x), not N(0, I).
        self.kl_divergence = (
            None
            if self.kl is None
            else "KL(q(z|x) ‖ p(z))"
            if self.vae is not None
            else "KL(q(z|x,y) ‖ p(z|x))"
        )

    # -- shapes and pictures ------------------------------------------------------------------
    def _setup_images(self) -> None:
        info = self.data.info
        self.canvas: OutputCanvasLike | None = None
        self.out_shape: tuple[int, ...] | None
        self.cond_shape: tuple[int, ...] | None = None
        self.composite = False
        self.sequences: SequencePictures | None = None
        if self.vae is not None:
            self.out_numel = math.prod(self.vae.x_shape)
            self.out_shape = image_shape(self.out_numel, self.vae.x_shape, info.get("x_shape"))
            return
        assert self.conditional_model is not None
        model = self.conditional_model
        if isinstance(model, CanvasOutput):
            self.canvas = model.canvas
        x, y = self.split["x"], self.split["y"]
        self.out_numel = y[0].numel()
        # (T, D) histories and futures are drawn as line plots, never read as pixels.
        self.sequences = sequence_pictures(
            model.x_shape, model.y_shape, x, y, bones=info.get("bones")
        )
        if self.sequences is not None:
            self.cond_shape = self.out_shape = self.sequences.image_shape
            return
        self.cond_shape = image_shape(
            x[0].numel(), model.x_shape, info.get("x_shape"), info.get("image_shape")
        )
        if len(info.get("class_names") or ()) == x[0].numel():
            self.cond_shape = None  # a one-hot label, not a picture
        if self.canvas is not None:
            self.out_shape = tuple(self.canvas.canvas_shape)
        else:
            self.out_shape = image_shape(
                self.out_numel, model.y_shape, info.get("y_shape"), info.get("image_shape")
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
        if self.sequences is not None and condition is not None:
            picture = self.sequences.future(self.split["x"][condition], out)
            return {"image": png_data_url(picture)}
        if not self.conditional or not self.composite or condition is None:
            if self.canvas is not None:
                out = self.canvas.scatter(out.reshape(1, -1).to(self.device))[0]
            return {"image": png_data_url(hwc(out, self.out_shape))}
        x = self.split["x"][condition].reshape(self.out_shape).float()
        if self.canvas is not None:
            full = self.canvas.scatter(out.reshape(1, -1).to(self.device))[0].cpu()
            # The canvas marks the target regions where it scatters y: those pixels are imagined.
            ones = torch.ones(1, self.out_numel, device=self.device)
            imagined = self.canvas.scatter(ones)[0].cpu() > 0
        else:
            full = out.reshape(self.out_shape).cpu()
            imagined = x == UNOBSERVED
        picture = tinted(torch.where(imagined, full, x), imagined, self.out_shape)
        return {"image": png_data_url(picture)}

    def _condition_picture(self, index: int) -> str | None:
        if self.cond_shape is None:
            return None
        if self.sequences is not None:
            return png_data_url(self.sequences.history(self.split["x"][index]))
        x = self.split["x"][index].reshape(self.cond_shape).float()
        hidden = x == UNOBSERVED
        if self.composite and bool(hidden.any()):
            return png_data_url(tinted(x.clamp_min(0), hidden, self.cond_shape, hidden=True))
        return png_data_url(hwc(x.clamp(0, 1), self.cond_shape))

    # -- latent geometry ----------------------------------------------------------------------
    # Without a condition the model is a LatentVariableModel; with one, a ConditionalLatentModel.
    def _x(self, index: int) -> Tensor:
        return self.split["x"][index : index + 1].to(self.device)

    def _prior(self, condition: int | None) -> Distribution:
        if condition is None:
            assert self.vae is not None
            return self.vae.prior()
        assert self.cvae is not None
        return self.cvae.prior(self._x(condition))

    def _prior_moments(self, condition: int | None) -> tuple[Tensor, Tensor]:
        if condition is None:
            return self._loc, self._scale
        loc, scale = _moments(self._prior(condition), self.latent_dim)
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
            assert self.vae is not None
            return self.vae.decode(z[None]).mean[0]
        assert self.cvae is not None
        # A generator may draw more than z (Mix-and-Match draws its units): fix those draws,
        # so that the picture moves only when a slider does.
        with seeded(0):
            return self.cvae.generate(self._x(condition), z[None]).mean[0]

    def _kl_order(self, kl: Tensor | None) -> Tensor | None:
        if kl is not None and kl.numel() == self.latent_dim:
            return kl.float().cpu()
        if self.vae is None and (self.cvae is None or not self.cvae.has_recognition):
            log.info("latent dimensions keep their natural order (no recognition network)")
            return None
        x = self.split["x"][:_KL_EXAMPLES].to(self.device)
        try:
            with torch.no_grad():
                if self.vae is not None:
                    q_z, p_z = self.vae.encode(x), self.vae.prior()
                else:
                    assert self.cvae is not None
                    y = self.split["y"][:_KL_EXAMPLES].to(self.device)
                    q_z, p_z = self.cvae.recognize(x, y), self.cvae.prior(x)
                kl_mean = kl_per_dimension(q_z, p_z).reshape(-1, self.latent_dim).mean(0)
            return kl_mean.float().cpu()
        except (TypeError, ValueError, NotImplementedError) as err:
            log.info("latent dimensions keep their natural order (no KL per dimension: %s)", err)
            return None

    # -- endpoints ----------------------------------------------------------------------------
    def endpoints(self) -> dict[str, Endpoint]:
        table: dict[str, Endpoint] = {}
        if self.has_sliders:
            table |= {"decode": self.decode, "sample": self.sample}
        if self.conditional:
            table |= {"condition": self.condition, "hypotheses": self.hypotheses}
            if self.has_sliders and self.cvae is not None and self.cvae.has_recognition:
                table["encode"] = self.encode
        elif "x" in self.split:
            table["encode"] = self.encode
        return table

    def info(self) -> dict[str, Any]:
        info = super().info()
        kl = self.kl
        order = list(range(self.latent_dim))
        if kl is not None:
            order = sorted(order, key=lambda d: -float(kl[d]))
        info |= {
            "latent_dim": self.latent_dim if self.has_sliders else 0,
            "slider_range": SLIDER_RANGE,
            "z_limit": Z_LIMIT,
            "order": order if self.has_sliders else [],
            "kl": [round(float(v), 4) for v in kl] if kl is not None else None,
            "kl_divergence": self.kl_divergence,
            "image": (
                None
                if self.out_shape is None
                else dict(zip(("channels", "height", "width"), self.out_shape, strict=True))
            ),
            "output_size": self.out_numel,
            "examples": length(self.split),
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
        prior = self._prior(condition)
        with seeded(seed):
            z = prior.sample()
        u = self._to_u(z, condition, clip=SLIDER_RANGE)
        out = self._decode_mean(self._to_z(u, condition), condition)
        return {"z": u, "seed": seed, **self._render(out.cpu(), condition)}

    def encode(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{"index": i}`` -> test example ``i``'s posterior mean as slider values, its image."""
        check_fields(body, required=("index",))
        index = self._example(body, "index")
        x = self._x(index)
        condition: int | None
        if self.cvae is not None:
            y = self.split["y"][index : index + 1].to(self.device)
            z = self.cvae.recognize(x, y).mean
            condition = index
            picture = self._render(self.split["y"][index].cpu(), index)
        else:
            assert self.vae is not None
            z = self.vae.encode(x).mean
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
        with seeded(seed):
            if self.has_sliders and self.cvae is not None:
                z = self.cvae.prior(x).sample((count,))  # (k, 1, D)
                outs = self.cvae.generate(x, z).mean.reshape(count, -1)
            else:
                assert self.conditional_model is not None
                # The means of the model's hypotheses, as the latent models show theirs.
                outs = self.conditional_model.sample(x, count, mean=True).reshape(count, -1)
        rendered = [self._render(o.cpu(), index) for o in outs]
        key = "image" if self.out_shape is not None else "values"
        return {"seed": seed, "count": count, key + "s": [r[key] for r in rendered]}
