"""Pictures of a latent-variable model's code: traversals, interpolations, 2-D manifold, scatter."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.lines import Line2D
from torch import Tensor, nn
from torch.distributions import Normal

from plausible.models.protocols import LatentVariableModel
from plausible.viz._common import (
    ArrayLike,
    PathLike,
    as_images,
    assemble,
    infer_image_shape,
    new_figure,
    normalise_image_shape,
    save_figure,
    show_image,
    to_numpy,
)
from plausible.viz.images import _grid_of, _render_rows, _upscaled

__all__ = [
    "LatentVariableModel",
    "interpolation",
    "latent_manifold",
    "latent_scatter",
    "latent_traversal",
]

logger = logging.getLogger(__name__)

_MAX_TRAVERSAL_ROWS = 10
_MAX_CATEGORIES = 20  # more distinct labels than this are drawn with a continuous colormap


@contextlib.contextmanager
def _evaluating(model: LatentVariableModel) -> Iterator[tuple[torch.device, torch.dtype]]:
    """Eval mode and no_grad inside; every submodule gets its own previous mode back on exit."""
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"these figures draw a torch.nn.Module that is a LatentVariableModel; got "
            f"{type(model).__name__}"
        )
    modes = [(module, module.training) for module in model.modules()]
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    model.eval()
    try:
        with torch.no_grad():
            yield device, dtype
    finally:
        for module, mode in modes:
            module.training = mode


def _with_batch(x: Tensor, model: LatentVariableModel) -> Tensor:
    """Add a batch axis to a single observation of shape ``x_shape``."""
    return x.unsqueeze(0) if tuple(x.shape) == tuple(model.x_shape) else x


def _image_shape(
    model: LatentVariableModel, image_shape: Sequence[int] | None
) -> tuple[int, int, int]:
    if image_shape is not None:
        return normalise_image_shape(image_shape)
    shape = infer_image_shape(model.x_shape)
    if shape is None:
        raise ValueError(
            f"cannot show observations of shape x_shape={tuple(model.x_shape)} as images; "
            "pass image_shape=(C, H, W)"
        )
    return shape


def _posterior_means(
    model: LatentVariableModel,
    x: ArrayLike,
    device: torch.device,
    dtype: torch.dtype,
    batch_size: int,
) -> Tensor:
    """``(N, latent_dim)`` means of q(z|x), encoded in batches, on ``device``."""
    x_t = x if isinstance(x, Tensor) else torch.as_tensor(to_numpy(x))
    x_t = _with_batch(x_t, model)
    chunks = [
        model.encode(x_t[i : i + batch_size].to(device, dtype)).mean
        for i in range(0, len(x_t), batch_size)
    ]
    if not chunks:
        raise ValueError("got an empty batch of observations")
    return torch.cat(chunks)


def _decoded_images(
    model: LatentVariableModel, z: Tensor, image_shape: tuple[int, int, int]
) -> np.ndarray:
    """Mean of p(x|z) for ``z`` of shape ``(..., latent_dim)`` as ``(M, H, W, C)`` images."""
    x_mean = model.decode(z).mean
    return as_images(x_mean.reshape(-1, *x_mean.shape[z.dim() - 1 :]), image_shape)


def _inactive(activity: np.ndarray | None, threshold: float | None, dim: int) -> bool:
    return activity is not None and threshold is not None and activity[dim] <= threshold


def latent_traversal(
    model: LatentVariableModel,
    path: PathLike,
    *,
    x: ArrayLike | None = None,
    activity: ArrayLike | None = None,
    threshold: float | None = None,
    dims: Sequence[int] | None = None,
    num_steps: int = 9,
    span: float = 3.0,
    title: str | None = "Latent traversals",
    image_shape: Sequence[int] | None = None,
) -> Path:
    """Save one row per latent dimension, walking it while the other coordinates stay fixed.

    Without ``x`` the base code is ``z = 0`` and column ``j`` sets ``z_d`` to the ``j``-th of
    ``num_steps`` values evenly spaced in ``[-span, span]``. With ``x`` the base code is the
    posterior mean of ``x[0]`` and the same offsets are added to it.

    Args:
        model: A latent-variable model such as ``plausible.models.VAE``.
        path: Where to write the PNG.
        x: Optional observations ``(B, *x_shape)``; the first sets the base code.
        activity: Optional ``(latent_dim,)`` activity of each latent dimension, e.g. the
            variances of its posterior mean over the data that
            :func:`plausible.metrics.latent.active_units` returns. The default ``dims`` are then
            the most active ones.
        threshold: With ``activity``, rows of dimensions whose activity is at most this are
            labelled "inactive" (pass :data:`plausible.metrics.latent.ACTIVE_UNIT_THRESHOLD`);
            ``None`` labels none.
        dims: Latent dimensions to walk, one row each. Default: the ``min(latent_dim, 10)``
            dimensions of largest ``activity``, or the first ones without it.
        num_steps: Columns per row.
        span: Largest offset from the base code, in prior standard deviations.
        title: Figure title.
        image_shape: ``(C, H, W)`` for models with flat ``x_shape`` that is not a square image.

    Returns:
        ``path`` as a ``Path``.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    shape = _image_shape(model, image_shape)
    latent_dim = int(model.latent_dim)
    spread = None if activity is None else to_numpy(activity).astype(np.float64).reshape(-1)
    if spread is not None and len(spread) != latent_dim:
        raise ValueError(
            f"activity must hold one value per latent dimension ({latent_dim}), got {len(spread)}"
        )
    order = np.arange(latent_dim) if spread is None else np.argsort(-spread, kind="stable")
    with _evaluating(model) as (device, dtype):
        if x is None:
            base = torch.zeros(latent_dim, device=device, dtype=dtype)
        else:
            base = _posterior_means(model, x, device, dtype, batch_size=1024)[0]
        if dims is None:
            dims = [int(d) for d in order[:_MAX_TRAVERSAL_ROWS]]
        dims = [int(d) for d in dims]
        if not dims or any(not 0 <= d < latent_dim for d in dims):
            raise ValueError(f"dims must be non-empty and in [0, {latent_dim}); got {dims}")
        offsets = torch.linspace(-span, span, num_steps, device=device, dtype=dtype)
        z = base.expand(len(dims), num_steps, latent_dim).clone()
        for row, d in enumerate(dims):
            z[row, :, d] += offsets
        images = _decoded_images(model, z, shape)
    cells = _grid_of(images, num_steps)
    column_labels = [f"{v:+.3g}" for v in to_numpy(offsets).tolist()]
    xlabel = "offset from the posterior mean of x[0]" if x is not None else "value of $z_d$"
    return _render_rows(
        cells,
        path,
        row_gaps=[1] * (len(dims) - 1),
        col_gaps=[1] * (num_steps - 1),
        title=title,
        row_labels=[
            f"z{d}" + (" (inactive)" if _inactive(spread, threshold, d) else "") for d in dims
        ],
        column_labels=column_labels,
        xlabel=xlabel,
    )


