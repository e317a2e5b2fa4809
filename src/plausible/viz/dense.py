"""Figures for dense prediction: graders' masks against sampled masks, and partial observations."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.colors
import numpy as np
from matplotlib.axes import Axes

from plausible.viz._common import ArrayLike, PathLike, new_figure, save_figure, show_image, to_numpy

__all__ = [
    "OMITTED_COLOUR",
    "UNCERTAINTY_CMAP",
    "ambiguity_figure",
    "input_cell",
    "observed_cell",
    "partial_observation_grid",
]

#: Colour of omitted (unobserved) input pixels in :func:`partial_observation_grid` (tab:red).
OMITTED_COLOUR = "#d62728"
#: Colormap of uncertainty maps (0 at the dark end).
UNCERTAINTY_CMAP = "viridis"

_CELL_IN = 1.1  # inches per image cell


def _array(name: str, value: ArrayLike, ndim: int, what: str) -> np.ndarray:
    arr = np.asarray(to_numpy(value), dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {what}; got shape {arr.shape}")
    return arr


def _unit(values: np.ndarray) -> np.ndarray:
    """Values clipped to ``[0, 1]``, NaN shown as 0."""
    return np.clip(np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


def input_cell(image: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` input -> ``(H, W, 3)`` RGB of its first 3 channels, or ``(H, W, 1)`` grey.

    Inputs with ``C >= 3`` show channels 0-2 as RGB; with ``C < 3`` channel 0 as grey.
    """
    shown = image[:3] if image.shape[0] >= 3 else image[:1]
    return _unit(shown.transpose(1, 2, 0))


