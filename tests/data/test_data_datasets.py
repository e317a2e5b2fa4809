"""Dataset loaders: file search order, downloads, validation and the digits split."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from plausible.data import (
    FASHION_MNIST_CLASSES,
    DatasetNotFoundError,
    ImageDataset,
    load_dataset,
    load_digits,
    sources,
    write_idx,
)
from plausible.registry import DATASETS

SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")


def write_fake_split(folder: Path, split: str, num: int, *, seed: int = 0) -> np.ndarray:
    """Write random 28x28 images and labels 0..9 as IDX files; return the images."""
    prefix = "train" if split == "train" else "t10k"
    folder.mkdir(parents=True, exist_ok=True)
    images = np.random.default_rng(seed).integers(0, 256, (num, 28, 28), dtype=np.uint8)
    write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images, compress=True)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte", (np.arange(num) % 10).astype(np.uint8))
    return images


@pytest.fixture
def no_system_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Hide /usr/share/datasets/fashion-mnist so 'not found' paths can be tested anywhere."""
    source = dataclasses.replace(sources._SOURCES["fashion-mnist"], system_dir=tmp_path / "none")
    monkeypatch.setitem(sources._SOURCES, "fashion-mnist", source)


def test_registry_holds_the_three_loaders() -> None:
    assert {"digits", "fashion-mnist", "mnist"} <= set(DATASETS.names())
    assert DATASETS.get("digits") is load_digits


def test_fashion_mnist_from_data_dir(tmp_path: Path) -> None:
    images = write_fake_split(tmp_path / "fm", "test", 12)
    data = load_dataset("fashion-mnist", "test", data_dir=tmp_path / "fm")
    assert data.images.shape == (12, 1, 28, 28) and data.images.dtype == torch.float32
    torch.testing.assert_close(data.images[:, 0] * 255, torch.from_numpy(images).float())
    assert data.labels.tolist() == [i % 10 for i in range(12)]
    assert data.class_names == FASHION_MNIST_CLASSES and data.num_classes == 10
    assert data.name == "fashion-mnist/test" and len(data) == 12


@pytest.mark.parametrize("layout", ["subfolder", "root"], ids=str)
def test_fashion_mnist_from_plausible_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, layout: str
) -> None:
    folder = tmp_path / "fashion-mnist" if layout == "subfolder" else tmp_path
    write_fake_split(folder, "train", 7)
    monkeypatch.setenv("PLAUSIBLE_DATA", str(tmp_path))
    assert len(load_dataset("fashion-mnist", "train")) == 7


def test_data_dir_comes_before_plausible_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_fake_split(tmp_path / "env", "train", 5)
    write_fake_split(tmp_path / "arg", "train", 3)
    monkeypatch.setenv("PLAUSIBLE_DATA", str(tmp_path / "env"))
    assert len(load_dataset("mnist", "train", data_dir=tmp_path / "arg")) == 3


@pytest.mark.usefixtures("no_system_dir")
def test_not_found_lists_folders_and_the_three_ways() -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fashion-mnist", "train")
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "train-images-idx3-ubyte" in message and "PLAUSIBLE_OFFLINE" in message
    assert str(sources.cache_dir("fashion-mnist")) in message
    for way in ("--data-dir DIR", "PLAUSIBLE_DATA", "apt-get install dataset-fashion-mnist"):
        assert way in message


@pytest.mark.parametrize("how", ["argument", "environment"], ids=str)
@pytest.mark.parametrize("state", ["missing", "empty"], ids=str)
def test_a_named_folder_without_the_files_is_an_error_not_a_fallback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, how: str, state: str
) -> None:
    # The cache holds a complete copy: a silent fallback would find it.
    write_fake_split(sources.cache_dir("mnist"), "train", 4)
    assert len(load_dataset("mnist", "train")) == 4
    named = tmp_path / "named"
    if state == "empty":
        named.mkdir()
    if how == "environment":
        monkeypatch.setenv("PLAUSIBLE_DATA", str(named))
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("mnist", "train", data_dir=named if how == "argument" else None)
    message = str(info.value)
    assert str(named) in message
    assert ("does not exist" if state == "missing" else "does not hold them") in message
    searched = message.split("Searched:")[1].split("nothing else was searched")[0]
    assert str(sources.cache_dir("mnist")) not in searched
    assert ("--data-dir" if how == "argument" else "PLAUSIBLE_DATA") in message


def test_mnist_not_found_points_at_the_cache() -> None:
    with pytest.raises(DatasetNotFoundError, match="copy them into") as info:
        load_dataset("mnist", "test")
    assert "apt-get" not in str(info.value)


