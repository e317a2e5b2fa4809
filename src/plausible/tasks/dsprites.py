"""dSprites-style disentanglement: images rendered on demand from known factors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from plausible.data.dsprites import (
    FACTOR_NAMES,
    FACTOR_SIZES,
    NUM_IMAGES,
    DSprites,
    index_to_classes,
)
from plausible.metrics.collapse import CollapseMonitor
from plausible.metrics.information import normalised_mutual_information
from plausible.metrics.latent import encoder_model
from plausible.registry import TASKS
from plausible.tasks.base import BatchTransform, Task, TaskData

__all__ = ["DSpritesTask", "RenderFactors"]

#: Suite metrics computed at the end of training when the recipe's [evaluation] names none.
DEFAULT_METRICS = ("nll", "collapse", "disentanglement")


class RenderFactors:
    """Batch transform: add ``"x"`` rendered from the batch's ``"factors"`` (deterministic)."""

    def __init__(self, truth: DSprites) -> None:
        self.truth = truth

    def __call__(self, batch: dict[str, Tensor], generator: torch.Generator) -> dict[str, Tensor]:
        return {**batch, "x": self.truth.observations(batch["factors"])}


@TASKS.register("dsprites")
class DSpritesTask(Task):
    """Model p(x) of dSprites-style images; batches ``{"x": (B, 1, 64, 64), "factors": (B, 5)}``.

    The data are a fixed, seeded subset of the 737,280-image grid (drawn without replacement and
    split into disjoint train / validation / test parts). Only the training factors are kept;
    their images are rendered per batch (several thousand images/s on two CPU cores), so memory does
    not grow with ``train_size``. Validation and test images are rendered once. The images follow
    the published factor grid but are rasterised here, not read from the released file (see
    :class:`plausible.data.dsprites.DSprites`).

    Args:
        train_size: Training images (the same ones every epoch).
        val_size: Validation images (early stopping).
        test_size: Test images (reported metrics).
        seed: Seed of the subset.
        supersample: Sub-pixels per pixel side of the rasteriser.
        monitor_examples: Validation images on which the collapse diagnostics are logged per
            epoch (0 turns the monitor off).
    """

    default_objective = "elbo"
    metrics = DEFAULT_METRICS
    #: Its data carry ``info["ground_truth"]``: disentanglement scores and figures apply.
    known_factors: ClassVar[bool] = True

    def __init__(
        self,
        *,
        train_size: int = 50_000,
        val_size: int = 1_000,
        test_size: int = 2_000,
        seed: int = 0,
        supersample: int = 3,
        monitor_examples: int = 1_000,
    ) -> None:
        total = train_size + val_size + test_size
        if min(train_size, val_size, test_size) < 1 or total > NUM_IMAGES:
            raise ValueError(
                f"task.train_size, val_size and test_size must be >= 1 and sum to at most "
                f"{NUM_IMAGES} (the grid); got {train_size}, {val_size}, {test_size}"
            )
        self.train_size = train_size
        self.val_size = val_size
        self.test_size = test_size
        self.seed = seed
        self.truth = DSprites(supersample=supersample)
        self.monitor_examples = monitor_examples

    def load(self) -> TaskData:
        gen = torch.Generator().manual_seed(self.seed)
        total = self.train_size + self.val_size + self.test_size
        classes = index_to_classes(torch.randperm(NUM_IMAGES, generator=gen)[:total])
        train, val, test = classes.split([self.train_size, self.val_size, self.test_size])

        def rendered(factors: Tensor) -> dict[str, Tensor]:
            return {"x": self.truth.observations(factors), "factors": factors}

        return TaskData(
            train={"factors": train},
            val=rendered(val),
            test=rendered(test),
            info={
                "x_shape": self.truth.x_shape,
                "dataset": "dsprites (generated)",
                "factor_names": list(FACTOR_NAMES),
                "factor_sizes": list(FACTOR_SIZES),
                "ground_truth": self.truth,
            },
        )

    def model_kwargs(self, data: TaskData) -> dict[str, Any]:
        return {"x_shape": tuple(data.info["x_shape"])}

    def batch_transform(self) -> BatchTransform | None:
        return RenderFactors(self.truth)

    def callbacks(self, data: TaskData) -> Sequence[CollapseMonitor]:
        """Per-epoch collapse diagnostics on the first ``monitor_examples`` validation images."""
        if not self.monitor_examples:
            return ()
        return (CollapseMonitor(data.val["x"][: self.monitor_examples]),)

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
        from plausible.metrics.collapse import collapse_diagnostics
        from plausible.metrics.disentanglement import mig, posterior_mean_representation
        from plausible.viz import (
            image_grid,
            kl_per_dimension_bars,
            reconstruction_figure,
            training_curves,
        )
        from plausible.viz.disentanglement import (
            collapse_curves,
            factor_traversal,
            mutual_information_matrix,
        )

        figures_dir.mkdir(parents=True, exist_ok=True)
        vae = encoder_model(model, "the dsprites task's figures")
        device = next(model.parameters()).device
        x = data.test["x"]
        model.eval()
        out: dict[str, Path] = {}
        with torch.no_grad():
            torch.manual_seed(0)
            out["samples"] = image_grid(
                vae.sample(64, mean=True).cpu(),
                figures_dir / "samples.png",
                title="Samples from the prior (decoder means)",
            )
            recon = vae.decode(vae.encode(x[:16].to(device)).mean).mean.cpu()
        out["reconstructions"] = reconstruction_figure(
            x[:16], recon, figures_dir / "reconstructions.png"
        )
        curves = [r for r in records if r.get("split") in ("train", "val")]
        if curves:
            out["training_curves"] = training_curves(curves, figures_dir / "training_curves.png")
        if any(r.get("split") == "collapse" for r in records):
            out["collapse per epoch"] = collapse_curves(
                records, figures_dir / "collapse_per_epoch.png"
            )
        gap = mig(self.truth, posterior_mean_representation(model), num_points=5000)
        normalised = normalised_mutual_information(gap)
        out["latent traversals labelled by factor"] = factor_traversal(
            model,
            figures_dir / "factor_traversal.png",
            normalised_mi=normalised,
            factor_names=FACTOR_NAMES,
            x=x[:500],
            title="Latent traversals (label: factor with the largest I(z_d; v_k) / H(v_k))",
        )
        out["mutual information latents x factors"] = mutual_information_matrix(
            normalised, FACTOR_NAMES, figures_dir / "mutual_information.png"
        )
        stats = collapse_diagnostics(model, x[:1000])
        out["kl_per_dimension"] = kl_per_dimension_bars(
            stats["kl_per_dimension"], figures_dir / "kl_per_dimension.png", threshold=0.01
        )
        return out
