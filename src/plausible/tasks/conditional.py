"""Conditional tasks: quadrant imputation (Sohn et al., 2015) and class-conditional generation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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
from plausible.metrics.conditional import (
    conditional_negative_elbo,
    conditional_nll_values,
    deterministic_conditional_nll_values,
    deterministic_nll_estimate,
    nll_estimate,
)
from plausible.registry import TASKS
from plausible.tasks.base import BatchTransform, Task, TaskData

__all__ = [
    "ClassConditional",
    "QuadrantImputation",
    "evaluate_conditional",
    "show_inputs",
]

BinarizeOption = Literal["none", "threshold", "dynamic"]


def _check_binarize(value: str) -> None:
    if value not in ("none", "threshold", "dynamic"):
        raise ValueError(f"task.binarize must be none, threshold or dynamic, got {value!r}")


def _is_latent(model: nn.Module) -> bool:
    return hasattr(model, "prior") and hasattr(model, "generate")


def _has_recognition(model: nn.Module) -> bool:
    return _is_latent(model) and getattr(model, "recognition_net", None) is not None


def evaluate_conditional(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    settings: dict[str, Any],
    progress: bool = False,
) -> dict[str, Any]:
    """``-log p(y|x)`` of a conditional model on held-out pairs, labelled by estimator.

    Settings (the recipe's ``[evaluation]`` table): ``num_samples`` (S for both estimators,
    default 1000), ``mc_samples`` / ``is_samples`` (override S per estimator), ``elbo_samples``
    (L of the bound, default 10), ``max_examples`` (0: all), ``batch_size`` (100),
    ``memory_budget_mb`` (256), ``seed`` (0), ``per_example`` (false: also return each
    example's values as ``per_example_<key>`` lists, for paired comparisons between models).

    Returns:
        For a latent model: ``nll_mc`` (Monte Carlo, prior proposal), and with a recognition
        network ``nll_is`` (importance sampling) and ``negative_elbo`` (an upper bound, with its
        ``reconstruction`` and ``kl`` parts); ``nll`` repeats the best honest estimate (IS when
        available). For a deterministic model: ``nll`` (exact). Values are in nats per example,
        with ``nll_per_element`` = ``nll`` / number of target values.
    """
    limit = int(settings.get("max_examples", 0))
    if limit:
        x, y = x[:limit], y[:limit]
    s = int(settings.get("num_samples", 1000))
    common: dict[str, Any] = {
        "batch_size": int(settings.get("batch_size", 100)),
        "memory_budget_mb": float(settings.get("memory_budget_mb", 256.0)),
        "seed": int(settings.get("seed", 0)),
    }
    out: dict[str, Any] = {"num_examples": len(x)}
    values: dict[str, Tensor] = {}
    if not _is_latent(model):
        values["nll"] = deterministic_conditional_nll_values(model, x, y)
        nll = deterministic_nll_estimate(values["nll"])
    else:
        s_mc = int(settings.get("mc_samples", s))
        values["nll_mc"] = conditional_nll_values(
            model,  # type: ignore[arg-type]
            x,
            y,
            num_samples=s_mc,
            proposal="prior",
            **common,
        )
        nll = nll_estimate(values["nll_mc"], num_samples=s_mc, proposal="prior")
        out["nll_mc"] = nll.to_dict()
        if _has_recognition(model):
            s_is = int(settings.get("is_samples", s))
            values["nll_is"] = conditional_nll_values(
                model,  # type: ignore[arg-type]
                x,
                y,
                num_samples=s_is,
                proposal="posterior",
                **common,
            )
            nll = nll_estimate(values["nll_is"], num_samples=s_is, proposal="posterior")
            bound = conditional_negative_elbo(
                model, x, y, num_samples=int(settings.get("elbo_samples", 10)), seed=common["seed"]
            )
            out["nll_is"] = nll.to_dict()
            out["negative_elbo"] = bound["negative_elbo"].to_dict()
            out["reconstruction"] = bound["reconstruction"].to_dict()
            out["kl"] = bound["kl"].to_dict()
    out["nll"] = nll.to_dict()
    if settings.get("per_example", False):
        # Per-image values let two models be compared pairwise (the paired standard error);
        # top-level lists stay out of report tables.
        for key, t in values.items():
            out[f"per_example_{key}"] = [round(float(v), 4) for v in t]
    out["nll_per_element"] = nll.mean / y[0].numel()
    return out


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

    def evaluate(
        self, model: nn.Module, data: TaskData, *, settings: dict[str, Any], progress: bool = False
    ) -> dict[str, Any]:
        """Test ``-log p(y|x)`` by each estimator that applies (:func:`evaluate_conditional`)."""
        out = evaluate_conditional(
            model, data.test["x"], data.test["y"], settings=settings, progress=progress
        )
        out["quadrants"] = self.quadrants
        out["target_values"] = int(data.test["y"].shape[1])
        return out

    def complete(self, data: TaskData, x: Tensor, y: Tensor) -> Tensor:
        """Images with ``y`` (``(..., C * U)``, e.g. ``(S, B, ...)`` samples) filled into ``x``."""
        h, w = data.info["x_shape"][1:]
        return fill_unobserved(x, y, quadrant_mask(h, w, self.quadrants))

    def figures(
        self, model: nn.Module, data: TaskData, figures_dir: Path, *, records: list[dict[str, Any]]
    ) -> dict[str, Path]:
        from plausible.viz import training_curves
        from plausible.viz.conditional import hypothesis_grid

        figures_dir.mkdir(parents=True, exist_ok=True)
        device = next(model.parameters()).device
        x, y = data.test["x"][:8], data.test["y"][:8]
        model.eval()
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(0)
            samples = model.sample(x.to(device), 8).cpu()  # type: ignore[operator]
            predictions = model.predict(x.to(device)).cpu()  # type: ignore[operator]
        kind = "y* from z* = E[z|x]" if _is_latent(model) else "prediction"
        out = {
            "hypotheses": hypothesis_grid(
                show_inputs(x),
                self.complete(data, x, y),
                self.complete(data, x, samples),
                figures_dir / "hypotheses.png",
                predictions=self.complete(data, x, predictions),
                prediction_label="y*" if _is_latent(model) else "prediction",
                title=f"Completions from the {quadrant_layout(self.quadrants)} ({kind}; samples)",
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

    def evaluate(
        self, model: nn.Module, data: TaskData, *, settings: dict[str, Any], progress: bool = False
    ) -> dict[str, Any]:
        """Test ``-log p(image | label)``; see :func:`evaluate_conditional`."""
        out = evaluate_conditional(
            model, data.test["x"], data.test["y"], settings=settings, progress=progress
        )
        out["bits_per_dim"] = out["nll"]["mean"] / (math.prod(data.info["y_shape"]) * math.log(2))
        return out

    def figures(
        self, model: nn.Module, data: TaskData, figures_dir: Path, *, records: list[dict[str, Any]]
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
            samples = model.sample(labels, 10).cpu()  # type: ignore[operator]
        out = {
            "class_samples": class_grid(
                samples.transpose(0, 1),
                names,
                figures_dir / "class_samples.png",
                title="Samples for each class (means of p(y|x,z), z ~ p(z|x))",
            )
        }
        if records:
            out["training_curves"] = training_curves(records, figures_dir / "training_curves.png")
        return out