def interpolation(
    model: LatentVariableModel,
    x_a: ArrayLike,
    x_b: ArrayLike,
    path: PathLike,
    *,
    num_steps: int = 10,
    title: str | None = "Latent interpolations",
    image_shape: Sequence[int] | None = None,
) -> Path:
    """Save decoded images along straight lines between posterior means, one row per pair.

    Row ``k`` shows ``x_a[k]``, the means of p(x | z_t) for ``z_t = (1 - t) E[z|x_a[k]] +
    t E[z|x_b[k]]`` at ``num_steps`` evenly spaced ``t`` in ``[0, 1]``, then ``x_b[k]``.

    Args:
        model: A latent-variable model such as ``plausible.models.VAE``.
        x_a: Start observations ``(K, *x_shape)`` (or a single one, ``x_shape``).
        x_b: End observations, same shape as ``x_a``.
        path: Where to write the PNG.
        num_steps: Decoded images per row, both ends included.
        title: Figure title.
        image_shape: ``(C, H, W)`` for models with flat ``x_shape`` that is not a square image.

    Returns:
        ``path`` as a ``Path``.
    """
    if num_steps < 2:
        raise ValueError(f"num_steps must be >= 2 (both ends), got {num_steps}")
    shape = _image_shape(model, image_shape)
    with _evaluating(model) as (device, dtype):
        z_a = _posterior_means(model, x_a, device, dtype, batch_size=1024)
        z_b = _posterior_means(model, x_b, device, dtype, batch_size=1024)
        if z_a.shape != z_b.shape:
            raise ValueError(
                "x_a and x_b must hold the same number of observations; "
                f"got {len(z_a)} and {len(z_b)}"
            )
        t = torch.linspace(0.0, 1.0, num_steps, device=device, dtype=dtype)
        z = z_a[:, None] + t[None, :, None] * (z_b - z_a)[:, None]
        decoded = _decoded_images(model, z, shape)
    ends_a = as_images(
        _with_batch(torch.as_tensor(to_numpy(x_a)), model).reshape(len(z_a), -1), shape
    )
    ends_b = as_images(
        _with_batch(torch.as_tensor(to_numpy(x_b)), model).reshape(len(z_b), -1), shape
    )
    cells: list[list[np.ndarray | None]] = [
        [ends_a[k], *decoded[k * num_steps : (k + 1) * num_steps], ends_b[k]]
        for k in range(len(z_a))
    ]
    column_labels = ["$x_a$", *(f"t={v:.2g}" for v in to_numpy(t).tolist()), "$x_b$"]
    col_gaps = [4] + [1] * (num_steps - 1) + [4]  # wider gaps set the inputs apart
    return _render_rows(
        cells,
        path,
        row_gaps=[1] * (len(cells) - 1),
        col_gaps=col_gaps,
        title=title,
        column_labels=column_labels,
    )


