"""Diversity against quality: the curve a temperature sweep traces, one line per model."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.lines import Line2D

from plausible.viz._common import PathLike, new_figure, save_figure

__all__ = ["diversity_quality_curve"]

_LABEL_WIDTH = 48  # characters of a model's label per legend line (two lines at most)


def _short(label: str) -> str:
    """A legend label of at most two lines: a run's description can be a sentence long."""
    return "\n".join(textwrap.wrap(label, _LABEL_WIDTH, max_lines=2, placeholder=" …")) or label


def diversity_quality_curve(
    curves: Mapping[str, Sequence[Mapping[str, Any]]],
    path: PathLike,
    *,
    reference_apd: float | None = None,
    title: str | None = "Diversity against quality (temperature sweep)",
) -> Path:
    """Plot APD (diversity) against the real-vs-generated classifier's accuracy (quality).

    Each model is one line through its temperatures, each point annotated with ``T``. The
    dashed line at 50% marks samples the classifier cannot tell from real data: the best models
    reach high diversity close to it. When the rows carry ``best_of_k`` (conditional models), a
    second panel shows best-of-K and expected error against the temperature.

    Args:
        curves: Model label -> rows ``{"temperature", "apd", "quality_accuracy"[,
            "quality_stderr", "best_of_k", "expected_error"]}`` as returned by
            :func:`plausible.metrics.diversity.diversity_quality_sweep`.
        path: Where to write the PNG.
        reference_apd: APD of samples of the true law (the diversity to reach), drawn as a
            dotted horizontal line.
        title: Figure title.

    Returns:
        ``path`` as a ``Path``.
    """
    if not curves or not any(curves.values()):
        raise ValueError("diversity_quality_curve needs at least one non-empty curve")
    errors = any("best_of_k" in row for rows in curves.values() for row in rows)
    with new_figure((10.5 if errors else 5.8, 4.2 + 0.25 * len(curves))) as fig:
        axes = fig.subplots(1, 2 if errors else 1, squeeze=False)[0]
        ax = axes[0]
        for i, (label, rows) in enumerate(curves.items()):
            rows = sorted(rows, key=lambda r: r["temperature"])
            xs = [100 * r["quality_accuracy"] for r in rows]
            ys = [r["apd"] for r in rows]
            err = [100 * r.get("quality_stderr", 0.0) for r in rows]
            ax.errorbar(xs, ys, xerr=err, marker="o", color=f"C{i}", label=_short(label), capsize=2)
            for x, y, row in zip(xs, ys, rows, strict=True):
                ax.annotate(
                    f"T={row['temperature']:g}",
                    (x, y),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=7,
                    color=f"C{i}",
                    # A light box keeps the label legible where it crosses a reference line.
                    bbox={
                        "boxstyle": "round,pad=0.1",
                        "facecolor": "white",
                        "alpha": 0.8,
                        "edgecolor": "none",
                    },
                )
        ax.axvline(50, color="0.4", linestyle="--", linewidth=1, label="indistinguishable (50%)")
        if reference_apd is not None:
            ax.axhline(
                reference_apd, color="0.2", linestyle=":", linewidth=1.2, label="true law's APD"
            )
        ax.set_xlabel("real-vs-generated classifier accuracy (%) (lower is better)")
        ax.set_ylabel("diversity: average pairwise distance")
        ax.grid(True, alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if errors:
            ax2 = axes[1]
            for i, (_, rows) in enumerate(curves.items()):
                rows = sorted(rows, key=lambda r: r["temperature"])
                ts = [r["temperature"] for r in rows]
                if all("best_of_k" in r for r in rows):
                    ax2.plot(ts, [r["best_of_k"] for r in rows], marker="o", color=f"C{i}")
                    ax2.plot(
                        ts,
                        [r["expected_error"] for r in rows],
                        marker="s",
                        linestyle="--",
                        color=f"C{i}",
                    )
            ax2.set_xlabel("temperature")
            ax2.set_ylabel("error to the target")
            ax2.grid(True, alpha=0.3)
            # Colours name the models (left legend entries); line styles name the two errors.
            handles += [
                Line2D([], [], color="0.3", marker="o", label="best-of-K error (right)"),
                Line2D(
                    [], [], color="0.3", marker="s", linestyle="--", label="expected error (right)"
                ),
            ]
            labels += ["best-of-K error (right)", "expected error (right)"]
        # Below the panels, where no curve or label can hide it and no long name is cut off.
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncols=2 if errors else 1,
            frameon=False,
            fontsize=8,
        )
        if title:
            fig.suptitle(title)
        return save_figure(fig, path)
