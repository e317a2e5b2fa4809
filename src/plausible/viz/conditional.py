"""Figures for conditional models: multi-hypothesis grids, class grids and likelihood tables."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.transforms import Bbox

from plausible.viz._common import ArrayLike, PathLike, as_images, new_figure, save_figure, to_numpy
from plausible.viz.images import labelled_rows

__all__ = ["class_grid", "hypothesis_grid", "table_figure"]


def hypothesis_grid(
    inputs: ArrayLike,
    truths: ArrayLike,
    samples: ArrayLike,
    path: PathLike,
    *,
    predictions: ArrayLike | None = None,
    prediction_label: str = "baseline",
    row_labels: Sequence[str] | None = None,
    title: str | None = None,
    subtitle: str | None = None,
) -> Path:
    """One row per example: input | truth | (a point prediction) | S sampled hypotheses.

    Args:
        inputs: ``(N, C, H, W)`` inputs as shown (e.g. unobserved pixels in grey).
        truths: ``(N, C, H, W)`` true completions.
        samples: ``(S, N, C, H, W)`` sampled completions.
        path: Where to write the PNG.
        predictions: ``(N, C, H, W)`` point predictions (a baseline's or y*), after the truth.
        prediction_label: Column title of ``predictions``.
        row_labels: One label per example (default ``#1``, ``#2``, ...).
        title: Figure title.
        subtitle: A second line under the title, e.g. how far apart the hypotheses are.

    Returns:
        ``path`` as a ``Path``.
    """
    x, t = _chw(inputs), _chw(truths)
    s = to_numpy(samples)
    if s.ndim != 5 or s.shape[1] != len(x) or len(t) != len(x):
        raise ValueError(
            f"need inputs (N, C, H, W), truths (N, C, H, W) and samples (S, N, C, H, W) for the "
            f"same N; got {tuple(x.shape)}, {tuple(t.shape)} and {tuple(s.shape)}"
        )
    p = _chw(predictions) if predictions is not None else None
    if p is not None and len(p) != len(x):
        raise ValueError(f"need one prediction per input; got {len(p)} for {len(x)} inputs")
    rows = []
    for i in range(len(x)):
        fixed = [x[i : i + 1], t[i : i + 1]] + ([p[i : i + 1]] if p is not None else [])
        rows.append(np.concatenate([*fixed, _chw(s[:, i])], axis=0))
    columns = ["input", "truth"] + ([prediction_label] if p is not None else [])
    columns += [f"sample {k + 1}" for k in range(s.shape[0])]
    labels = list(row_labels) if row_labels is not None else [f"#{i + 1}" for i in range(len(x))]
    heading = "\n".join(line for line in (title, subtitle) if line) or None
    return labelled_rows(rows, labels, path, title=heading, column_labels=columns)


def _chw(images: ArrayLike) -> np.ndarray:
    """Any accepted image batch -> ``(N, C, H, W)`` float array in [0, 1]."""
    return as_images(images).transpose(0, 3, 1, 2)


def class_grid(
    samples: ArrayLike,
    class_names: Sequence[str],
    path: PathLike,
    *,
    title: str | None = None,
) -> Path:
    """One row per class with that class's samples.

    Args:
        samples: ``(K, S, C, H, W)``: S images for each of K classes.
        class_names: K row labels.
        path: Where to write the PNG.
        title: Figure title.
    """
    s = to_numpy(samples)
    if s.ndim != 5 or s.shape[0] != len(class_names):
        raise ValueError(
            f"need samples (K, S, C, H, W) with K = {len(class_names)} classes; "
            f"got {tuple(s.shape)}"
        )
    return labelled_rows([s[k] for k in range(len(s))], list(class_names), path, title=title)


def table_figure(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    path: PathLike,
    *,
    title: str | None = None,
    footnote: str | None = None,
) -> Path:
    """Render a small table of strings as a PNG (e.g. the conditional likelihood table).

    Args:
        header: Column titles.
        rows: Cells, one list per row, each as long as ``header``.
        path: Where to write the PNG.
        title: Title above the table.
        footnote: Small text below the table (estimators, sample counts).
    """
    if not rows or any(len(r) != len(header) for r in rows):
        raise ValueError(
            f"every row needs {len(header)} cells (one per column) and there must be at least one "
            f"row; got row lengths {[len(r) for r in rows]}"
        )
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    fig_w = min(max(0.075 * sum(widths) + 0.3 * len(header), 4.0), 14.0)
    fig_h = 0.28 * (len(rows) + 1) + (0.4 if title else 0.1) + (0.3 if footnote else 0.0)
    with new_figure((fig_w, fig_h)) as fig:
        ax = fig.add_subplot()
        ax.axis("off")
        table = ax.table(
            cellText=[list(map(str, r)) for r in rows],
            colLabels=list(header),
            cellLoc="center",
            bbox=Bbox.from_bounds(0.0, 0.0, 1.0, 1.0),
        )
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        total = sum(widths)
        for (r, c), cell in table.get_celld().items():
            cell.set_width(widths[c] / total)
            if r == 0:
                cell.set_text_props(weight="bold")
        if title:
            ax.set_title(title)
        if footnote:
            fig.supxlabel(footnote, fontsize=7, x=0.01, ha="left")
        return save_figure(fig, path)
