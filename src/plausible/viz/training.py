"""Training figures: metric curves from ``metrics.jsonl`` rows and KL per latent dimension.

The curves draw one panel per quantity: a term that only repeats another (the ``elbo`` when it is
``-loss``) and a learning rate that never changed are left out, since a panel that says nothing
new only hides the ones that do.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from plausible.viz._common import ArrayLike, PathLike, new_figure, save_figure, to_numpy

__all__ = ["kl_per_dimension_bars", "training_curves"]

logger = logging.getLogger(__name__)

_AXIS_KEYS = frozenset({"step", "epoch", "epoch_float", "global_step", "iteration", "batch"})
#: Objective values in metrics.jsonl: per-example means in nats (see docs/training.md).
_NATS = frozenset(
    {
        "loss",
        "reconstruction",
        "kl",
        "elbo",
        "nll",
        "iwae",
        "cvae",
        "gsnn",
        "multiscale",
        "dirichlet_prior",
        "negative_elbo",
    }
)
_TIME_WORDS = ("time", "elapsed", "duration", "timestamp", "seconds", "per_sec", "per_second")
_TIME_SUFFIXES = ("_s", "_sec", "_ms")
_VALIDATION = ("val", "valid", "validation")
_SPLIT_STYLE: dict[str, dict[str, Any]] = {
    "train": {"color": "C0", "linewidth": 1.2, "alpha": 0.85, "zorder": 2},
    "val": {"color": "C1", "linewidth": 1.6, "marker": "o", "markersize": 3.5, "zorder": 3},
    "test": {"color": "C2", "linewidth": 1.6, "marker": "s", "markersize": 3.5, "zorder": 3},
}


def _is_time_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in _TIME_WORDS) or lowered.endswith(_TIME_SUFFIXES)


def _as_float(value: Any) -> float | None:
    """A real number as float (inf becomes NaN); ``None`` for anything else, bools included."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    value = float(value)
    return value if math.isfinite(value) else math.nan


def _split(record: Mapping[str, Any]) -> str:
    split = str(record.get("split", "train"))
    return "val" if split in _VALIDATION else split


def _values(records: Sequence[Mapping[str, Any]], key: str) -> list[tuple[int, float]]:
    """``(row index, finite value)`` of ``key`` over the rows."""
    out = []
    for i, record in enumerate(records):
        y = _as_float(record.get(key))
        if y is not None and math.isfinite(y):
            out.append((i, y))
    return out


def _repeats(records: Sequence[Mapping[str, Any]], key: str, other: str) -> bool:
    """Whether ``key`` is ``-other`` (or ``other``) in every row that has both."""
    a, b = dict(_values(records, key)), dict(_values(records, other))
    common = a.keys() & b.keys()
    if not common:
        return False
    return all(math.isclose(a[i], -b[i], rel_tol=1e-6, abs_tol=1e-9) for i in common) or all(
        math.isclose(a[i], b[i], rel_tol=1e-6, abs_tol=1e-9) for i in common
    )


