"""Shared helpers for ``plausible.viz``: array conversion, mosaics, Agg figures, atomic saving."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import matplotlib
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from plausible.io import atomic_open

__all__ = [
    "DPI",
    "ArrayLike",
    "PathLike",
    "as_images",
    "assemble",
    "infer_image_shape",
    "new_figure",
    "normalise_image_shape",
    "save_figure",
    "show_image",
    "to_numpy",
]

ArrayLike: TypeAlias = "Tensor | np.ndarray | Sequence[Any]"
PathLike: TypeAlias = "str | os.PathLike[str]"

DPI = 130

# Applied only while a figure is built and saved (rc_context), so users' rcParams stay untouched.
_STYLE: dict[Any, Any] = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 12,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}


def to_numpy(a: ArrayLike) -> np.ndarray:
    """Convert a tensor (any device or dtype, with or without grad) or array-like to numpy."""
    if isinstance(a, Tensor):
        a = a.detach().cpu()
        if a.is_floating_point() and a.dtype not in (torch.float32, torch.float64):
            a = a.float()  # bfloat16 / float16 have no (or a lossy) numpy counterpart
        return a.numpy()
    return np.asarray(a)


def normalise_image_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    """Return ``(C, H, W)`` for ``(C, H, W)`` or ``(H, W)``; raise for anything else."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or shape[0] not in (1, 3) or min(shape) < 1:
        raise ValueError(
            f"image_shape must be (C, H, W) with C = 1 (grey) or 3 (RGB), or (H, W); got {shape}"
        )
    c, h, w = shape
    return (c, h, w)