def _fake_server(monkeypatch: pytest.MonkeyPatch, payloads: dict[str, bytes]) -> list[str]:
    requested: list[str] = []

    def urlopen(url: str, timeout: float) -> io.BytesIO:
        requested.append(url)
        return io.BytesIO(payloads[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setenv("PLAUSIBLE_OFFLINE", "0")
    return requested


def _gz_payloads(tmp_path: Path) -> dict[str, bytes]:
    """The published .gz file names of a 4-image MNIST test split, mapped to their content."""
    write_fake_split(tmp_path / "src", "test", 4)
    payloads = {}
    for path in (tmp_path / "src").iterdir():
        content = path.read_bytes()
        if path.suffix == ".gz":
            payloads[path.name] = content
        else:
            payloads[f"{path.name}.gz"] = gzip.compress(content)
    return payloads


def test_download_verifies_checksum_and_fills_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    payloads = _gz_payloads(tmp_path)
    for name, content in payloads.items():
        monkeypatch.setitem(sources._SOURCES["mnist"].md5, name, hashlib.md5(content).hexdigest())
    requested = _fake_server(monkeypatch, payloads)
    assert len(load_dataset("mnist", "test")) == 4
    assert len(requested) == 2 and requested[0].startswith("https://ossci-datasets")
    cached = sorted(p.name for p in sources.cache_dir("mnist").iterdir())
    assert cached == sorted(payloads)  # no partial files left
    assert len(load_dataset("mnist", "test")) == 4 and len(requested) == 2  # served from cache


def test_checksum_mismatch_deletes_the_download(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_server(monkeypatch, _gz_payloads(tmp_path))
    with pytest.raises(DatasetNotFoundError, match=r"checksum mismatch.*deleted"):
        load_dataset("mnist", "test")
    assert list(sources.cache_dir("mnist").iterdir()) == []


@pytest.mark.usefixtures("no_system_dir")
def test_network_failure_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def urlopen(url: str, timeout: float) -> None:
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setenv("PLAUSIBLE_OFFLINE", "0")
    with pytest.raises(DatasetNotFoundError, match="no route to host") as info:
        load_dataset("fashion-mnist", "test")
    assert "--data-dir" in str(info.value)


def test_labels_out_of_range_name_the_file(tmp_path: Path) -> None:
    write_fake_split(tmp_path, "test", 3)
    labels = write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 10, 2], np.uint8))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 9\], found 10") as info:
        load_dataset("mnist", "test", data_dir=tmp_path)
    assert str(labels) in str(info.value)


@pytest.mark.parametrize("shape", [(3, 28, 27), (3, 1, 28, 28), (3, 784)], ids=str)
def test_wrong_image_shape_names_the_file(tmp_path: Path, shape: tuple[int, ...]) -> None:
    write_fake_split(tmp_path, "test", 3)
    images = write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros(shape, np.uint8))
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)") as info:
        load_dataset("mnist", "test", data_dir=tmp_path)
    assert str(images) in str(info.value)


def test_count_mismatch_names_both_files(tmp_path: Path) -> None:
    write_fake_split(tmp_path, "test", 3)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match=r"3 images but .*labels-idx1-ubyte holds 4 labels"):
        load_dataset("mnist", "test", data_dir=tmp_path)


def test_unknown_name_and_split() -> None:
    with pytest.raises(KeyError, match="digits, fashion-mnist, mnist"):
        load_dataset("cifar", "train")
    with pytest.raises(ValueError, match=r"unknown split 'valid'.*'train' or 'test'"):
        load_dataset("digits", "valid")  # type: ignore[arg-type]


def test_digits_split_is_fixed_and_disjoint() -> None:
    from sklearn.datasets import load_digits as sklearn_digits

    train, test = load_digits("train"), load_digits("test")
    assert (len(train), len(test)) == (1497, 300)
    assert train.images.shape == (1497, 1, 8, 8) and float(train.images.max()) == 1.0
    again = load_digits("test")
    assert torch.equal(again.images, test.images) and torch.equal(again.labels, test.labels)

    def rows(images: np.ndarray, labels: np.ndarray) -> Counter:
        return Counter(
            zip(map(bytes, images.reshape(len(images), -1)), labels.tolist(), strict=True)
        )

    full = sklearn_digits()
    split = rows(train.images.numpy() * 16, train.labels.numpy())
    split += rows(test.images.numpy() * 16, test.labels.numpy())
    assert split == rows(full.images.astype(np.float32), full.target)  # a partition


def _dataset(**changes: object) -> ImageDataset:
    fields: dict = dict(
        images=torch.rand(4, 1, 2, 2),
        labels=torch.tensor([0, 1, 2, 1]),
        class_names=("a", "b", "c"),
        name="toy",
    )
    return ImageDataset(**{**fields, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(images=torch.full((4, 1, 2, 2), float("nan"))), "'toy': 16 image values are NaN"),
        (dict(images=torch.tensor([float("inf")]).expand(4, 1, 2, 2)), "16 image values"),
        (dict(images=torch.rand(4, 1, 2, 2) * 2), r"in \[0, 1\], found"),
        (dict(images=torch.rand(4, 2, 2)), r"float32 tensor \(N, C, H, W\)"),
        (dict(images=torch.rand(4, 1, 2, 2).double()), "float64"),
        (dict(labels=torch.tensor([0, 1, 2])), "4 images and 3 labels"),
        (dict(labels=torch.tensor([0, 1, 3, 1])), r"in \[0, 2\] for 3 classes, found \[0, 3\]"),
        (dict(labels=torch.tensor([0, 1, 2, 1]).int()), "int64"),
    ],
    ids=str,
)
def test_image_dataset_validation(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _dataset(**changes)


@pytest.mark.slow
@pytest.mark.skipif(not SYSTEM_FASHION.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_test_split() -> None:
    data = load_dataset("fashion-mnist", "test")
    assert data.images.shape == (10_000, 1, 28, 28)
    assert torch.bincount(data.labels, minlength=10).tolist() == [1000] * 10
