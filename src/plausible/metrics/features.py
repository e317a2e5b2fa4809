"""The feature space of the sample-quality scores: a small classifier trained on the task's data.

There are no downloadable Inception weights here, so the features are the penultimate layer of a
:class:`FeatureClassifier` trained (and cached) per data set; see
:mod:`plausible.metrics.sample_quality`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from plausible.checkpoint import CheckpointError, load_weights, save_weights
from plausible.io import atomic_write_json
from plausible.nn import MLP, ConvEncoder

__all__ = [
    "FeatureClassifier",
    "extract_features",
    "load_or_train_feature_classifier",
    "train_feature_classifier",
]

log = logging.getLogger(__name__)


class FeatureClassifier(nn.Module):
    """A small classifier whose penultimate layer is the feature space of sample-quality scores.

    Convolutions for ``(C, H, W)`` inputs (``plausible.nn.ConvEncoder``), an MLP otherwise, then a
    ReLU feature layer of ``feature_dim`` units and one linear head per label column (e.g. the
    five dSprites factors, or one digit class).

    Args:
        x_shape: Shape of one input.
        num_classes: Number of classes of each label column.
        feature_dim: Width of the feature layer.
        channels: Convolution channels (image inputs).
        hidden_dims: MLP widths (vector inputs).
    """

    def __init__(
        self,
        x_shape: Sequence[int],
        num_classes: Sequence[int],
        *,
        feature_dim: int = 128,
        channels: Sequence[int] = (32, 64, 64),
        hidden_dims: Sequence[int] = (256,),
    ) -> None:
        super().__init__()
        self.x_shape = tuple(int(s) for s in x_shape)
        self.num_classes = tuple(int(k) for k in num_classes)
        if not self.num_classes or min(self.num_classes) < 2:
            raise ValueError(f"need at least one label column with >= 2 classes, got {num_classes}")
        trunk: nn.Module
        if len(self.x_shape) == 3:
            trunk = ConvEncoder(self.x_shape, feature_dim, channels)
        else:
            trunk = MLP(math.prod(self.x_shape), feature_dim, hidden_dims)
        self.trunk = nn.Sequential(trunk, nn.ReLU())
        self.heads = nn.ModuleList(nn.Linear(feature_dim, k) for k in self.num_classes)

    def features(self, x: Tensor) -> Tensor:
        """``(B, feature_dim)`` features of ``(B, *x_shape)`` inputs."""
        return self.trunk(x.reshape(len(x), *self.x_shape))

    def forward(self, x: Tensor) -> list[Tensor]:
        """One ``(B, K_j)`` logit tensor per label column."""
        h = self.features(x)
        return [head(h) for head in self.heads]


def _labels_2d(labels: Tensor) -> Tensor:
    labels = labels.long()
    return labels[:, None] if labels.dim() == 1 else labels


@torch.no_grad()
def _accuracy(
    model: FeatureClassifier, x: Tensor, labels: Tensor, batch_size: int = 512
) -> list[float]:
    correct = torch.zeros(labels.shape[1])
    for i in range(0, len(x), batch_size):
        logits = model(x[i : i + batch_size])
        for j, lg in enumerate(logits):
            correct[j] += (lg.argmax(1) == labels[i : i + batch_size, j]).sum()
    return (correct / len(x)).tolist()


def train_feature_classifier(
    x: Tensor,
    labels: Tensor,
    *,
    num_classes: Sequence[int] | None = None,
    feature_dim: int = 128,
    channels: Sequence[int] = (32, 64, 64),
    epochs: int = 5,
    batch_size: int = 128,
    lr: float = 1e-3,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> tuple[FeatureClassifier, dict[str, Any]]:
    """Train a :class:`FeatureClassifier` on labelled examples (summed cross-entropy over heads).

    Args:
        x: ``(N, *x_shape)`` examples (CPU).
        labels: ``(N,)`` or ``(N, J)`` integer labels.
        num_classes: Classes per label column; default ``max + 1`` of each column.
        feature_dim: Width of the feature layer.
        channels: Convolution channels for image inputs.
        epochs: Training passes.
        batch_size: Examples per step.
        lr: Adam learning rate.
        val_fraction: Share held out to report accuracy.
        seed: Seed of the split, initialisation and batches.

    Returns:
        The classifier (eval mode) and ``{"val_accuracy": [...], "num_train", "num_val", ...}``.
    """
    labels = _labels_2d(labels)
    if len(x) != len(labels):
        raise ValueError(f"x has {len(x)} rows but labels {len(labels)}")
    classes = (
        tuple(num_classes)
        if num_classes is not None
        else tuple(int(c) + 1 for c in labels.max(0).values)
    )
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(x), generator=gen)
    num_val = max(1, int(len(x) * val_fraction))
    val, train = order[:num_val], order[num_val:]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FeatureClassifier(x.shape[1:], classes, feature_dim=feature_dim, channels=channels)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for epoch in range(epochs):
        perm = train[torch.randperm(len(train), generator=gen)]
        for i in range(0, len(perm), batch_size):
            rows = perm[i : i + batch_size]
            logits = model(x[rows].float())
            losses = [
                nn.functional.cross_entropy(lg, labels[rows, j]) for j, lg in enumerate(logits)
            ]
            loss = torch.stack(losses).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        log.debug("feature classifier epoch %d: loss %.4f", epoch + 1, float(loss.detach()))
    model.eval()
    val_accuracy = _accuracy(model, x[val].float(), labels[val])
    info = {
        "val_accuracy": [round(a, 4) for a in val_accuracy],
        "num_train": len(train),
        "num_val": num_val,
        "epochs": epochs,
        "num_classes": list(classes),
        "feature_dim": feature_dim,
        "channels": list(channels),
    }
    log.info("feature classifier held-out accuracy per label column: %s", info["val_accuracy"])
    return model, info


def load_or_train_feature_classifier(
    x: Tensor,
    labels: Tensor,
    *,
    cache: Path | None,
    **kwargs: Any,
) -> tuple[FeatureClassifier, dict[str, Any]]:
    """:func:`train_feature_classifier`, cached under a hash of the data and the settings.

    Every model evaluated on the same task then shares one feature space (the reason for the
    cache), and later evaluations skip the training.

    Args:
        x: ``(N, *x_shape)`` training examples.
        labels: ``(N,)`` or ``(N, J)`` labels.
        cache: Folder of cached classifiers; ``None`` always trains.
        **kwargs: Passed to :func:`train_feature_classifier`.
    """
    digest = hashlib.sha256()
    for t in (x.float().contiguous(), _labels_2d(labels).contiguous()):
        digest.update(str((tuple(t.shape), str(t.dtype))).encode())
        digest.update(t.cpu().numpy().tobytes())
    digest.update(
        json.dumps(
            {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(kwargs.items())},
            sort_keys=True,
        ).encode()
    )
    key = digest.hexdigest()[:20]
    if cache is not None:
        weights, meta = cache / f"{key}.safetensors", cache / f"{key}.json"
        if weights.exists() and meta.exists():
            info = json.loads(meta.read_text())
            model = FeatureClassifier(
                x.shape[1:],
                info["num_classes"],
                feature_dim=info["feature_dim"],
                channels=info["channels"],
            )
            try:
                load_weights(weights, model)
                log.info("feature classifier loaded from the cache %s", weights)
                return model.eval(), {**info, "cached": True}
            except CheckpointError as err:
                log.warning("ignoring a broken cached feature classifier: %s", err)
    model, info = train_feature_classifier(x, labels, **kwargs)
    if cache is not None:
        save_weights(cache / f"{key}.safetensors", model)
        atomic_write_json(cache / f"{key}.json", info)
    return model, {**info, "cached": False}


@torch.no_grad()
def extract_features(model: FeatureClassifier, x: Tensor, *, batch_size: int = 512) -> Tensor:
    """``(N, feature_dim)`` float64 features of ``(N, *x_shape)`` inputs."""
    model.eval()
    return torch.cat(
        [
            model.features(x[i : i + batch_size].float()).double()
            for i in range(0, len(x), batch_size)
        ]
    )