def latent_manifold(
    model: LatentVariableModel,
    path: PathLike,
    *,
    num_steps: int = 20,
    title: str | None = "Learned 2-D latent manifold",
    image_shape: Sequence[int] | None = None,
) -> Path:
    """Save the decoded 2-D latent manifold, as in Kingma & Welling (2014), figure 4.

    The grid's coordinates are ``Phi^-1(q)`` for ``num_steps`` quantiles ``q`` evenly spaced in
    ``[0.05, 0.95]`` (``Phi`` the standard-normal CDF), so each cell covers equal prior mass;
    ``z_1`` grows to the right and ``z_2`` upwards.

    Args:
        model: A latent-variable model with ``latent_dim == 2``.
        path: Where to write the PNG.
        num_steps: Grid cells per side.
        title: Figure title.
        image_shape: ``(C, H, W)`` for models with flat ``x_shape`` that is not a square image.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        ValueError: If ``model.latent_dim != 2``.

    References:
        Kingma, D. P. and Welling, M. "Auto-Encoding Variational Bayes." ICLR 2014.
    """
    if int(model.latent_dim) != 2:
        raise ValueError(
            f"latent_manifold needs latent_dim == 2, got {model.latent_dim}; use latent_traversal "
            "or latent_scatter for other sizes"
        )
    if num_steps < 2:
        raise ValueError(f"num_steps must be >= 2, got {num_steps}")
    shape = _image_shape(model, image_shape)
    with _evaluating(model) as (device, dtype):
        quantiles = torch.linspace(0.05, 0.95, num_steps, device=device, dtype=dtype)
        values = Normal(torch.zeros((), device=device, dtype=dtype), 1.0).icdf(quantiles)
        z1 = values[None, :].expand(num_steps, num_steps)  # columns: z1 increasing to the right
        z2 = values.flip(0)[:, None].expand(num_steps, num_steps)  # rows: z2 increasing upwards
        images = _decoded_images(model, torch.stack([z1, z2], dim=-1), shape)
    cells, factor = _upscaled(_grid_of(images, num_steps))
    image = assemble(cells, row_gaps=[0] * (num_steps - 1), col_gaps=[0] * (num_steps - 1))
    h, w = shape[1] * factor, shape[2] * factor
    first, last = to_numpy(values[[0, -1]]).tolist()
    tick_labels = [f"{first:.2f}", "0", f"{last:.2f}"]  # the quantiles are symmetric about 0.5
    side = min(7.0, max(3.5, 0.3 * num_steps))
    with new_figure((side + 0.6, side + 0.7)) as fig:
        ax = fig.add_subplot()
        show_image(ax, image)
        ax.set_xticks(
            [(w - 1) / 2, num_steps * w / 2 - 0.5, image.shape[1] - (w + 1) / 2], tick_labels
        )
        ax.set_yticks(
            [image.shape[0] - (h + 1) / 2, num_steps * h / 2 - 0.5, (h - 1) / 2], tick_labels
        )
        ax.tick_params(length=3)
        ax.set_xlabel("$z_1$ (prior quantiles 5% to 95%)")
        ax.set_ylabel("$z_2$ (prior quantiles 5% to 95%)")
        if title:
            ax.set_title(title)
        return save_figure(fig, path)


def _class_name(label: Any, class_names: Sequence[str] | Mapping[Any, str] | None) -> str:
    if class_names is None:
        return str(label)
    if isinstance(class_names, Mapping):
        return str(class_names.get(label, label))
    index = int(label)
    return str(class_names[index]) if 0 <= index < len(class_names) else str(label)


