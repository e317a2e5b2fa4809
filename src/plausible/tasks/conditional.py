"""Conditional tasks: quadrant imputation (Sohn et al., 2015) and class-conditional generation.

Both are scored by the ``nll`` suite metric: ``-log p(y|x)`` by every estimator that applies
(Monte Carlo, importance sampling and the bound for a latent model; exact for a density model).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import kl_divergence

from plausible.data import binarize as binarize_images
from plausible.data import load_dataset, train_val_split
from plausible.data.quadrants import (
    UNOBSERVED,
    OmissionNoise,
    fill_unobserved,
    quadrant_layout,
    quadrant_mask,
    split_quadrants,
    unobserved_regions,
)
from plausible.models.protocols import (
    ConditionalDensityModel,
    ConditionalLatentModel,
    ConditionalModel,
)
from plausible.registry import TASKS
from plausible.tasks.base import BatchTransform, Task, TaskData

__all__ = ["ClassConditional", "QuadrantImputation", "show_inputs"]

BinarizeOption = Literal["none", "threshold", "dynamic"]


def _check_binarize(value: str) -> None:
    if value not in ("none", "threshold", "dynamic"):
        raise ValueError(f"task.binarize must be none, threshold or dynamic, got {value!r}")


def _prediction(model: nn.Module, x: Tensor) -> Tensor:
    """One deterministic answer per input: the mean of p(y|x, z* = E[z|x]) for a latent model,
    the mean of p(y|x) for a density model; ``(B, *y_shape)``."""
    if isinstance(model, ConditionalLatentModel):
        return model.generate(x, model.prior(x).mean).mean
    if isinstance(model, ConditionalDensityModel):
        return model.predictive(x).mean
    raise TypeError(f"{type(model).__name__} is not a conditional latent or density model")


def _conditional(model: nn.Module) -> ConditionalModel:
    if not isinstance(model, ConditionalModel):
        raise TypeError(
            f"{type(model).__name__} is not a conditional model (x_shape, y_shape, "
            "sample(x, num_samples)); see plausible.models.protocols"
        )
    return model


#: Below this spread across samples (standard deviation over the samples of a pixel's intensity in
#: [0, 1], averaged over pixels and examples) the hypotheses figure calls them nearly identical:
#: 0.03 is about 8 grey levels of 256, below what the eye tells apart in a grid.
_NEARLY_IDENTICAL = 0.03


def _multiplicity(model: nn.Module, x: Tensor, y: Tensor, samples: Tensor) -> str:
    """One line on how different a model's hypotheses are: the spread of ``samples``
    ``(S, B, *y_shape)`` across S and, for a latent model with recognition, the mean
    KL(q(z|x,y) || p(z|x)) in nats (near zero: z tells the decoder nothing about y)."""
    spread = float(samples.float().std(dim=0).mean())
    parts = [f"sd across samples {spread:.3f} per pixel"]
    if isinstance(model, ConditionalLatentModel) and model.has_recognition:
        kl = float(kl_divergence(model.recognize(x, y), model.prior(x)).mean())
        parts.append(f"KL(q(z|x,y) || p(z|x)) = {kl:.3g} nats")
    text = "; ".join(parts)
    return f"hypotheses nearly identical ({text})" if spread < _NEARLY_IDENTICAL else text


def show_inputs(x: Tensor, fill: float = 0.5) -> Tensor:
    """Inputs for display: unobserved pixels (-1) drawn in mid grey."""
    return x.masked_fill(x == UNOBSERVED, fill)


@dataclass(frozen=True)
class _Transforms:
    """Dynamic binarisation of both x's observed pixels and y, then omission noise on x."""

    dynamic: bool
    noise: OmissionNoise | None

    def __call__(self, batch: dict[str, Tensor], generator: torch.Generator) -> dict[str, Tensor]:
        out = dict(batch)
        if self.dynamic:
            x = out["x"]
            drawn = torch.bernoulli(x.clamp(0.0, 1.0), generator=generator)
            out["x"] = torch.where(x == UNOBSERVED, x, drawn)
            out["y"] = torch.bernoulli(out["y"], generator=generator)
        if self.noise is not None:
            out = self.noise(out, generator)
        return out


