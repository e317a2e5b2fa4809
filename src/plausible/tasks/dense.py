"""Dense prediction with uncertainty: from an image, predict many plausible masks.

Batches are ``{"x": (B, C, H, W), "y": (B, 1, H, W)}``; sets with several annotators also hold
``"annotations"`` ``(B, A, 1, H, W)`` and ``"annotation_probs"`` ``(B, A)``, the exact law of
``y`` given ``x``. Three data sets, all generated from a seed:

- ``annotated-shapes``: a disk on a noisy background with four grader masks of known frequency
  (small disk, large disk, disk with a tail, empty) (:mod:`plausible.data.annotators`);
- ``rgbd-saliency``: items composited on textured colour backgrounds with a depth channel that
  says which object is salient, several pseudo-annotations each (:mod:`plausible.data.saliency`);
- ``partial-silhouettes``: Sohn et al. (2015)'s segmentation from partial observations: item
  silhouettes on textured noise, square blocks of the input omitted
  (:mod:`plausible.data.omission`).

The training target of a set with several annotators is drawn afresh from its law in every batch,
so a model sees every grader's mask, at its frequency.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from plausible.data.annotators import VARIANT_NAMES, make_annotated_shapes, resample_annotations
from plausible.data.datasets import load_dataset
from plausible.data.omission import omit_blocks, silhouette_scenes
from plausible.data.quadrants import OmissionNoise
from plausible.data.saliency import make_depth_saliency
from plausible.metrics.forecasting import model_device
from plausible.metrics.segmentation import pixel_uncertainty
from plausible.models.protocols import ConditionalModel
from plausible.registry import TASKS
from plausible.tasks.base import BatchTransform, Task, TaskData
from plausible.viz.dense import ambiguity_figure
from plausible.viz.training import training_curves

__all__ = ["AnnotatedShapes", "DensePrediction", "DepthSaliency", "PartialSilhouettes"]

#: Test images drawn in the sample figures, and samples per image.
_SHOWN, _FIGURE_SAMPLES = 4, 6
_KEYS = ("x", "y", "annotations", "annotation_probs")


def _sizes(num_train: int, num_val: int, num_test: int) -> tuple[int, int, int]:
    sizes = tuple(int(n) for n in (num_train, num_val, num_test))
    if sizes[0] < 1 or min(sizes[1:]) < 1:
        raise ValueError(
            f"num_train, num_val and num_test must be >= 1, got {num_train}, {num_val}, {num_test}"
        )
    return sizes  # type: ignore[return-value]


class DensePrediction(Task):
    """What the dense tasks share: shapes and figures. Subclasses build the splits."""

    default_objective = "cvae"
    metrics: tuple[str, ...] = ("segmentation", "nll")

    def model_kwargs(self, data: TaskData) -> dict[str, Any]:
        return {
            "x_shape": list(data.train["x"].shape[1:]),
            "y_shape": list(data.train["y"].shape[1:]),
        }

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
        out: dict[str, Path] = {}
        if records:
            out["Training curves"] = training_curves(records, figures_dir / "training_curves.png")
        if isinstance(model, ConditionalModel):
            out.update(dense_figures(model, data, figures_dir, name="samples"))
        return out


def dense_figures(
    model: ConditionalModel, data: TaskData, figures_dir: Path, *, name: str, seed: int = 0
) -> dict[str, Path]:
    """Image | every grader's mask | samples | their mean | predictive entropy, for a few test
    images. Returns ``{caption: path}``."""
    test = data.test
    x = test["x"][:_SHOWN]
    device = model_device(model)  # type: ignore[arg-type]
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        samples = model.sample(x.to(device), _FIGURE_SAMPLES, mean=True).cpu()
    uncertainty = pixel_uncertainty(samples)
    annotations = test.get("annotations")
    probs = test.get("annotation_probs")
    caption = (
        f"{_FIGURE_SAMPLES} sampled maps per image, their mean and the predictive entropy (nats)"
    )
    path = ambiguity_figure(
        x,
        annotations[:_SHOWN] if annotations is not None else test["y"][:_SHOWN, None],
        samples,
        samples.mean(0),
        uncertainty.predictive_entropy,
        path=figures_dir / f"{name}.png",
        title=caption,
        annotation_weights=probs[:_SHOWN] if probs is not None else None,
    )
    return {caption: path}


def _split(parts: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {k: v for k, v in parts.items() if k in _KEYS}


class _Annotated(DensePrediction):
    """A generated set with several annotators whose law is known: y is redrawn every batch."""

    metrics = ("ambiguous-segmentation", "segmentation", "nll")

    def batch_transform(self) -> BatchTransform | None:
        return resample_annotations


@TASKS.register("annotated-shapes")
class AnnotatedShapes(_Annotated):
    """A disk on a noisy background; four grader masks of known frequency (exact law).

    Args:
        num_train: Training images.
        num_val: Validation images.
        num_test: Test images.
        seed: Seed of the training split; validation and test use ``seed + 1`` and ``seed + 2``.
        **generator: Passed to :func:`~plausible.data.annotators.make_annotated_shapes`
            (``size``, ``probs``, ``noise``).
    """

    def __init__(
        self,
        num_train: int = 2000,
        num_val: int = 200,
        num_test: int = 500,
        *,
        seed: int = 0,
        **generator: Any,
    ) -> None:
        self.sizes = _sizes(num_train, num_val, num_test)
        self.seed = int(seed)
        self.generator = generator

    def load(self) -> TaskData:
        splits = [
            make_annotated_shapes(n, seed=self.seed + i, **self.generator)
            for i, n in enumerate(self.sizes)
        ]
        return TaskData(
            train=_split(splits[0]),
            val=_split(splits[1]),
            test=_split(splits[2]),
            info={"variant_names": list(VARIANT_NAMES)},
        )


def _items(dataset: str, split: str, count: int, data_dir: str | None) -> Tensor:
    """The first ``count`` grey item images ``(count, H, W)`` of a registered image data set."""
    images = load_dataset(dataset, split, data_dir=data_dir).images  # type: ignore[arg-type]
    if len(images) < count:
        raise ValueError(
            f"{dataset}/{split} holds {len(images)} images, fewer than the {count} asked for; "
            "lower num_train / num_val / num_test"
        )
    return images[:count, 0]


@TASKS.register("rgbd-saliency")
class DepthSaliency(_Annotated):
    """Items composited on textured colour backgrounds; depth says which one is salient.

    ``x`` is RGB plus depth ``(4, H, W)``; ``y`` in the test split is the salient object, the
    reference of the saliency metrics; the pseudo-annotations are the law a CVAE learns.

    Args:
        dataset: Image data set the items come from (``fashion-mnist``; ``digits`` for tests).
        num_train: Training images.
        num_val: Validation images.
        num_test: Test images.
        seed: Seed of the composition.
        data_dir: Folder holding the data set's files.
        **generator: Passed to :func:`~plausible.data.saliency.make_depth_saliency`.
    """

    metrics = ("saliency", "ambiguous-segmentation", "nll")

    def __init__(
        self,
        dataset: str = "fashion-mnist",
        num_train: int = 2000,
        num_val: int = 200,
        num_test: int = 500,
        *,
        seed: int = 0,
        data_dir: str | None = None,
        **generator: Any,
    ) -> None:
        self.dataset, self.data_dir = dataset, data_dir
        self.sizes = _sizes(num_train, num_val, num_test)
        self.seed = int(seed)
        self.generator = generator

    def load(self) -> TaskData:
        n_train, n_val, n_test = self.sizes
        # Training and validation items from the training file, test items from the test file.
        train_items = _items(self.dataset, "train", n_train + n_val, self.data_dir)
        test_items = _items(self.dataset, "test", n_test, self.data_dir)
        parts = [
            make_depth_saliency(train_items[:n_train], n_train, seed=self.seed, **self.generator),
            make_depth_saliency(train_items[n_train:], n_val, seed=self.seed + 1, **self.generator),
            make_depth_saliency(test_items, n_test, seed=self.seed + 2, **self.generator),
        ]
        return TaskData(
            train=_split(parts[0]),
            val=_split(parts[1]),
            test=_split(parts[2]),
            info={"dataset": self.dataset},
        )


@TASKS.register("partial-silhouettes")
class PartialSilhouettes(DensePrediction):
    """Sohn et al. (2015)'s segmentation with partial observations, on item silhouettes.

    ``x`` is two channels: the image with omitted pixels set to 0, and the observed indicator.
    Training inputs get the authors' omission noise (one random square of side up to
    ``train_noise`` of the image omitted, a fresh one every batch); validation and test inputs
    have ``test_fraction`` of their ``test_block`` x ``test_block`` squares omitted.

    Args:
        dataset: Image data set the items come from (``fashion-mnist``; ``digits`` for tests).
        num_train: Training images.
        num_val: Validation images.
        num_test: Test images.
        test_fraction: Share of the squares omitted in validation and test inputs.
        test_block: Side of the omitted squares, in pixels.
        train_noise: Largest side of the training noise's square, as a share of the image side.
        seed: Seed of the scenes and the omitted blocks.
        data_dir: Folder holding the data set's files.
    """

    compared_settings: ClassVar[tuple[float, ...]] = (0.25, 0.5, 0.7)

    def __init__(
        self,
        dataset: str = "fashion-mnist",
        num_train: int = 5000,
        num_val: int = 500,
        num_test: int = 1000,
        *,
        test_fraction: float = 0.5,
        test_block: int = 2,
        train_noise: float = 0.4,
        seed: int = 0,
        data_dir: str | None = None,
    ) -> None:
        self.dataset, self.data_dir = dataset, data_dir
        self.sizes = _sizes(num_train, num_val, num_test)
        if not 0.0 <= float(test_fraction) < 1.0:
            raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
        if int(test_block) < 1:
            raise ValueError(f"test_block must be >= 1 pixel, got {test_block}")
        self.test_fraction, self.test_block = float(test_fraction), int(test_block)
        self.train_noise = float(train_noise)
        self.seed = int(seed)

    def scenes(self) -> list[dict[str, Tensor]]:
        """The clean scenes of the three splits: ``{"image": (N, 1, H, W), "y": (N, 1, H, W)}``."""
        n_train, n_val, n_test = self.sizes
        train_items = _items(self.dataset, "train", n_train + n_val, self.data_dir)
        test_items = _items(self.dataset, "test", n_test, self.data_dir)
        items = (train_items[:n_train], train_items[n_train:], test_items)
        out = []
        for i, chunk in enumerate(items):
            scene = silhouette_scenes(chunk, seed=self.seed + i)
            out.append({"image": scene["x"], "y": scene["y"]})
        return out

    def held_out(
        self, scene: Mapping[str, Tensor], fraction: float, block: int, seed: int
    ) -> dict[str, Tensor]:
        """A held-out split with ``fraction`` of its ``block``-pixel squares omitted."""
        g = torch.Generator().manual_seed(seed)
        return {
            "x": omit_blocks(scene["image"], fraction=fraction, block=block, generator=g),
            "y": scene["y"],
        }

    def load(self) -> TaskData:
        train, val, test = self.scenes()
        observed = torch.ones_like(train["image"])
        return TaskData(
            # The training input starts fully observed; the batch transform omits a square.
            train={"x": torch.cat([train["image"], observed], dim=1), "y": train["y"]},
            val=self.held_out(val, self.test_fraction, self.test_block, self.seed + 101),
            test=self.held_out(test, self.test_fraction, self.test_block, self.seed + 102),
            info={
                "dataset": self.dataset,
                "test_fraction": self.test_fraction,
                "test_block": self.test_block,
            },
        )

    def batch_transform(self) -> BatchTransform | None:
        if self.train_noise <= 0:
            return None
        # Zeroing both channels of the square marks its pixels as unobserved.
        return OmissionNoise(self.train_noise, key="x", fill=0.0)
