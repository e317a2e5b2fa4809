"""Datasets, IDX files and fast tensor batching; importing this package registers the datasets."""

from plausible.data.batching import BatchTransform, TensorBatcher
from plausible.data.datasets import (
    DIGIT_CLASSES,
    FASHION_MNIST_CLASSES,
    ImageDataset,
    Split,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_mnist,
)
from plausible.data.dsprites import DSprites
from plausible.data.idx import IDXFormatError, read_idx, write_idx
from plausible.data.sources import DatasetNotFoundError, cache_dir, find_files, search_dirs
from plausible.data.transforms import Binarize, BinarizeMode, binarize, train_val_split

__all__ = [
    "DIGIT_CLASSES",
    "FASHION_MNIST_CLASSES",
    "BatchTransform",
    "Binarize",
    "BinarizeMode",
    "DSprites",
    "DatasetNotFoundError",
    "IDXFormatError",
    "ImageDataset",
    "Split",
    "TensorBatcher",
    "binarize",
    "cache_dir",
    "find_files",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "read_idx",
    "search_dirs",
    "train_val_split",
    "write_idx",
]