def _default_keys(records: Sequence[Mapping[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}  # ordered set, first appearance first
    for record in records:
        for key, value in record.items():
            if key in _AXIS_KEYS or key == "split" or _is_time_key(key):
                continue
            if _as_float(value) is not None:
                keys.setdefault(key)
    metrics = [k for k in keys if not k.startswith("lr")]
    # A panel that repeats an earlier one (elbo = -loss when beta = 1) is left out.
    metrics = [
        k for i, k in enumerate(metrics) if not any(_repeats(records, k, o) for o in metrics[:i])
    ]
    # A learning rate is drawn only when it changed (a schedule); a flat line says nothing.
    rates = [k for k in keys if k.startswith("lr") and len({v for _, v in _values(records, k)}) > 1]
    return metrics + rates  # learning rates last


def _ylabel(key: str) -> str:
    if key.startswith("lr"):
        return "learning rate"
    return "nats per example" if key in _NATS else ""


def _x_value(record: Mapping[str, Any], axis: str, index: int) -> float | None:
    if axis == "epoch":
        for key in ("epoch_float", "epoch"):
            x = _as_float(record.get(key))
            if x is not None and not math.isnan(x):
                return x
        return None
    if axis == "step":
        x = _as_float(record.get("step"))
        return None if x is None or math.isnan(x) else x
    return float(index)


def _steps_per_epoch(records: Sequence[Mapping[str, Any]]) -> float | None:
    """Steps per epoch when every validation row sits at ``epoch * k`` steps for one ``k``.

    Validation rows are written at the end of an epoch, with the 1-based epoch number.
    """
    ratios = set()
    for record in records:
        if _split(record) != "val":
            continue
        step, epoch = _as_float(record.get("step")), _as_float(record.get("epoch"))
        if step is None or not epoch:
            return None
        ratios.add(step / epoch)
    if len(ratios) != 1:
        return None
    (k,) = ratios
    return k if k > 0 and math.isfinite(k) else None


def training_curves(
    records: Sequence[Mapping[str, Any]],
    path: PathLike,
    *,
    keys: Sequence[str] | None = None,
    title: str | None = "Training curves",
) -> Path:
    """Save one panel per metric with a line per split (train, validation, ...) over training.

    The x axis is the training step (batches) when every row has ``step``, with the epochs on a
    second axis above when the validation rows show a fixed number of steps per epoch; otherwise
    the epoch (``epoch_float`` where a row has it, else ``epoch``); when no row has either, the
    row's index within its split. Rows without the x value are left out. Missing keys are skipped,
    NaN and infinite values leave gaps. Splits ``val`` / ``valid`` / ``validation`` are drawn as
    one "val" line; a row without ``split`` counts as ``train``. Objective values (``loss``,
    ``elbo``, ``kl``, ...) are labelled in nats per example.

    Args:
        records: Rows of ``metrics.jsonl``, e.g. ``{"step": 100, "epoch": 1, "split": "train",
            "loss": 97.1, "kl": 20.3}`` and ``{"epoch": 1, "split": "val", "loss": 99.0}``.
        path: Where to write the PNG.
        keys: Metrics to draw, one panel each. Default: every numeric key except step / epoch
            and time-like keys (``time``, ``elapsed``, ``*_s``, ...) and those that repeat an
            earlier key (``elbo`` = ``-loss``), learning rates (``lr*``) last, on a log scale, and
            only when they change.
        title: Figure title.

    Returns:
        ``path`` as a ``Path``.
    """
    if not records:
        raise ValueError("training_curves got no records; is metrics.jsonl empty?")
    keys = list(keys) if keys is not None else _default_keys(records)
    if not keys:
        raise ValueError(
            f"no numeric metric keys to draw; the first record has keys {sorted(records[0])}"
        )
    has = {k for record in records for k in record}
    if all(_as_float(r.get("step")) is not None for r in records):
        axis = "step"
    else:
        axis = "epoch" if has & {"epoch", "epoch_float"} else "step" if "step" in has else "index"
    xlabel = {"epoch": "epoch", "step": "training step (batches)", "index": "record"}[axis]
    per_epoch = _steps_per_epoch(records) if axis == "step" else None

    splits: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        splits.setdefault(_split(record), []).append(record)

    num_cols = min(3, len(keys))
    num_rows = math.ceil(len(keys) / num_cols)
    with new_figure((4.2 * num_cols, 3.1 * num_rows + 0.4)) as fig:
        axes = fig.subplots(num_rows, num_cols, squeeze=False).ravel()
        for ax, key in zip(axes, keys, strict=False):
            drawn = 0
            all_positive = True
            for split, rows in splits.items():
                points = []
                for index, record in enumerate(rows):
                    y = _as_float(record.get(key))
                    x = _x_value(record, axis, index)
                    if y is not None and x is not None:
                        points.append((x, y))
                if not points:
                    continue
                points.sort(key=lambda p: p[0])
                xs, ys = np.asarray(points).T
                finite = ys[np.isfinite(ys)]
                if finite.size == 0:
                    continue
                all_positive &= bool(np.all(finite > 0))
                style = dict(
                    _SPLIT_STYLE.get(split, {"linewidth": 1.4, "marker": "^", "markersize": 3.5})
                )
                if style.get("marker") is None and len(points) <= 30:
                    style.update(marker="o", markersize=3)
                ax.plot(xs, ys, label=split, **style)
                drawn += 1
            if drawn == 0:
                logger.warning("training_curves: no finite values for %r", key)
                ax.text(
                    0.5,
                    0.5,
                    "no finite values",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    color="0.5",
                )
            elif key.startswith("lr") and all_positive:
                ax.set_yscale("log")
            if drawn > 1 or (drawn == 1 and len(splits) > 1):
                ax.legend(frameon=False)
            ax.set_title(key)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(_ylabel(key))
            if per_epoch:
                top = ax.secondary_xaxis(
                    "top", functions=(lambda s, k=per_epoch: s / k, lambda e, k=per_epoch: e * k)
                )
                top.set_xlabel("epoch", fontsize=8)
                top.xaxis.set_major_locator(MaxNLocator(integer=True))
                top.tick_params(labelsize=7)
            ax.grid(True, alpha=0.3)
        for ax in axes[len(keys) :]:
            ax.remove()
        if title:
            fig.suptitle(title)
        return save_figure(fig, path)


def kl_per_dimension_bars(
    kl_per_dim: ArrayLike,
    path: PathLike,
    *,
    threshold: float | None = None,
    title: str | None = "KL divergence per latent dimension",
) -> Path:
    """Save a bar chart of the mean KL(q(z_d|x) || p(z_d)) per latent dimension, sorted descending.

    Args:
        kl_per_dim: ``(D,)`` mean KL per dimension in nats, or ``(N, D)`` per example (averaged).
        path: Where to write the PNG.
        threshold: A KL level in nats (e.g. 0.01); when given it is drawn as a dashed line,
            bars below it are grey and the title counts the dimensions above it. That count is
            not the active units (a variance rule, ``plausible.metrics.latent.active_units``),
            so the figure does not call it so.
        title: Figure title.

    Returns:
        ``path`` as a ``Path``.
    """
    kl = to_numpy(kl_per_dim).astype(np.float64)
    if kl.ndim == 2:
        kl = kl.mean(axis=0)
    if kl.ndim != 1 or kl.size == 0:
        raise ValueError(f"kl_per_dim must be (D,) or (N, D) with D >= 1, got shape {kl.shape}")
    order = np.argsort(-np.nan_to_num(kl, nan=-np.inf), kind="stable")
    values = kl[order]
    dim = len(values)
    if threshold is not None:
        colors = ["C0" if v >= threshold else "0.7" for v in values]
    else:
        colors = ["C0"] * dim
    with new_figure((min(11.0, max(4.5, 0.28 * dim + 1.5)), 3.6)) as fig:
        ax = fig.add_subplot()
        ax.bar(np.arange(dim), values, color=colors, width=0.8)
        if dim <= 40:
            ax.set_xticks(np.arange(dim), [f"z{d}" for d in order], rotation=90 if dim > 12 else 0)
            ax.set_xlabel("latent dimension (sorted by KL)")
        else:
            ax.set_xlabel(f"latent dimensions sorted by KL ({dim} in all)")
        ax.set_xlim(-0.6, dim - 0.4)
        ax.set_ylabel("mean KL (nats)")
        heading = title or ""
        if threshold is not None:
            ax.axhline(
                threshold,
                color="C3",
                linestyle="--",
                linewidth=1.2,
                label=f"{threshold:g} nats",
            )
            ax.legend(frameon=False)
            above = int(np.sum(values >= threshold))
            count = f"{above}/{dim} dims with KL ≥ {threshold:g} nats"
            heading = f"{heading} ({count})" if heading else count
        ax.grid(True, axis="y", alpha=0.3)
        if heading:
            ax.set_title(heading)
        return save_figure(fig, path)