def infer_image_shape(x_shape: Sequence[int]) -> tuple[int, int, int] | None:
    """Guess ``(C, H, W)`` from an observation shape; ``None`` when it cannot be told.

    ``(C, H, W)`` and ``(H, W)`` are taken as they are; a flat ``(D,)`` is a square grey image when
    ``D`` is a perfect square, a square RGB image when ``D / 3`` is (the two never coincide).
    """
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) in (2, 3):
        try:
            return normalise_image_shape(x_shape)
        except ValueError:
            return None
    if len(x_shape) == 1:
        (d,) = x_shape
        side = math.isqrt(d)
        if side * side == d:
            return (1, side, side)
        if d % 3 == 0:
            side = math.isqrt(d // 3)
            if 3 * side * side == d:
                return (3, side, side)
    return None


def as_images(images: ArrayLike, image_shape: Sequence[int] | None = None) -> np.ndarray:
    """Bring a batch of images to a float ``(N, H, W, C)`` array with values in ``[0, 1]``.

    Args:
        images: ``(N, C, H, W)`` with ``C`` in ``{1, 3}``, ``(N, H, W, C)`` when the second axis
            cannot be channels, ``(N, H, W)`` grey, or ``(N, D)`` / any ``(N, ...)`` with
            ``image_shape``. A flat ``(N, D)`` without ``image_shape`` is read as square images
            when ``D`` (grey) or ``D / 3`` (RGB) is a perfect square.
        image_shape: ``(C, H, W)`` or ``(H, W)`` of one image, to reshape flat inputs.

    Returns:
        ``(N, H, W, C)`` float32 array; ``uint8`` inputs are divided by 255, other values are
        clipped to ``[0, 1]`` and NaNs shown as 0.
    """
    arr = to_numpy(images)
    scale = 255.0 if arr.dtype == np.uint8 else 1.0
    arr = arr.astype(np.float32) / scale
    if arr.ndim < 2:
        raise ValueError(
            f"images must have a batch axis: (N, C, H, W), (N, H, W) or (N, D); got {arr.shape}"
        )
    n = arr.shape[0]
    if image_shape is None and arr.ndim == 2:
        image_shape = infer_image_shape(arr.shape[1:])
        if image_shape is None:
            raise ValueError(
                f"cannot tell the image shape of flat images {arr.shape}; "
                "pass image_shape=(C, H, W)"
            )
    if image_shape is not None:
        c, h, w = normalise_image_shape(image_shape)
        if arr[0].size != c * h * w:
            raise ValueError(
                f"images of shape {arr.shape} hold {arr[0].size} values each, but "
                f"image_shape={(c, h, w)} needs {c * h * w}"
            )
        arr = arr.reshape(n, c, h, w)
    elif arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim != 4:
        raise ValueError(
            "images must be (N, C, H, W), (N, H, W) or flat (N, D) with image_shape; "
            f"got {arr.shape}"
        )
    if arr.shape[1] not in (1, 3):
        if arr.shape[3] in (1, 3):
            arr = arr.transpose(0, 3, 1, 2)  # channels-last input
        else:
            raise ValueError(
                f"images need 1 (grey) or 3 (RGB) channels in (N, C, H, W); got {arr.shape}"
            )
    arr = np.clip(np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    return np.ascontiguousarray(arr.transpose(0, 2, 3, 1))


def assemble(
    cells: Sequence[Sequence[np.ndarray | None]],
    *,
    row_gaps: Sequence[int],
    col_gaps: Sequence[int],
    pad_value: float = 1.0,
) -> np.ndarray:
    """Paste ``(H, W, C)`` cells into one ``(H', W', C)`` array; ``None`` cells stay ``pad_value``.

    Args:
        cells: Rows of cells; rows may be shorter than the widest one (the rest stays blank).
        row_gaps: Pixels between consecutive rows, ``len(cells) - 1`` values.
        col_gaps: Pixels between consecutive columns, one fewer than the widest row.
        pad_value: Value of gaps and blank cells (1.0 is white).

    Returns:
        ``(R*H + sum(row_gaps), K*W + sum(col_gaps), C)``; grey cells are repeated to RGB when
        any cell is RGB.
    """
    present = [cell for row in cells for cell in row if cell is not None]
    if not present:
        raise ValueError("nothing to draw: every cell is empty")
    h, w = present[0].shape[:2]
    if any(cell.shape[:2] != (h, w) for cell in present):
        sizes = sorted({cell.shape[:2] for cell in present})
        raise ValueError(f"all images in one figure must share (H, W); got sizes {sizes}")
    channels = max(cell.shape[2] for cell in present)
    num_rows, num_cols = len(cells), max(len(row) for row in cells)
    if len(row_gaps) != num_rows - 1 or len(col_gaps) != num_cols - 1:
        raise ValueError(
            f"need {num_rows - 1} row gaps and {num_cols - 1} column gaps for a "
            f"{num_rows}x{num_cols} grid; got {len(row_gaps)} and {len(col_gaps)}"
        )
    tops = np.concatenate([[0], np.cumsum(np.asarray(row_gaps, dtype=int) + h)])
    lefts = np.concatenate([[0], np.cumsum(np.asarray(col_gaps, dtype=int) + w)])
    out = np.full((tops[-1] + h, lefts[-1] + w, channels), pad_value, dtype=np.float32)
    for r, row in enumerate(cells):
        for k, cell in enumerate(row):
            if cell is not None:
                out[tops[r] : tops[r] + h, lefts[k] : lefts[k] + w] = cell
    return out


def show_image(ax: Axes, image: np.ndarray) -> None:
    """Draw an ``(H, W, C)`` image in ``[0, 1]``: grey colormap when ``C = 1``; no ticks, spines."""
    fig = ax.get_figure()
    # Nearest-neighbour when magnified (crisp pixels), antialiased when shrunk (no aliasing).
    shown_px = fig.get_figwidth() * fig.dpi if isinstance(fig, Figure) else image.shape[1]
    interpolation = "nearest" if shown_px >= image.shape[1] else "antialiased"
    if image.shape[2] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation=interpolation)
    else:
        ax.imshow(image, interpolation=interpolation)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


@contextlib.contextmanager
def new_figure(figsize: tuple[float, float]) -> Iterator[Figure]:
    """A fresh Agg figure with the house style; pyplot's global state is never touched.

    Build and save the figure inside the ``with`` block; it is cleared on exit.
    """
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        try:
            yield fig
        finally:
            fig.clear()


def save_figure(fig: Figure, path: PathLike) -> Path:
    """Write ``fig`` as a PNG to ``path`` with the package's one atomic writer."""
    with atomic_open(Path(path), "wb") as f:
        fig.savefig(f, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.08)
    return Path(path)
