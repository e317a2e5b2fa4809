"""Image grids: a plain grid, input/reconstruction pairs and labelled rows, each one mosaic."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from plausible.viz._common import (
    ArrayLike,
    PathLike,
    as_images,
    assemble,
    new_figure,
    save_figure,
    show_image,
)

__all__ = ["image_grid", "labelled_rows", "mosaic", "reconstruction_figure"]

_MAX_WIDTH_IN = 7.5  # widest image panel, inches
_MAX_CELL_IN = 1.4  # largest cell, inches
_MIN_CELL_IN = 0.35  # smallest cell, inches
_MIN_CELL_PX = 28  # smaller images are upscaled to about this many pixels before tiling


def _grid_of(images: np.ndarray, ncol: int) -> list[list[np.ndarray | None]]:
    """Split ``(N, H, W, C)`` into rows of ``ncol`` cells, the last row padded with blanks."""
    num_rows = math.ceil(len(images) / ncol)
    cells: list[list[np.ndarray | None]] = [
        list(images[r * ncol : (r + 1) * ncol]) for r in range(num_rows)
    ]
    cells[-1] += [None] * (ncol - len(cells[-1]))
    return cells


def _default_ncol(num_images: int) -> int:
    return max(1, math.ceil(math.sqrt(num_images)))


def mosaic(
    images: ArrayLike,
    nrow: int | None = None,
    pad: int = 1,
    *,
    pad_value: float = 1.0,
    image_shape: Sequence[int] | None = None,
) -> np.ndarray:
    """Tile a batch of images into one array, row by row (image ``k`` at row ``k // nrow``).

    Args:
        images: ``(N, C, H, W)``, ``(N, H, W)`` or flat ``(N, D)`` with ``image_shape``; tensor or
            array.
        nrow: Images per row, as in ``torchvision.utils.make_grid``; default ``ceil(sqrt(N))``.
        pad: Pixels of ``pad_value`` between neighbouring images (none around the border).
        pad_value: Value of the separators and of blank cells after the last image (1.0 is white).
        image_shape: ``(C, H, W)`` of one image, for flat inputs.

    Returns:
        ``(R*H + (R-1)*pad, nrow*W + (nrow-1)*pad, C)`` float32 array in ``[0, 1]``, where
        ``R = ceil(N / nrow)``; image ``k`` has its top-left corner at
        ``((k // nrow) * (H + pad), (k % nrow) * (W + pad))``.
    """
    imgs = as_images(images, image_shape)
    if len(imgs) == 0:
        raise ValueError("mosaic needs at least one image, got an empty batch")
    if nrow is not None and nrow < 1:
        raise ValueError(f"nrow (images per row) must be >= 1, got {nrow}")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    ncol = min(nrow or _default_ncol(len(imgs)), len(imgs))
    cells = _grid_of(imgs, ncol)
    return assemble(
        cells, row_gaps=[pad] * (len(cells) - 1), col_gaps=[pad] * (ncol - 1), pad_value=pad_value
    )


def _upscaled(
    cells: Sequence[Sequence[np.ndarray | None]],
) -> tuple[list[list[np.ndarray | None]], int]:
    """Repeat the pixels of small images so they are about ``_MIN_CELL_PX`` wide.

    Why: separators are whole pixels; next to an 8x8 image a 1-pixel gap would look heavy, and
    an integer upscale keeps the pixels square when the figure magnifies the mosaic.
    """
    present = next(c for row in cells for c in row if c is not None)
    factor = max(1, round(_MIN_CELL_PX / max(present.shape[:2])))
    if factor == 1:
        return [list(row) for row in cells], 1
    upscaled = [
        [None if c is None else c.repeat(factor, axis=0).repeat(factor, axis=1) for c in row]
        for row in cells
    ]
    return upscaled, factor


def _cell_inches(num_rows: int, num_cols: int, aspect: float) -> float:
    """Width of one cell so the panel is at most ``_MAX_WIDTH_IN`` wide and not too tall."""
    longest = max(num_cols, num_rows * aspect)
    return float(np.clip(_MAX_WIDTH_IN / longest, _MIN_CELL_IN, _MAX_CELL_IN))


def _render_rows(
    cells: Sequence[Sequence[np.ndarray | None]],
    path: PathLike,
    *,
    row_gaps: Sequence[int],
    col_gaps: Sequence[int],
    title: str | None,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    xlabel: str | None = None,
) -> Path:
    """Draw a grid of cells as one image with optional row labels (left) and column labels (top)."""
    present = next((cell for row in cells for cell in row if cell is not None), None)
    if present is None:
        raise ValueError("nothing to draw: every cell is empty")
    cells, factor = _upscaled(cells)
    image = assemble(cells, row_gaps=row_gaps, col_gaps=col_gaps)
    h, w = present.shape[0] * factor, present.shape[1] * factor
    num_rows, num_cols = len(cells), max(len(row) for row in cells)
    cell_in = _cell_inches(num_rows, num_cols, h / w)
    label_in = 0.0
    if row_labels:
        label_in = 0.25 + 0.075 * max(len(label) for label in row_labels)
    figsize = (num_cols * cell_in + label_in + 0.3, num_rows * cell_in * h / w + 0.8)
    with new_figure(figsize) as fig:
        ax = fig.add_subplot()
        show_image(ax, image)
        if row_labels:
            tops = np.concatenate([[0], np.cumsum(np.asarray(row_gaps, dtype=int) + h)])
            ax.set_yticks(tops + (h - 1) / 2, list(row_labels))
            ax.tick_params(axis="y", length=0, pad=4)
        if column_labels:
            lefts = np.concatenate([[0], np.cumsum(np.asarray(col_gaps, dtype=int) + w)])
            ax.set_xticks(lefts[: len(column_labels)] + (w - 1) / 2, list(column_labels))
            ax.xaxis.tick_top()
            longest = max(len(label) for label in column_labels)
            rotate = longest * 0.07 > cell_in
            ax.tick_params(
                axis="x", length=0, pad=3, labelsize=8, labelrotation=45 if rotate else 0
            )
            if rotate:
                for label in ax.get_xticklabels():
                    label.set_horizontalalignment("left")
        if xlabel:
            ax.set_xlabel(xlabel)
            if column_labels:  # the label names the column values, so it sits above them
                ax.xaxis.set_label_position("top")
        if title:
            ax.set_title(title)
        return save_figure(fig, path)


def image_grid(
    images: ArrayLike,
    path: PathLike,
    *,
    nrow: int | None = None,
    title: str | None = None,
    image_shape: Sequence[int] | None = None,
) -> Path:
    """Save a square-ish grid of images as a PNG.

    Args:
        images: ``(N, C, H, W)`` with ``C`` in ``{1, 3}``, ``(N, H, W)`` or flat ``(N, D)`` with
            ``image_shape``; values in ``[0, 1]`` (clipped), tensor or array.
        path: Where to write the PNG (parent folders are created; the write is atomic).
        nrow: Images per row; default ``ceil(sqrt(N))``.
        title: Figure title.
        image_shape: ``(C, H, W)`` of one image, for flat inputs.

    Returns:
        ``path`` as a ``Path``.
    """
    imgs = as_images(images, image_shape)
    if len(imgs) == 0:
        raise ValueError("image_grid needs at least one image, got an empty batch")
    ncol = min(nrow or _default_ncol(len(imgs)), len(imgs))
    cells = _grid_of(imgs, ncol)
    return _render_rows(
        cells, path, row_gaps=[1] * (len(cells) - 1), col_gaps=[1] * (ncol - 1), title=title
    )


def reconstruction_figure(
    inputs: ArrayLike,
    reconstructions: ArrayLike,
    path: PathLike,
    *,
    title: str | None = "Inputs and reconstructions",
    ncol: int | None = None,
    image_shape: Sequence[int] | None = None,
) -> Path:
    """Save inputs and their reconstructions as alternating, labelled rows.

    Row ``2p`` holds inputs ``p*ncol .. (p+1)*ncol - 1`` and row ``2p + 1`` their reconstructions
    directly below them; pairs of rows are separated by a wider gap.

    Args:
        inputs: ``(N, C, H, W)``, ``(N, H, W)`` or flat ``(N, D)`` with ``image_shape``.
        reconstructions: Same number of images as ``inputs``, e.g. ``model.reconstruct(inputs)``.
        path: Where to write the PNG.
        title: Figure title.
        ncol: Images per row; default ``ceil(sqrt(2N))`` so the figure is square-ish.
        image_shape: ``(C, H, W)`` of one image, for flat inputs.

    Returns:
        ``path`` as a ``Path``.
    """
    x = as_images(inputs, image_shape)
    x_hat = as_images(reconstructions, image_shape)
    if len(x) != len(x_hat) or len(x) == 0:
        raise ValueError(
            f"need as many reconstructions as inputs (at least one); got {len(x)} inputs and "
            f"{len(x_hat)} reconstructions"
        )
    ncol = min(ncol or math.ceil(math.sqrt(2 * len(x))), len(x))
    top, bottom = _grid_of(x, ncol), _grid_of(x_hat, ncol)
    cells = [row for pair in zip(top, bottom, strict=True) for row in pair]
    row_gaps = [1 if r % 2 == 0 else 4 for r in range(len(cells) - 1)]
    labels = ["input", "reconstruction"] * len(top)
    return _render_rows(
        cells, path, row_gaps=row_gaps, col_gaps=[1] * (ncol - 1), title=title, row_labels=labels
    )


def labelled_rows(
    images_per_row: Sequence[ArrayLike],
    row_labels: Sequence[str],
    path: PathLike,
    *,
    title: str | None = None,
    column_labels: Sequence[str] | None = None,
    image_shape: Sequence[int] | None = None,
) -> Path:
    """Save rows of images, each with a text label on its left, e.g. input | truth | samples.

    Args:
        images_per_row: One batch per row, each ``(n_i, C, H, W)``, ``(n_i, H, W)`` or flat
            ``(n_i, D)`` with ``image_shape``; rows may differ in length (shorter ones end blank),
            all images must share ``(H, W)``; grey images are repeated to RGB next to RGB ones.
        row_labels: One label per row.
        path: Where to write the PNG.
        title: Figure title.
        column_labels: Optional titles above the first ``len(column_labels)`` columns.
        image_shape: ``(C, H, W)`` of one image, for flat inputs.

    Returns:
        ``path`` as a ``Path``.
    """
    if len(images_per_row) != len(row_labels) or not row_labels:
        raise ValueError(
            f"need one label per row (at least one row); got {len(images_per_row)} rows and "
            f"{len(row_labels)} labels"
        )
    rows = [as_images(batch, image_shape) for batch in images_per_row]
    num_cols = max(len(row) for row in rows)
    if num_cols == 0:
        raise ValueError("labelled_rows got only empty rows")
    if column_labels is not None and len(column_labels) > num_cols:
        raise ValueError(
            f"got {len(column_labels)} column labels for at most {num_cols} columns of images"
        )
    cells: list[list[np.ndarray | None]] = [list(row) for row in rows]
    return _render_rows(
        cells,
        path,
        row_gaps=[1] * (len(cells) - 1),
        col_gaps=[1] * (num_cols - 1),
        title=title,
        row_labels=row_labels,
        column_labels=column_labels,
    )
