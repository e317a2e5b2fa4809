"""PRML-style density figures (Bishop 2006, section 5.6): fits, mixture panels, calibration,
branch coverage over the inputs and best-of-S curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import PowerNorm
from matplotlib.lines import Line2D

from plausible.viz._common import ArrayLike, PathLike, new_figure, save_figure, to_numpy
from plausible.viz._prml import DATA_COLOUR, FIT_COLOUR, KERNEL_COLOURS, flat, kernel_colour

__all__ = [
    "KERNEL_COLOURS",
    "FitPanel",
    "best_of_k_curves",
    "coverage_map",
    "fit_figure",
    "mixture_figure",
    "pit_figure",
]


def _prml_axes(
    ax: Axes, xlim: tuple[float, float], ylim: tuple[float, float], xlabel: str, ylabel: str
) -> None:
    """Bare axes as in the book: ticks only at the ends of the unit range, italic labels."""
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel(f"${xlabel}$")
    ax.set_ylabel(f"${ylabel}$", rotation=0, labelpad=8)
    for axis, lim in ((ax.xaxis, xlim), (ax.yaxis, ylim)):
        ticks = [v for v in (0.0, 1.0) if lim[0] <= v <= lim[1]]
        axis.set_ticks(ticks)


def _data(
    ax: Axes, x: np.ndarray, y: np.ndarray, *, size: float = 14.0, alpha: float = 0.8
) -> None:
    ax.scatter(
        x,
        y,
        s=size,
        facecolors="none",
        edgecolors=DATA_COLOUR,
        linewidths=0.8,
        alpha=alpha,
        zorder=2,
    )


def _limits(values: np.ndarray, pad: float = 0.05) -> tuple[float, float]:
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    span = hi - lo or 1.0
    return lo - pad * span, hi + pad * span


@dataclass
class FitPanel:
    """One panel of :func:`fit_figure`: data points and a fitted curve.

    Attributes:
        x: ``(N,)`` inputs of the data.
        y: ``(N,)`` targets of the data.
        fit_x: ``(G,)`` sorted grid of inputs.
        fit_y: ``(G,)`` fitted values on the grid.
        title: Panel title.
        xlabel: Name of the input (rendered in math italics).
        ylabel: Name of the target.
    """

    x: ArrayLike
    y: ArrayLike
    fit_x: ArrayLike
    fit_y: ArrayLike
    title: str = ""
    xlabel: str = "x"
    ylabel: str = "t"


def fit_figure(
    panels: Sequence[FitPanel], path: PathLike, *, fit_label: str = "least squares"
) -> Path:
    """Data with a least-squares fit, one panel per problem (PRML figure 5.19).

    Args:
        panels: Panels left to right, e.g. the forward and the inverse problem.
        path: Where to write the PNG.
        fit_label: Legend entry of the red curve.

    Returns:
        ``path`` as a ``Path``.
    """
    if not panels:
        raise ValueError("fit_figure needs at least one panel")
    with new_figure((3.4 * len(panels), 3.1)) as fig:
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, panel in zip(axes, panels, strict=True):
            x, y = flat(panel.x), flat(panel.y)
            _data(ax, x, y)
            ax.plot(flat(panel.fit_x), flat(panel.fit_y), color=FIT_COLOUR, linewidth=2.0, zorder=3)
            _prml_axes(ax, _limits(x, 0.02), _limits(y, 0.04), panel.xlabel, panel.ylabel)
            ax.set_title(panel.title)
        handles = [
            Line2D(
                [],
                [],
                color=DATA_COLOUR,
                marker="o",
                markerfacecolor="none",
                linestyle="none",
                label="data",
            ),
            Line2D([], [], color=FIT_COLOUR, linewidth=2.0, label=fit_label),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
        return save_figure(fig, path)


def mixture_figure(
    data_x: ArrayLike,
    data_y: ArrayLike,
    grid_x: ArrayLike,
    probs: ArrayLike,
    locs: ArrayLike,
    density_y: ArrayLike,
    density: ArrayLike,
    mode: ArrayLike,
    path: PathLike,
    *,
    xlabel: str = "x",
    ylabel: str = "t",
    least_squares: ArrayLike | None = None,
    modes: ArrayLike | None = None,
) -> Path:
    """The four panels of PRML figure 5.21 for a 1-D input and 1-D target.

    (a) mixing coefficients ``pi_k(x)``; (b) component means ``mu_k(x)``; (c) the conditional
    density ``p(t|x)`` as a heat map with the approximate mode; (d) the data with the approximate
    mode (mean of the most probable component), and the least-squares fit for contrast.

    Args:
        data_x: ``(N,)`` inputs of the data shown.
        data_y: ``(N,)`` targets.
        grid_x: ``(G,)`` sorted inputs the model was evaluated on.
        probs: ``(G, K)`` mixing coefficients on the grid.
        locs: ``(G, K)`` component means on the grid.
        density_y: ``(H,)`` sorted target values of the heat map's rows.
        density: ``(H, G)`` conditional density ``p(t | x)``.
        mode: ``(G,)`` approximate mode on the grid.
        path: Where to write the PNG.
        xlabel: Input name.
        ylabel: Target name.
        least_squares: ``(G,)`` least-squares fit on the grid, drawn in panel (d) when given.
        modes: ``(G, M)`` all modes of ``p(t|x)`` on the grid (NaN-padded), drawn in panel (c).

    Returns:
        ``path`` as a ``Path``.
    """
    gx, ty = flat(grid_x), flat(density_y)
    dx, dy = flat(data_x), flat(data_y)
    pi = np.asarray(to_numpy(probs), dtype=np.float64).reshape(len(gx), -1)
    mu = np.asarray(to_numpy(locs), dtype=np.float64).reshape(len(gx), -1)
    dens = np.asarray(to_numpy(density), dtype=np.float64).reshape(len(ty), len(gx))
    mode_y = flat(mode)
    xlim, ylim = (float(gx[0]), float(gx[-1])), (float(ty[0]), float(ty[-1]))
    with new_figure((7.0, 6.0)) as fig:
        (ax_a, ax_b), (ax_c, ax_d) = fig.subplots(2, 2)
        for k in range(pi.shape[1]):
            ax_a.plot(gx, pi[:, k], color=kernel_colour(k), linewidth=1.8)
            ax_b.plot(gx, mu[:, k], color=kernel_colour(k), linewidth=1.8)
        _prml_axes(ax_a, xlim, (0.0, 1.02), xlabel, r"\pi_k")
        ax_a.set_title(r"(a) mixing coefficients $\pi_k(x)$")
        _prml_axes(ax_b, xlim, ylim, xlabel, r"\mu_k")
        ax_b.set_title(r"(b) component means $\mu_k(x)$")
        # Clip the colour scale so a few very sharp peaks do not wash out the rest.
        vmax = float(np.quantile(dens, 0.995)) or float(dens.max()) or 1.0
        ax_c.pcolormesh(
            gx,
            ty,
            dens,
            cmap="Blues",
            norm=PowerNorm(0.5, vmin=0.0, vmax=vmax),
            shading="auto",
            rasterized=True,
        )
        if modes is not None:
            all_modes = np.asarray(to_numpy(modes), dtype=np.float64).reshape(len(gx), -1)
            for m in range(all_modes.shape[1]):
                ax_c.scatter(gx, all_modes[:, m], s=1.5, color="black", zorder=4, linewidths=0)
        ax_c.scatter(gx, mode_y, s=4, color=FIT_COLOUR, zorder=3, label="approximate mode")
        _prml_axes(ax_c, xlim, ylim, xlabel, ylabel)
        ax_c.set_title(r"(c) density $p(t\,|\,x)$ and its modes")
        _data(ax_d, dx, dy, size=10, alpha=0.5)
        ax_d.scatter(gx, mode_y, s=6, color=FIT_COLOUR, zorder=3)
        if least_squares is not None:
            ax_d.plot(
                gx, flat(least_squares), color="0.35", linewidth=1.2, linestyle="--", zorder=3
            )
        _prml_axes(ax_d, xlim, ylim, xlabel, ylabel)
        ax_d.set_title("(d) approximate conditional mode")
        handles = [
            Line2D([], [], color=kernel_colour(k), linewidth=1.8, label=f"kernel {k + 1}")
            for k in range(pi.shape[1])
        ]
        handles += [
            Line2D(
                [],
                [],
                color=FIT_COLOUR,
                marker="o",
                markersize=3,
                linestyle="none",
                label="approximate mode",
            ),
            Line2D(
                [],
                [],
                color=DATA_COLOUR,
                marker="o",
                markerfacecolor="none",
                linestyle="none",
                label="data",
            ),
        ]
        if least_squares is not None:
            handles.append(Line2D([], [], color="0.35", linestyle="--", label="least squares"))
        if modes is not None:
            handles.append(
                Line2D(
                    [],
                    [],
                    color="black",
                    marker="o",
                    markersize=2,
                    linestyle="none",
                    label="modes (fixed point)",
                )
            )
        fig.legend(
            handles=handles, loc="outside lower center", ncol=min(len(handles), 4), frameon=False
        )
        return save_figure(fig, path)


def pit_figure(pits: Mapping[str, ArrayLike], path: PathLike, *, num_bins: int = 20) -> Path:
    """Probability integral transform histograms, one panel per model; flat at 1 if calibrated.

    Args:
        pits: Model name -> ``(N,)`` PIT values ``F(y | x)`` in ``[0, 1]``.
        path: Where to write the PNG.
        num_bins: Histogram bins.
    """
    if not pits:
        raise ValueError("pit_figure needs at least one model's PIT values")
    with new_figure((3.2 * len(pits), 2.8)) as fig:
        axes = fig.subplots(1, len(pits), squeeze=False, sharey=True)[0]
        for ax, (name, values) in zip(axes, pits.items(), strict=True):
            v = flat(values)
            ax.hist(
                v, bins=num_bins, range=(0, 1), density=True, color="#7f9fd9", edgecolor="white"
            )
            ax.axhline(1.0, color="0.2", linestyle="--", linewidth=1.0)
            ax.set_xlim(0, 1)
            ax.set_xlabel(r"PIT $F(y\,|\,x)$")
            ax.set_title(name)
        axes[0].set_ylabel("density")
        fig.suptitle("Calibration: PIT histograms (flat = calibrated)")
        return save_figure(fig, path)


def coverage_map(
    points: ArrayLike,
    covered: ArrayLike,
    num_solutions: ArrayLike,
    path: PathLike,
    *,
    title: str = "Branch coverage over the workspace",
    xlabel: str = "x_1",
    ylabel: str = "x_2",
) -> Path:
    """Test inputs in a 2-D input space, marked covered or missed, shaded by solution count.

    Args:
        points: ``(N, 2)`` inputs (e.g. end-effector positions).
        covered: ``(N,)`` bool: every true solution had a hypothesis within tolerance.
        num_solutions: ``(N,)`` number of true solutions (0: outside the workspace, not drawn).
        path: Where to write the PNG.
        title: Figure title.
        xlabel: Name of the first input coordinate.
        ylabel: Name of the second.
    """
    p = np.asarray(to_numpy(points), dtype=np.float64)
    hit = np.asarray(to_numpy(covered), dtype=bool)
    count = np.asarray(to_numpy(num_solutions)).astype(int)
    with new_figure((5.0, 4.4)) as fig:
        ax = fig.subplots()
        for c, marker, colour in ((1, "o", "#9ecae1"), (2, "o", "#3182bd")):
            sel = (count == c) & hit
            ax.scatter(
                p[sel, 0],
                p[sel, 1],
                s=7,
                marker=marker,
                color=colour,
                label=f"covered, {c} solution{'s' if c > 1 else ''}",
            )
        for c in np.unique(count[count > 2]):
            sel = (count == c) & hit
            ax.scatter(p[sel, 0], p[sel, 1], s=7, color="#08519c", label=f"covered, {c} solutions")
        miss = ~hit & (count > 0)
        ax.scatter(p[miss, 0], p[miss, 1], s=16, marker="x", color=FIT_COLOUR, label="missed")
        ax.set_aspect("equal")
        ax.set_xlabel(f"${xlabel}$")
        ax.set_ylabel(f"${ylabel}$")
        share = hit[count > 0].mean() if (count > 0).any() else float("nan")
        ax.set_title(f"{title}\n{100 * share:.1f}% covered")
        ax.legend(loc="best", frameon=False, markerscale=1.5)
        return save_figure(fig, path)


def best_of_k_curves(
    num_samples: ArrayLike,
    errors: Mapping[str, ArrayLike],
    path: PathLike,
    *,
    ylabel: str = "error",
    title: str = "Best-of-S error against the number of samples",
) -> Path:
    """Mean best-of-S error as the number of samples S grows, one line per model.

    Args:
        num_samples: ``(L,)`` values of S.
        errors: Model name -> ``(L,)`` mean best-of-S error.
        path: Where to write the PNG.
        ylabel: Error name and unit.
        title: Figure title.
    """
    s = flat(num_samples)
    with new_figure((4.6, 3.4)) as fig:
        ax = fig.subplots()
        for k, (name, values) in enumerate(errors.items()):
            colour = FIT_COLOUR if "least" in name.lower() else kernel_colour(k)
            ax.plot(s, flat(values), marker="o", markersize=3.5, color=colour, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("samples S")
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.set_title(title)
        ax.legend(frameon=False)
        return save_figure(fig, path)