def observed_cell(image: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """``(H, W)`` grey image and observed indicator -> ``(H, W, 3)`` with omitted pixels coloured.

    A pixel is omitted where ``observed < 0.5``; it is drawn in :data:`OMITTED_COLOUR`.
    """
    rgb = np.repeat(_unit(image)[..., None], 3, axis=-1)
    rgb[observed < 0.5] = matplotlib.colors.to_rgb(OMITTED_COLOUR)
    return rgb


def _mask_cell(mask: np.ndarray) -> np.ndarray:
    """``(1, H, W)`` mask or probability map -> ``(H, W, 1)`` grey in ``[0, 1]``."""
    return _unit(mask.transpose(1, 2, 0))


def _label_grid(axes: np.ndarray, columns: Sequence[str], rows: Sequence[str]) -> None:
    for ax, name in zip(axes[0], columns, strict=True):
        ax.set_title(name, fontsize=8)
    for ax, name in zip(axes[:, 0], rows, strict=True):
        ax.set_ylabel(name, fontsize=8)


def ambiguity_figure(
    images: ArrayLike,
    annotations: ArrayLike | None,
    samples: ArrayLike,
    mean: ArrayLike,
    uncertainty: ArrayLike,
    *,
    path: PathLike,
    title: str | None = None,
    annotation_weights: ArrayLike | None = None,
    max_samples: int = 6,
    max_examples: int = 8,
    uncertainty_label: str = "uncertainty",
) -> Path:
    """One row per example: input, every grader's mask, sampled masks, their mean, uncertainty.

    Columns, left to right: the input (channels 0-2 as RGB when ``C >= 3``, else channel 0 grey);
    for ``C = 2`` or ``C = 4`` the last channel (observed indicator or depth) in its own grey
    column; each grader's mask (``annotations``), titled with its weight when
    ``annotation_weights`` is given (in every row when the weights differ between examples); the
    first ``max_samples`` samples; the sample mean; the uncertainty map on one colour scale from 0
    to the largest value shown, with a colorbar. Masks, samples and the mean are grey in
    ``[0, 1]``.

    Args:
        images: ``(B, C, H, W)`` inputs in ``[0, 1]``, ``C`` in 1..4.
        annotations: ``(B, A, 1, H, W)`` graders' masks, or ``None`` when there are none.
        samples: ``(K, B, 1, H, W)`` sampled foreground probabilities (or masks).
        mean: ``(B, 1, H, W)`` mean of the samples.
        uncertainty: ``(B, 1, H, W)`` per-pixel uncertainty (e.g. predictive entropy), >= 0.
        path: Where to write the PNG.
        title: Figure title.
        annotation_weights: ``(A,)`` or ``(B, A)`` weight of each grader's mask (e.g. the
            split's ``annotation_probs``).
        max_samples: At most this many samples are drawn.
        max_examples: At most this many rows (the first examples).
        uncertainty_label: Title of the uncertainty column and label of its colorbar.

    Returns:
        ``path`` as a ``Path``.
    """
    x = _array("images", images, 4, "(B, C, H, W)")
    b, c, h, w = x.shape
    if not 1 <= c <= 4 or b < 1:
        raise ValueError(f"images must be (B, C, H, W) with B >= 1 and C in 1..4; got {x.shape}")
    ann = None if annotations is None else _array("annotations", annotations, 5, "(B, A, 1, H, W)")
    draws = _array("samples", samples, 5, "(K, B, 1, H, W)")
    avg = _array("mean", mean, 4, "(B, 1, H, W)")
    unc = _array("uncertainty", uncertainty, 4, "(B, 1, H, W)")
    if (
        draws.shape[1:] != (b, 1, h, w)
        or len(draws) < 1
        or avg.shape != (b, 1, h, w)
        or unc.shape != (b, 1, h, w)
        or (ann is not None and (ann.shape[0] != b or ann.shape[2:] != (1, h, w)))
    ):
        raise ValueError(
            "ambiguity_figure needs images (B, C, H, W), annotations (B, A, 1, H, W), samples "
            "(K, B, 1, H, W) with K >= 1, mean and uncertainty (B, 1, H, W) with one B, H and W; "
            f"got {x.shape}, {None if ann is None else ann.shape}, {draws.shape}, {avg.shape}, "
            f"{unc.shape}"
        )
    num_graders = 0 if ann is None else ann.shape[1]
    weights = None
    if annotation_weights is not None:
        if ann is None:
            raise ValueError("annotation_weights were given without annotations")
        weights = np.asarray(to_numpy(annotation_weights), dtype=np.float64)
        if weights.shape not in ((num_graders,), (b, num_graders)):
            raise ValueError(
                f"annotation_weights must be (A,) = ({num_graders},) or (B, A) = "
                f"{(b, num_graders)}; got {weights.shape}"
            )
        weights = np.broadcast_to(weights, (b, num_graders))
    if max_samples < 1 or max_examples < 1:
        raise ValueError(
            f"max_samples and max_examples must be >= 1, got {max_samples} and {max_examples}"
        )
    rows, k = min(b, max_examples), min(len(draws), max_samples)
    extra = {2: "observed", 4: "depth"}.get(c)
    columns = ["input" if c < 3 else "RGB", *([extra] if extra else [])]
    per_row = weights is not None and not np.allclose(weights[:rows], weights[:1])
    for a in range(num_graders):
        suffix = "" if weights is None or per_row else f"\nw = {weights[0, a]:.3g}"
        columns.append(f"grader {a + 1}{suffix}")
    columns += [f"sample {s + 1}" for s in range(k)] + ["sample mean", uncertainty_label]
    finite = unc[:rows][np.isfinite(unc[:rows])]
    top = max(float(finite.max()), 1e-12) if finite.size else 1.0
    ncols = len(columns)
    with new_figure((_CELL_IN * ncols + 0.9, _CELL_IN * rows + 0.6)) as fig:
        axes = fig.subplots(rows, ncols, squeeze=False)
        for r in range(rows):
            cells = [input_cell(x[r])]
            if extra:
                cells.append(_unit(x[r, -1:].transpose(1, 2, 0)))
            cells += [_mask_cell(ann[r, a]) for a in range(num_graders)] if ann is not None else []
            cells += [_mask_cell(draws[s, r]) for s in range(k)] + [_mask_cell(avg[r])]
            for ax, cell in zip(axes[r], cells, strict=False):
                show_image(ax, cell)
            ax = axes[r, -1]
            image = ax.imshow(unc[r, 0], cmap=UNCERTAINTY_CMAP, vmin=0.0, vmax=top)
            _bare(ax)
        _label_grid(axes, columns, [f"example {r}" for r in range(rows)])
        if per_row and weights is not None:  # each example's own weights on its masks
            first = 2 if extra else 1
            for r in range(rows):
                for a in range(num_graders):
                    head = f"grader {a + 1}\n" if r == 0 else ""
                    axes[r, first + a].set_title(f"{head}w = {weights[r, a]:.3g}", fontsize=8)
        fig.colorbar(image, ax=list(axes[:, -1]), label=uncertainty_label, shrink=0.9)
        if title:
            fig.suptitle(title)
        return save_figure(fig, path)


def _bare(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def partial_observation_grid(
    inputs: ArrayLike,
    truth: ArrayLike,
    baseline: ArrayLike | None,
    samples: ArrayLike,
    *,
    path: PathLike,
    title: str | None = None,
    row_labels: Sequence[str] | None = None,
    max_samples: int = 6,
) -> Path:
    """Rows of partially observed inputs with the truth, a baseline's output and sampled outputs.

    Columns: the input (channel 0 grey, with every omitted pixel, where the observed indicator is
    below 0.5, in :data:`OMITTED_COLOUR`) | the truth | the baseline (left out when ``None``) |
    the first ``max_samples`` samples. Truth, baseline and samples are grey in ``[0, 1]``.

    Args:
        inputs: ``(B, 2, H, W)``: channel 0 the image, channel 1 the observed indicator (1 where
            the pixel is observed, 0 where it was omitted).
        truth: ``(B, 1, H, W)`` the complete target.
        baseline: ``(B, 1, H, W)`` a deterministic model's output, or ``None``.
        samples: ``(K, B, 1, H, W)`` sampled outputs (e.g. a CVAE's).
        path: Where to write the PNG.
        title: Figure title.
        row_labels: ``B`` row names (e.g. the omission setting); default ``example i``.
        max_samples: At most this many samples are drawn.

    Returns:
        ``path`` as a ``Path``.
    """
    x = _array("inputs", inputs, 4, "(B, 2, H, W)")
    b, c, h, w = x.shape
    real = _array("truth", truth, 4, "(B, 1, H, W)")
    base = None if baseline is None else _array("baseline", baseline, 4, "(B, 1, H, W)")
    draws = _array("samples", samples, 5, "(K, B, 1, H, W)")
    if (
        c != 2
        or b < 1
        or real.shape != (b, 1, h, w)
        or (base is not None and base.shape != (b, 1, h, w))
        or draws.shape[1:] != (b, 1, h, w)
        or len(draws) < 1
    ):
        raise ValueError(
            "partial_observation_grid needs inputs (B, 2, H, W) (image, observed indicator), "
            "truth and baseline (B, 1, H, W) and samples (K, B, 1, H, W) with K >= 1 and one B, "
            f"H and W; got {x.shape}, {real.shape}, {None if base is None else base.shape}, "
            f"{draws.shape}"
        )
    labels = [f"example {r}" for r in range(b)] if row_labels is None else list(row_labels)
    if len(labels) != b:
        raise ValueError(f"need one row label per example ({b}); got {len(labels)}")
    if max_samples < 1:
        raise ValueError(f"max_samples must be >= 1, got {max_samples}")
    k = min(len(draws), max_samples)
    columns = ["input", "truth", *(["baseline"] if base is not None else [])]
    columns += [f"sample {s + 1}" for s in range(k)]
    label_in = 0.1 + 0.07 * max(len(label) for label in labels)
    with new_figure((_CELL_IN * len(columns) + label_in, _CELL_IN * b + 0.5)) as fig:
        axes = fig.subplots(b, len(columns), squeeze=False)
        for r in range(b):
            cells = [observed_cell(x[r, 0], x[r, 1]), _mask_cell(real[r])]
            cells += [_mask_cell(base[r])] if base is not None else []
            cells += [_mask_cell(draws[s, r]) for s in range(k)]
            for ax, cell in zip(axes[r], cells, strict=True):
                show_image(ax, cell)
        _label_grid(axes, columns, labels)
        if title:
            fig.suptitle(title)
        return save_figure(fig, path)
