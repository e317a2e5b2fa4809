"""What the latent code holds: factor-labelled traversals, entangled vs disentangled, collapse."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from plausible.models.protocols import LatentVariableModel
from plausible.viz._common import ArrayLike, PathLike, new_figure, save_figure, show_image, to_numpy
from plausible.viz.images import labelled_rows, mosaic

__all__ = [
    "TraversalPanel",
    "collapse_curves",
    "factor_traversal",
    "mutual_information_matrix",
    "traversal_comparison",
]

_INACTIVE_VARIANCE = 0.01  # Burda et al.'s active-unit threshold on Var_x(E[z_d | x])


@torch.no_grad()
def _traversal(
    model: nn.Module,
    normalised_mi: ArrayLike,
    factor_names: Sequence[str],
    x: ArrayLike,
    dims: Sequence[int] | None,
    num_steps: int,
    span: float,
    max_rows: int,
) -> tuple[list[np.ndarray], list[str], list[str]]:
    """Decoded rows ``(num_steps, C, H, W)`` per latent, their labels, and the column labels."""
    if not isinstance(model, LatentVariableModel):
        raise TypeError(
            f"a latent traversal needs a LatentVariableModel (encode, decode, latent_dim), "
            f"not a {type(model).__name__}"
        )
    mi = to_numpy(normalised_mi).astype(np.float64)
    latent_dim = int(model.latent_dim)
    if mi.shape != (latent_dim, len(factor_names)):
        raise ValueError(
            f"normalised_mi must be (latent_dim, num_factors) = ({latent_dim}, "
            f"{len(factor_names)}); got {mi.shape}"
        )
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        xt = torch.as_tensor(to_numpy(x), dtype=torch.float32, device=device)
        means = model.encode(xt).mean
        spread = to_numpy(means.var(0)) if len(means) > 1 else np.ones(latent_dim)
        order = [int(d) for d in np.argsort(-spread, kind="stable")]
        dims = order[:max_rows] if dims is None else [int(d) for d in dims]
        offsets = torch.linspace(-span, span, num_steps, device=device)
        rows, labels = [], []
        for d in dims:
            z = means[0].expand(num_steps, latent_dim).clone()
            z[:, d] += offsets
            rows.append(to_numpy(model.decode(z).mean))
            if spread[d] < _INACTIVE_VARIANCE:
                labels.append(f"z{d}: inactive")
            else:
                k = int(np.argmax(mi[d]))
                labels.append(f"z{d}: {factor_names[k]} ({mi[d, k]:.2f})")
    finally:
        model.train(was_training)
    return rows, labels, [f"{v:+.2g}" for v in offsets.tolist()]


def factor_traversal(
    model: nn.Module,
    path: PathLike,
    *,
    normalised_mi: ArrayLike,
    factor_names: Sequence[str],
    x: ArrayLike,
    dims: Sequence[int] | None = None,
    num_steps: int = 9,
    span: float = 2.5,
    max_rows: int = 10,
    title: str | None = "Latent traversals",
) -> Path:
    """Latent traversals with each row labelled by the factor that latent explains best.

    The base code is the posterior mean of ``x[0]``; row ``d`` adds ``num_steps`` offsets in
    ``[-span, span]`` to ``z_d`` and shows the decoder means. A row's label is
    ``"z<d>: <factor> (<I(z_d; v_k) / H(v_k)>)"`` for the factor with the largest normalised
    mutual information, or ``"inactive"`` when ``Var_x(E[z_d|x]) < 0.01`` over ``x``.

    Args:
        model: A VAE-like model with ``encode``, ``decode`` and ``latent_dim``.
        path: Where to write the PNG.
        normalised_mi: ``(latent_dim, K)`` mutual information divided by each factor's entropy
            (e.g. from :func:`plausible.metrics.disentanglement.mig`).
        factor_names: K factor names.
        x: ``(N, *x_shape)`` observations; ``x[0]`` is the base, all of them order the rows.
        dims: Latents to show; default the ``max_rows`` whose means vary most over ``x``.
        num_steps: Columns.
        span: Largest offset, in prior standard deviations.
        max_rows: Rows when ``dims`` is not given.
        title: Figure title.

    Returns:
        ``path`` as a ``Path``.
    """
    rows, labels, columns = _traversal(
        model, normalised_mi, factor_names, x, dims, num_steps, span, max_rows
    )
    return labelled_rows(rows, labels, path, title=title, column_labels=columns)


@dataclass
class TraversalPanel:
    """One model of a side-by-side traversal figure.

    Attributes:
        label: Panel title, e.g. ``"beta = 4: MIG 0.31"``.
        model: The model.
        normalised_mi: ``(latent_dim, K)`` normalised mutual information.
    """

    label: str
    model: nn.Module
    normalised_mi: Any


def traversal_comparison(
    panels: Sequence[TraversalPanel],
    path: PathLike,
    *,
    factor_names: Sequence[str],
    x: ArrayLike,
    num_steps: int = 9,
    span: float = 2.5,
    max_rows: int = 10,
    title: str | None = "Latent traversals side by side (row: factor with the largest I / H)",
) -> Path:
    """Factor-labelled traversals of several models side by side (the classic beta = 1 vs 4 figure).

    Args:
        panels: One :class:`TraversalPanel` per model, left to right.
        path: Where to write the PNG.
        factor_names: Factor names shared by the panels.
        x: Observations; ``x[0]`` is every panel's base image.
        num_steps: Columns per panel.
        span: Largest offset from the base code, in prior standard deviations.
        max_rows: Latents per panel (those whose means vary most).
        title: Figure title.

    Returns:
        ``path`` as a ``Path``.
    """
    if not panels:
        raise ValueError("traversal_comparison needs at least one panel")
    built = [
        _traversal(p.model, p.normalised_mi, factor_names, x, None, num_steps, span, max_rows)
        for p in panels
    ]
    pad = 1
    # Inches: each panel's images get its width minus the row labels, the height follows the
    # mosaic's aspect ratio, plus room for the titles.
    panel_width, label_width = 4.3, 1.3
    height = (panel_width - label_width) * max(len(r) for r, _, _ in built) / num_steps + 1.3
    with new_figure((panel_width * len(panels) + 0.4, height)) as fig:
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, panel, (rows, labels, _) in zip(axes, panels, built, strict=True):
            image = mosaic(np.concatenate(rows), nrow=num_steps, pad=pad)
            show_image(ax, image)
            cell = rows[0].shape[-2] + pad
            ax.set_yticks([r * cell + cell / 2 for r in range(len(rows))], labels)
            ax.tick_params(axis="y", length=0, labelsize=8)
            ax.set_title(panel.label)
            ax.set_xlabel(f"offset from the code of x[0], -{span:g} .. +{span:g} prior s.d.")
        if title:
            fig.suptitle(title)
        return save_figure(fig, path)


def mutual_information_matrix(
    normalised_mi: ArrayLike,
    factor_names: Sequence[str],
    path: PathLike,
    *,
    title: str | None = "Normalised mutual information I(z_d; v_k) / H(v_k)",
) -> Path:
    """Heat map of latent-factor mutual information: a disentangled code has one bright cell per
    row and per column.

    Args:
        normalised_mi: ``(D, K)`` values in ``[0, 1]``.
        factor_names: K factor names.
        path: Where to write the PNG.
        title: Figure title.

    Returns:
        ``path`` as a ``Path``.
    """
    mi = to_numpy(normalised_mi).astype(np.float64)
    if mi.ndim != 2 or mi.shape[1] != len(factor_names):
        raise ValueError(f"normalised_mi must be (D, {len(factor_names)}), got {mi.shape}")
    num_latents = mi.shape[0]
    with new_figure((1.1 * len(factor_names) + 2.0, 0.36 * num_latents + 1.6)) as fig:
        ax = fig.add_subplot()
        shown = ax.imshow(
            mi, cmap="viridis", vmin=0.0, vmax=max(1.0, float(np.nanmax(mi))), aspect="auto"
        )
        ax.set_xticks(range(len(factor_names)), factor_names)
        ax.set_yticks(range(num_latents), [f"z{d}" for d in range(num_latents)])
        for d in range(num_latents):
            for k in range(len(factor_names)):
                ax.text(
                    k,
                    d,
                    f"{mi[d, k]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if mi[d, k] < 0.5 else "black",
                )
        fig.colorbar(shown, ax=ax, shrink=0.8)
        if title:
            ax.set_title(title)
        return save_figure(fig, path)


def collapse_curves(
    records: Sequence[Mapping[str, Any]],
    path: PathLike,
    *,
    title: str | None = "Posterior collapse per epoch",
) -> Path:
    """Per-epoch KL per latent dimension, I(x; z) and active units (``split == "collapse"`` rows).

    Args:
        records: Rows of ``metrics.jsonl`` as written by
            :class:`plausible.metrics.collapse.CollapseMonitor`; other rows are ignored.
        path: Where to write the PNG.
        title: Figure title.

    Returns:
        ``path`` as a ``Path``.
    """
    rows = sorted((r for r in records if r.get("split") == "collapse"), key=lambda r: r["epoch"])
    if not rows:
        raise ValueError(
            "no collapse rows (split == 'collapse') in the records; was the "
            "CollapseMonitor callback attached to the trainer?"
        )
    epochs = np.array([r["epoch"] for r in rows], dtype=np.float64)
    kl = np.array([r["kl_per_dimension"] for r in rows], dtype=np.float64)
    with new_figure((12.0, 3.6)) as fig:
        ax_kl, ax_mi, ax_au = fig.subplots(1, 3)
        for d in range(kl.shape[1]):
            ax_kl.plot(epochs, kl[:, d], marker="o", markersize=2.5, linewidth=1.1, label=f"z{d}")
        ax_kl.set_title("KL(q(z_d|x) || p(z_d)) per dimension")
        ax_kl.set_ylabel("nats")
        if kl.shape[1] <= 12:
            ax_kl.legend(frameon=False, fontsize=7, ncol=2)
        ax_mi.plot(epochs, [r["mutual_information"] for r in rows], marker="o", label="I(x; z)")
        ax_mi.plot(epochs, [r["kl"] for r in rows], marker="s", label="KL(q(z|x) || p(z))")
        ax_mi.set_title("information in the code")
        ax_mi.set_ylabel("nats")
        ax_mi.legend(frameon=False)
        ax_au.plot(epochs, [r["active_units"] for r in rows], marker="o", color="C2")
        ax_au.set_title("active units (Var E[z_d|x] > 0.01)")
        ax_au.set_ylim(-0.5, kl.shape[1] + 0.5)
        for ax in (ax_kl, ax_mi, ax_au):
            ax.set_xlabel("epoch")
            ax.grid(True, alpha=0.3)
        if title:
            fig.suptitle(title)
        return save_figure(fig, path)