def latent_scatter(
    model: LatentVariableModel,
    x: ArrayLike,
    labels: ArrayLike,
    path: PathLike,
    *,
    class_names: Sequence[str] | Mapping[Any, str] | None = None,
    batch_size: int = 1024,
    title: str | None = "Posterior means",
) -> Path:
    """Save a scatter plot of posterior means coloured by label.

    ``latent_dim == 2`` is drawn as it is; larger codes are projected on their first two principal
    components (PCA of the posterior means, by SVD); ``latent_dim == 1`` is drawn as one strip per
    class. Up to 20 distinct labels get a categorical palette and a legend, more (or non-integer
    labels) a continuous colormap and a colour bar.

    Args:
        model: A latent-variable model such as ``plausible.models.VAE``.
        x: Observations ``(N, *x_shape)``.
        labels: ``(N,)`` labels (class indices or values).
        path: Where to write the PNG.
        class_names: Names by class index (a sequence) or by label (a mapping) for the legend.
        batch_size: Observations encoded at a time.
        title: Figure title.

    Returns:
        ``path`` as a ``Path``.
    """
    with _evaluating(model) as (device, dtype):
        means = to_numpy(_posterior_means(model, x, device, dtype, batch_size)).astype(np.float64)
    y = to_numpy(labels).reshape(-1)
    if len(y) != len(means):
        raise ValueError(f"got {len(means)} observations but {len(y)} labels")
    latent_dim = means.shape[1]
    if latent_dim == 2:
        points, axis_labels = means, ("$z_1$ (posterior mean)", "$z_2$ (posterior mean)")
    elif latent_dim > 2:
        centred = means - means.mean(axis=0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        explained = s**2 / max(float(np.sum(s**2)), np.finfo(float).tiny)
        points = centred @ vt[:2].T
        axis_labels = (
            f"PC1 of posterior means ({100 * explained[0]:.0f}% of variance)",
            f"PC2 of posterior means ({100 * explained[1]:.0f}% of variance)",
        )
    else:
        points, axis_labels = np.concatenate([means, np.zeros_like(means)], axis=1), ("$z_1$", "")

    uniques = np.unique(y)
    integral = np.issubdtype(y.dtype, np.integer) or np.all(np.mod(y.astype(float), 1) == 0)
    categorical = len(uniques) <= _MAX_CATEGORIES and bool(integral)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(points))  # random draw order so no class hides the others
    size = float(np.clip(20000 / max(len(points), 1), 2.0, 25.0))
    if latent_dim == 1:
        codes = np.searchsorted(uniques, y) if categorical else y.astype(float)
        points[:, 1] = codes + rng.uniform(-0.3, 0.3, len(points))
    with new_figure((6.8 if categorical else 6.2, 5.2)) as fig:
        ax = fig.add_subplot()
        if categorical:
            cmap = colormaps["tab10" if len(uniques) <= 10 else "tab20"]
            index = np.searchsorted(uniques, y)
            colors = np.asarray([cmap(i) for i in range(len(uniques))])
            ax.scatter(
                points[order, 0],
                points[order, 1],
                c=colors[index[order]],
                s=size,
                alpha=0.7,
                linewidths=0,
            )
            handles = [
                Line2D(
                    [],
                    [],
                    marker="o",
                    linestyle="",
                    color=colors[i],
                    markersize=6,
                    label=_class_name(u.item(), class_names),
                )
                for i, u in enumerate(uniques)
            ]
            ax.legend(
                handles=handles,
                title="label",
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
                frameon=False,
            )
            if latent_dim == 1:
                ax.set_yticks(range(len(uniques)), [str(h.get_label()) for h in handles])
        else:
            artist = ax.scatter(
                points[order, 0],
                points[order, 1],
                c=y[order].astype(float),
                s=size,
                cmap="viridis",
                alpha=0.8,
                linewidths=0,
            )
            fig.colorbar(artist, ax=ax, label="label")
            if latent_dim == 1:
                axis_labels = (axis_labels[0], "label")
        ax.set_xlabel(axis_labels[0])
        ax.set_ylabel(axis_labels[1])
        if latent_dim >= 2:
            ax.set_aspect("equal", adjustable="datalim")
        ax.grid(True, alpha=0.3)
        if title:
            ax.set_title(title)
        return save_figure(fig, path)
