"""Image datasets as validated tensors, registered in ``DATASETS``: digits, Fashion-MNIST, MNIST."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor

from plausible.data.idx import read_idx
from plausible.data.sources import find_files
from plausible.registry import DATASETS

__all__ = [
    "DIGIT_CLASSES",
    "FASHION_MNIST_CLASSES",
    "ImageDataset",
    "Split",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
]

logger = logging.getLogger(__name__)

Split = Literal["train", "test"]

DIGIT_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
IDX_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_DIGITS_NUM_TEST = 300


@dataclass(frozen=True)
class ImageDataset:
    """Labelled images held as two tensors.

    Args:
        images: ``(N, C, H, W)`` float32, values in [0, 1].
        labels: ``(N,)`` int64, values in ``[0, len(class_names))``.
        class_names: Name of each class, indexed by label.
        name: Dataset name used in messages, e.g. ``"fashion-mnist/train"``.
    """

    images: Tensor
    labels: Tensor
    class_names: tuple[str, ...]
    name: str

    def __post_init__(self) -> None:
        x, y, where = self.images, self.labels, f"dataset {self.name!r}"
        if x.dtype != torch.float32 or x.dim() != 4:
            raise ValueError(
                f"{where}: images must be a float32 tensor (N, C, H, W), "
                f"got {x.dtype} of shape {tuple(x.shape)}"
            )
        if y.dtype != torch.int64 or y.dim() != 1:
            raise ValueError(
                f"{where}: labels must be an int64 tensor (N,), "
                f"got {y.dtype} of shape {tuple(y.shape)}"
            )
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(
                f"{where}: needs as many labels as images, at least one, got {len(x)} images "
                f"and {len(y)} labels"
            )
        num_bad = int((~torch.isfinite(x)).sum())
        if num_bad:
            raise ValueError(
                f"{where}: {num_bad} image values are NaN or infinite; fix or drop those images"
            )
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"{where}: image values must lie in [0, 1], found [{lo:g}, {hi:g}]; "
                "rescale them (e.g. divide 8-bit images by 255)"
            )
        num_classes = len(self.class_names)
        if int(y.min()) < 0 or int(y.max()) >= num_classes:
            raise ValueError(
                f"{where}: labels must be in [0, {num_classes - 1}] for {num_classes} classes, "
                f"found [{int(y.min())}, {int(y.max())}]"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        c, h, w = self.images.shape[1:]
        return (c, h, w)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)


def _check_split(name: str, split: str) -> None:
    if split not in get_args(Split):
        raise ValueError(f"unknown split {split!r} for dataset {name!r}; choose 'train' or 'test'")


@DATASETS.register("digits")
def load_digits(split: Split, *, data_dir: str | Path | None = None) -> ImageDataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images, 17 grey levels), shape (N, 1, 8, 8).

    scikit-learn ships no test split, so a fixed permutation (seed 0) holds out 300 images:
    1,497 train / 300 test, the same on every call. ``data_dir`` is ignored (the data is bundled).
    """
    from sklearn.datasets import load_digits as sklearn_digits  # slow import, only when used

    _check_split("digits", split)
    bunch = sklearn_digits()
    perm = torch.randperm(len(bunch.target), generator=torch.Generator().manual_seed(0))
    chosen = perm[_DIGITS_NUM_TEST:] if split == "train" else perm[:_DIGITS_NUM_TEST]
    idx = chosen.sort().values.numpy()
    images = torch.from_numpy(bunch.images[idx].astype(np.float32) / 16.0).unsqueeze(1)
    labels = torch.from_numpy(bunch.target[idx].astype(np.int64))
    return ImageDataset(images, labels, DIGIT_CLASSES, f"digits/{split}")


def _load_idx_pair(
    name: str, split: Split, data_dir: str | Path | None, class_names: tuple[str, ...]
) -> ImageDataset:
    """Load a 28x28 MNIST-style split from its images and labels IDX files."""
    _check_split(name, split)
    images_path, labels_path = find_files(name, IDX_FILES[split], data_dir=data_dir)
    images, labels = read_idx(images_path), read_idx(labels_path)
    fix = "replace it with the original file"
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (N, 28, 28), "
            f"got {images.dtype} of shape {images.shape}; {fix}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{labels_path}: expected uint8 labels of shape (N,), "
            f"got {labels.dtype} of shape {labels.shape}; {fix}"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} "
            "labels; the two files must come from the same split of the same dataset"
        )
    if len(labels) and labels.max() >= len(class_names):
        raise ValueError(
            f"{labels_path}: labels must be in [0, {len(class_names) - 1}], found "
            f"{int(labels.max())}; {fix}"
        )
    logger.info("loaded %s/%s: %d images from %s", name, split, len(labels), images_path.parent)
    x = torch.from_numpy(images).unsqueeze(1).float().div_(255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    return ImageDataset(x, y, class_names, f"{name}/{split}")


@DATASETS.register("fashion-mnist")
def load_fashion_mnist(split: Split, *, data_dir: str | Path | None = None) -> ImageDataset:
    """Fashion-MNIST (Xiao et al., 2017): 60,000 / 10,000 28x28 clothing images, (N, 1, 28, 28).

    Files are searched as described in :func:`plausible.data.sources.search_dirs` and
    downloaded into the cache when missing (unless ``PLAUSIBLE_OFFLINE`` is set).
    """
    return _load_idx_pair("fashion-mnist", split, data_dir, FASHION_MNIST_CLASSES)


@DATASETS.register("mnist")
def load_mnist(split: Split, *, data_dir: str | Path | None = None) -> ImageDataset:
    """MNIST (LeCun et al., 1998): 60,000 / 10,000 28x28 handwritten digits, (N, 1, 28, 28).

    Files are searched and downloaded like :func:`load_fashion_mnist`'s.
    """
    return _load_idx_pair("mnist", split, data_dir, DIGIT_CLASSES)


def load_dataset(name: str, split: Split, *, data_dir: str | Path | None = None) -> ImageDataset:
    """Load a registered dataset by name (``DATASETS.names()`` lists them).

    Args:
        name: Registered dataset name, e.g. ``"fashion-mnist"``.
        split: ``"train"`` or ``"test"``.
        data_dir: Folder to search first for the dataset's files.

    Raises:
        KeyError: For an unknown name; the message lists the registered ones.
        ValueError: For an unknown split.
        DatasetNotFoundError: If the files cannot be found or downloaded.
    """
    loader = DATASETS.get(name)
    _check_split(name, split)
    return loader(split, data_dir=data_dir)