@TASKS.register("quadrant")
class QuadrantImputation(Task):
    """Complete an image from 1, 2 or 3 observed quadrants (Sohn et al., 2015, section 5.1).

    Batches are ``{"x": (B, C, H, W), "y": (B, C * U), "label": (B,)}``: ``x`` is the image with
    the unobserved pixels set to -1, ``y`` holds the ``U`` unobserved pixels (raster order) and
    is the only thing scored. 1 observes the bottom-left quadrant, 2 the left half, 3 all but the
    bottom-right quadrant.

    Args:
        dataset: Registered data set of square images: ``digits``, ``fashion-mnist``, ``mnist``.
        quadrants: Observed quadrants: 1, 2 or 3.
        data_dir: Folder holding the data set's files.
        binarize: ``none`` (grey levels, scored by cross-entropy), ``threshold`` or ``dynamic``
            (training batches drawn afresh; validation and test drawn once, seeded).
        threshold: Cut-off for ``threshold``.
        val_fraction: Share of the training split held out for validation and early stopping.
        split_seed: Seed of the split and of the fixed binarisation draws.
        max_train: Use only the first this many training images (0: all).
        max_test: Use only the first this many test images (0: all).
        omission_noise: Largest side of the random block omitted from each training input, as a
            fraction of the image size (Sohn et al. use 0.4); 0 turns the noise off.
    """

    default_objective = "cvae"
    metrics = ("nll",)

    def __init__(
        self,
        dataset: str = "digits",
        *,
        quadrants: int = 1,
        data_dir: str | None = None,
        binarize: BinarizeOption = "none",
        threshold: float = 0.5,
        val_fraction: float = 1 / 12,
        split_seed: int = 0,
        max_train: int = 0,
        max_test: int = 0,
        omission_noise: float = 0.0,
    ) -> None:
        if isinstance(quadrants, bool) or quadrants not in (1, 2, 3):
            raise ValueError(
                f"task.quadrants must be 1, 2 or 3 (observed quadrants), got {quadrants!r}: 1 "
                "observes the bottom-left quadrant, 2 the left half, 3 all but the bottom-right"
            )
        _check_binarize(binarize)
        if not 0.0 <= omission_noise <= 1.0:
            raise ValueError(f"task.omission_noise must be in [0, 1], got {omission_noise}")
        self.dataset = dataset
        self.quadrants = int(quadrants)
        self.data_dir = data_dir
        self.binarize = binarize
        self.threshold = threshold
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.max_train = max_train
        self.max_test = max_test
        self.omission_noise = omission_noise

    def load(self) -> TaskData:
        train = load_dataset(self.dataset, "train", data_dir=self.data_dir)
        test = load_dataset(self.dataset, "test", data_dir=self.data_dir)
        c, h, w = train.image_shape
        if h != w:
            raise ValueError(
                f"quadrant imputation needs square images, but {self.dataset!r} has {h} x {w} "
                "images; crop or pad them to a square, or use another data set"
            )
        images, labels = train.images, train.labels
        if self.max_train:
            images, labels = images[: self.max_train], labels[: self.max_train]
        test_images, test_labels = test.images, test.labels
        if self.max_test:
            test_images, test_labels = test_images[: self.max_test], test_labels[: self.max_test]
        train_idx, val_idx = train_val_split(len(images), self.val_fraction, seed=self.split_seed)
        fixed = torch.Generator().manual_seed(self.split_seed)

        def held_out(imgs: Tensor) -> Tensor:
            return binarize_images(imgs, self.binarize, threshold=self.threshold, generator=fixed)

        train_images = images[train_idx]
        if self.binarize == "threshold":
            train_images = held_out(train_images)

        def split(imgs: Tensor, lab: Tensor) -> dict[str, Tensor]:
            x, y = split_quadrants(imgs, self.quadrants)
            return {"x": x, "y": y, "label": lab}

        regions = unobserved_regions(h, self.quadrants)
        y_dim = c * int(quadrant_mask(h, w, self.quadrants).sum())
        return TaskData(
            train=split(train_images, labels[train_idx]),
            val=split(held_out(images[val_idx]), labels[val_idx]),
            test=split(held_out(test_images), test_labels),
            info={
                "x_shape": (c, h, w),
                "y_shape": (y_dim,),
                "canvas_shape": (c, h, w),
                "output_regions": [list(r) for r in regions],
                "quadrants": self.quadrants,
                "observed": quadrant_layout(self.quadrants),
                "class_names": list(train.class_names),
                "dataset": self.dataset,
                "binarize": self.binarize,
            },
        )

    def model_kwargs(self, data: TaskData) -> dict[str, Any]:
        info = data.info
        return {
            "x_shape": tuple(info["x_shape"]),
            "y_shape": tuple(info["y_shape"]),
            "canvas_shape": tuple(info["canvas_shape"]),
            "output_regions": [tuple(r) for r in info["output_regions"]],
        }

    def batch_transform(self) -> BatchTransform | None:
        noise = OmissionNoise(self.omission_noise) if self.omission_noise > 0 else None
        if self.binarize != "dynamic" and noise is None:
            return None
        return _Transforms(dynamic=self.binarize == "dynamic", noise=noise)

    def complete(self, data: TaskData, x: Tensor, y: Tensor) -> Tensor:
        """Images with ``y`` (``(..., C * U)``, e.g. ``(S, B, ...)`` samples) filled into ``x``."""
        h, w = data.info["x_shape"][1:]
        return fill_unobserved(x, y, quadrant_mask(h, w, self.quadrants))

    def figures(
        self,
        model: nn.Module,
        data: TaskData,
        figures_dir: Path,
        *,
        records: list[dict[str, Any]],
        baselines: Mapping[str, nn.Module | None] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> dict[str, Path]:
        from plausible.viz import training_curves
        from plausible.viz.conditional import hypothesis_grid

        figures_dir.mkdir(parents=True, exist_ok=True)
        device = next(model.parameters()).device
        x, y = data.test["x"][:8], data.test["y"][:8]
        model.eval()
        latent = isinstance(model, ConditionalLatentModel)
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(0)
            samples = _conditional(model).sample(x.to(device), 8, mean=True).cpu()
            predictions = _prediction(model, x.to(device)).cpu()
            subtitle = _multiplicity(model, x.to(device), y.to(device), samples)
        kind = "y* from z* = E[z|x]" if latent else "prediction"
        out = {
            "hypotheses": hypothesis_grid(
                show_inputs(x),
                self.complete(data, x, y),
                self.complete(data, x, samples),
                figures_dir / "hypotheses.png",
                predictions=self.complete(data, x, predictions),
                prediction_label="y*" if latent else "prediction",
                title=f"Completions from the {quadrant_layout(self.quadrants)} ({kind}; samples)",
                subtitle=subtitle,
            )
        }
        if records:
            out["training_curves"] = training_curves(records, figures_dir / "training_curves.png")
        return out


@TASKS.register("class-conditional")
class ClassConditional(Task):
    """Generate images of a given class: ``x`` is the one-hot label, ``y`` the image.

    Batches are ``{"x": (B, K), "y": (B, C, H, W), "label": (B,)}``. With a CVAE whose prior is
    ``standard`` this is the label-conditional VAE; with a learned prior, p(z|label) is learned too.

    Args:
        dataset: Registered image data set.
        data_dir: Folder holding the data set's files.
        binarize: ``none``, ``threshold`` or ``dynamic`` (as in the image task).
        threshold: Cut-off for ``threshold``.
        val_fraction: Share of the training split held out for validation.
        split_seed: Seed of the split and of the fixed binarisation draws.
        max_train: Use only the first this many training images (0: all).
        max_test: Use only the first this many test images (0: all).
    """

    default_objective = "cvae"
    metrics = ("nll",)

    def __init__(
        self,
        dataset: str = "digits",
        *,
        data_dir: str | None = None,
        binarize: BinarizeOption = "dynamic",
        threshold: float = 0.5,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        max_train: int = 0,
        max_test: int = 0,
    ) -> None:
        _check_binarize(binarize)
        self.dataset = dataset
        self.data_dir = data_dir
        self.binarize = binarize
        self.threshold = threshold
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.max_train = max_train
        self.max_test = max_test

    def load(self) -> TaskData:
        train = load_dataset(self.dataset, "train", data_dir=self.data_dir)
        test = load_dataset(self.dataset, "test", data_dir=self.data_dir)
        k = train.num_classes
        images, labels = train.images, train.labels
        if self.max_train:
            images, labels = images[: self.max_train], labels[: self.max_train]
        test_images, test_labels = test.images, test.labels
        if self.max_test:
            test_images, test_labels = test_images[: self.max_test], test_labels[: self.max_test]
        train_idx, val_idx = train_val_split(len(images), self.val_fraction, seed=self.split_seed)
        fixed = torch.Generator().manual_seed(self.split_seed)

        def held_out(imgs: Tensor) -> Tensor:
            return binarize_images(imgs, self.binarize, threshold=self.threshold, generator=fixed)

        def pairs(imgs: Tensor, lab: Tensor) -> dict[str, Tensor]:
            return {"x": F.one_hot(lab, k).float(), "y": imgs, "label": lab}

        train_images = images[train_idx]
        if self.binarize == "threshold":
            train_images = held_out(train_images)
        return TaskData(
            train=pairs(train_images, labels[train_idx]),
            val=pairs(held_out(images[val_idx]), labels[val_idx]),
            test=pairs(held_out(test_images), test_labels),
            info={
                "x_shape": (k,),
                "y_shape": tuple(train.image_shape),
                "class_names": list(train.class_names),
                "dataset": self.dataset,
                "binarize": self.binarize,
            },
        )

    def model_kwargs(self, data: TaskData) -> dict[str, Any]:
        return {"x_shape": tuple(data.info["x_shape"]), "y_shape": tuple(data.info["y_shape"])}

    def batch_transform(self) -> BatchTransform | None:
        if self.binarize != "dynamic":
            return None
        from plausible.data import Binarize

        return Binarize("dynamic", key="y")

    def figures(
        self,
        model: nn.Module,
        data: TaskData,
        figures_dir: Path,
        *,
        records: list[dict[str, Any]],
        baselines: Mapping[str, nn.Module | None] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> dict[str, Path]:
        from plausible.viz import training_curves
        from plausible.viz.conditional import class_grid

        figures_dir.mkdir(parents=True, exist_ok=True)
        device = next(model.parameters()).device
        names = list(data.info["class_names"])
        labels = torch.eye(len(names), device=device)
        model.eval()
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(0)
            samples = _conditional(model).sample(labels, 10, mean=True).cpu()
        out = {
            "class_samples": class_grid(
                samples.transpose(0, 1),
                names,
                figures_dir / "class_samples.png",
                title="10 decoder means per class (means of p(y|x,z), z ~ p(z|x))",
            )
        }
        if records:
            out["training_curves"] = training_curves(records, figures_dir / "training_curves.png")
        return out
