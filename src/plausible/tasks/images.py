"""Unconditional image modelling: the task behind every VAE recipe."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from plausible.data import Binarize, binarize, load_dataset, train_val_split
from plausible.metrics.latent import encoder_model, kl_per_latent_dimension
from plausible.registry import TASKS
from plausible.tasks.base import BatchTransform, Task, TaskData

__all__ = ["ImageModelling"]


@TASKS.register("images")
class ImageModelling(Task):
    """Model p(x) of an image data set; batches are ``{"x": (B, C, H, W), "label": (B,)}``.

    Args:
        dataset: Registered data set name (``digits``, ``fashion-mnist``, ``mnist``).
        data_dir: Folder holding the data set's files (else ``PLAUSIBLE_DATA`` and system folders).
        binarize: ``none`` (grey levels), ``threshold`` (fixed, ``> threshold``) or ``dynamic``
            (a fresh Bernoulli draw of every training batch; validation and test sets are drawn
            once with a fixed seed, as in Burda et al. 2016).
        threshold: Cut-off for ``threshold`` binarisation.
        val_fraction: Share of the training split held out for validation and early stopping.
        split_seed: Seed of the train/validation split and of the fixed binarisation draws.
        max_train: Use only the first this many training images (0: all); for quick runs.
        max_test: Use only the first this many test images (0: all).

    Evaluation: the ``nll`` suite metric (IS-NLL, negative ELBO with its parts, bits/dim,
    active units).
    """

    default_objective = "elbo"
    metrics = ("nll",)

    def __init__(
        self,
        dataset: str = "digits",
        *,
        data_dir: str | None = None,
        binarize: Literal["none", "threshold", "dynamic"] = "dynamic",
        threshold: float = 0.5,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        max_train: int = 0,
        max_test: int = 0,
    ) -> None:
        self.dataset = dataset
        self.data_dir = data_dir
        self.binarize = binarize
        self.threshold = threshold
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.max_train = max_train
        self.max_test = max_test
        if binarize not in ("none", "threshold", "dynamic"):
            raise ValueError(f"task.binarize must be none, threshold or dynamic, got {binarize!r}")

    def load(self) -> TaskData:
        train = load_dataset(self.dataset, "train", data_dir=self.data_dir)
        test = load_dataset(self.dataset, "test", data_dir=self.data_dir)
        images, labels = train.images, train.labels
        if self.max_train:
            images, labels = images[: self.max_train], labels[: self.max_train]
        test_images, test_labels = test.images, test.labels
        if self.max_test:
            test_images, test_labels = test_images[: self.max_test], test_labels[: self.max_test]
        train_idx, val_idx = train_val_split(len(images), self.val_fraction, seed=self.split_seed)
        fixed = torch.Generator().manual_seed(self.split_seed)

        def prepare(x: torch.Tensor) -> torch.Tensor:
            # Training batches are binarised per batch when dynamic; held-out sets once, seeded.
            mode = "none" if self.binarize == "none" else self.binarize
            return binarize(x, mode, threshold=self.threshold, generator=fixed)

        train_x = images[train_idx]
        if self.binarize == "threshold":
            train_x = prepare(train_x)
        return TaskData(
            train={"x": train_x, "label": labels[train_idx]},
            val={"x": prepare(images[val_idx]), "label": labels[val_idx]},
            test={"x": prepare(test_images), "label": test_labels},
            info={
                "x_shape": tuple(train.image_shape),
                "class_names": list(train.class_names),
                "dataset": self.dataset,
                "binarize": self.binarize,
            },
        )

    def model_kwargs(self, data: TaskData) -> dict[str, Any]:
        return {"x_shape": tuple(data.info["x_shape"])}

    def batch_transform(self) -> BatchTransform | None:
        return Binarize("dynamic", key="x") if self.binarize == "dynamic" else None

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
        from plausible.viz import (
            image_grid,
            interpolation,
            kl_per_dimension_bars,
            latent_manifold,
            latent_scatter,
            latent_traversal,
            reconstruction_figure,
            training_curves,
        )

        figures_dir.mkdir(parents=True, exist_ok=True)
        vae = encoder_model(model, "the image task's figures")
        device = next(model.parameters()).device
        x = data.test["x"]
        torch.manual_seed(0)
        model.eval()
        out: dict[str, Path] = {}
        with torch.no_grad():
            out["samples"] = image_grid(
                vae.sample(64, mean=True).cpu(),
                figures_dir / "samples.png",
                title="64 decoder means (means of p(x|z), z ~ p(z))",
            )
            recon = vae.decode(vae.encode(x[:16].to(device)).mean).mean.cpu()
        out["reconstructions"] = reconstruction_figure(
            x[:16], recon, figures_dir / "reconstructions.png"
        )
        if records:
            out["training_curves"] = training_curves(records, figures_dir / "training_curves.png")
        out["traversals"] = latent_traversal(vae, figures_dir / "traversals.png", x=x[:500])
        out["interpolation"] = interpolation(vae, x[:4], x[4:8], figures_dir / "interpolation.png")
        if vae.latent_dim == 2:
            out["latent_manifold"] = latent_manifold(vae, figures_dir / "latent_manifold.png")
        out["latent_space"] = latent_scatter(
            vae,
            x[:2000],
            data.test["label"][:2000],
            figures_dir / "latent_space.png",
            class_names=data.info.get("class_names"),
        )
        out["kl_per_dimension"] = kl_per_dimension_bars(
            kl_per_latent_dimension(model, x), figures_dir / "kl_per_dimension.png", threshold=0.01
        )
        return out
