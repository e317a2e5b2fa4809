"""PRML-style figures (Bishop 2006, section 5.6): fits, mixture panels, arms, poses, calibration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import PowerNorm
from matplotlib.lines import Line2D

from plausible.viz._common import ArrayLike, PathLike, new_figure, save_figure, to_numpy

__all__ = [
    "KERNEL_COLOURS",
    "FitPanel",
    "best_of_k_curves",
    "coverage_map",
    "fit_figure",
    "mixture_figure",
    "pit_figure",
    "pose_figure",
    "robot_arm_figure",
    "solution_branches_figure",
]

# PRML draws data as open green circles and fits in red; kernels in blue, red, green.
DATA_COLOUR = "#2ca02c"
FIT_COLOUR = "#d62728"
KERNEL_COLOURS = (
    "#1f4fd1",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
)


def _kernel_colour(k: int) -> str:
    return KERNEL_COLOURS[k % len(KERNEL_COLOURS)]


# Hypotheses drawn next to a red least-squares answer avoid red themselves.
_HYPOTHESIS_COLOURS = tuple(c for c in KERNEL_COLOURS if c != FIT_COLOUR)


def _hypothesis_colour(rank: int) -> str:
    return _HYPOTHESIS_COLOURS[rank % len(_HYPOTHESIS_COLOURS)]


def _flat(a: ArrayLike) -> np.ndarray:
    return np.asarray(to_numpy(a), dtype=np.float64).reshape(-1)


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
            x, y = _flat(panel.x), _flat(panel.y)
            _data(ax, x, y)
            ax.plot(
                _flat(panel.fit_x), _flat(panel.fit_y), color=FIT_COLOUR, linewidth=2.0, zorder=3
            )
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
    gx, ty = _flat(grid_x), _flat(density_y)
    dx, dy = _flat(data_x), _flat(data_y)
    pi = np.asarray(to_numpy(probs), dtype=np.float64).reshape(len(gx), -1)
    mu = np.asarray(to_numpy(locs), dtype=np.float64).reshape(len(gx), -1)
    dens = np.asarray(to_numpy(density), dtype=np.float64).reshape(len(ty), len(gx))
    mode_y = _flat(mode)
    xlim, ylim = (float(gx[0]), float(gx[-1])), (float(ty[0]), float(ty[-1]))
    with new_figure((7.0, 6.0)) as fig:
        (ax_a, ax_b), (ax_c, ax_d) = fig.subplots(2, 2)
        for k in range(pi.shape[1]):
            ax_a.plot(gx, pi[:, k], color=_kernel_colour(k), linewidth=1.8)
            ax_b.plot(gx, mu[:, k], color=_kernel_colour(k), linewidth=1.8)
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
                gx, _flat(least_squares), color="0.35", linewidth=1.2, linestyle="--", zorder=3
            )
        _prml_axes(ax_d, xlim, ylim, xlabel, ylabel)
        ax_d.set_title("(d) approximate conditional mode")
        handles = [
            Line2D([], [], color=_kernel_colour(k), linewidth=1.8, label=f"kernel {k + 1}")
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
            v = _flat(values)
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


def _arm_points(lengths: Sequence[float], angles: np.ndarray) -> np.ndarray:
    l1, l2 = lengths
    t1, t2 = angles[..., 0], angles[..., 1]
    elbow = np.stack([l1 * np.cos(t1), l1 * np.sin(t1)], -1)
    end = elbow + np.stack([l2 * np.cos(t1 + t2), l2 * np.sin(t1 + t2)], -1)
    return np.stack([np.zeros_like(elbow), elbow, end], -2)


def robot_arm_figure(
    lengths: Sequence[float],
    targets: ArrayLike,
    solutions: ArrayLike,
    valid: ArrayLike,
    hypotheses: ArrayLike,
    weights: ArrayLike,
    path: PathLike,
    *,
    least_squares: ArrayLike | None = None,
    ncols: int = 3,
) -> Path:
    """Two-link arms reaching for targets: true solutions, MDN hypotheses and least squares.

    Args:
        lengths: ``(L1, L2)`` link lengths.
        targets: ``(N, 2)`` end-effector targets.
        solutions: ``(N, M, 2)`` true joint angles (elbow down / elbow up), NaN-padded.
        valid: ``(N, M)`` which solutions exist.
        hypotheses: ``(N, H, 2)`` predicted joint angles (component means).
        weights: ``(N, H)`` mixing weights; line opacity follows them.
        path: Where to write the PNG.
        least_squares: ``(N, 2)`` least-squares joint angles, drawn dashed.
        ncols: Panels per row.
    """
    tgt = np.asarray(to_numpy(targets), dtype=np.float64)
    sol = np.asarray(to_numpy(solutions), dtype=np.float64)
    ok = np.asarray(to_numpy(valid), dtype=bool)
    hyp = np.asarray(to_numpy(hypotheses), dtype=np.float64)
    w = np.asarray(to_numpy(weights), dtype=np.float64)
    ls = None if least_squares is None else np.asarray(to_numpy(least_squares), dtype=np.float64)
    n = len(tgt)
    nrows = -(-n // ncols)
    reach = sum(lengths)
    with new_figure((2.6 * ncols, 2.6 * nrows + 0.4)) as fig:
        axes = fig.subplots(nrows, ncols, squeeze=False).reshape(-1)
        for i, ax in enumerate(axes):
            if i >= n:
                ax.set_axis_off()
                continue
            for m in np.nonzero(ok[i])[0]:
                pts = _arm_points(lengths, sol[i, m])
                ax.plot(
                    pts[:, 0],
                    pts[:, 1],
                    color="0.75",
                    linewidth=6,
                    solid_capstyle="round",
                    zorder=1,
                )
            order = np.argsort(-w[i])
            for rank, h in enumerate(order):
                pts = _arm_points(lengths, hyp[i, h])
                alpha = float(np.clip(0.25 + 0.75 * w[i, h] / w[i].max(), 0.25, 1.0))
                ax.plot(
                    pts[:, 0],
                    pts[:, 1],
                    color=_hypothesis_colour(rank),
                    linewidth=1.8,
                    marker="o",
                    markersize=3,
                    alpha=alpha,
                    zorder=3,
                )
            if ls is not None:
                pts = _arm_points(lengths, ls[i])
                ax.plot(
                    pts[:, 0], pts[:, 1], color=FIT_COLOUR, linewidth=1.4, linestyle="--", zorder=2
                )
            ax.plot(*tgt[i], marker="x", color="black", markersize=8, mew=2, zorder=4)
            ax.set_aspect("equal")
            ax.set_xlim(-0.1, reach + 0.05)
            ax.set_ylim(-0.1, reach + 0.05)
            ax.set_xticks([0, 1])
            ax.set_yticks([0, 1])
            ax.set_title(
                f"{int(ok[i].sum())} solution{'s' if ok[i].sum() != 1 else ''}", fontsize=9
            )
        handles = [
            Line2D([], [], color="0.75", linewidth=6, label="true solutions"),
            Line2D(
                [],
                [],
                color=_hypothesis_colour(0),
                marker="o",
                markersize=3,
                label="MDN hypotheses (opacity = weight)",
            ),
            Line2D([], [], color="black", marker="x", linestyle="none", label="target"),
        ]
        if ls is not None:
            handles.insert(
                2, Line2D([], [], color=FIT_COLOUR, linestyle="--", label="least squares")
            )
        fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
        fig.suptitle("Inverse kinematics: elbow-up and elbow-down solutions")
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


def _draw_skeleton(
    ax: Axes, joints: np.ndarray, parents: Sequence[int], axes_idx: tuple[int, int], **style: object
) -> None:
    a, b = axes_idx
    for j, p in enumerate(parents):
        if p >= 0:
            ax.plot([joints[p, a], joints[j, a]], [joints[p, b], joints[j, b]], **style)  # type: ignore[arg-type]


def pose_figure(
    parents: Sequence[int],
    inputs2d: ArrayLike,
    truth: ArrayLike,
    hypotheses: ArrayLike,
    weights: ArrayLike,
    path: PathLike,
    *,
    least_squares: ArrayLike | None = None,
    num_solutions: ArrayLike | None = None,
    min_weight: float = 0.05,
) -> Path:
    """Pose lifting, one column per example: the 2-D input, then side and top views in 3-D.

    Depth is lost in the orthographic input, so the side (z-y) and top (x-z) views are where the
    hypotheses differ: each mirrors some limbs about the image plane.

    Args:
        parents: Parent index of every joint (-1 for the root).
        inputs2d: ``(N, J, 2)`` observed 2-D joints.
        truth: ``(N, J, 3)`` true 3-D joints.
        hypotheses: ``(N, H, J, 3)`` predicted poses (component means).
        weights: ``(N, H)`` mixing weights; line opacity follows them.
        path: Where to write the PNG.
        least_squares: ``(N, J, 3)`` least-squares poses, drawn dashed.
        num_solutions: ``(N,)`` number of true 3-D answers of each input, for the titles.
        min_weight: Hypotheses lighter than this are not drawn.
    """
    x2 = np.asarray(to_numpy(inputs2d), dtype=np.float64)
    gt = np.asarray(to_numpy(truth), dtype=np.float64)
    hyp = np.asarray(to_numpy(hypotheses), dtype=np.float64)
    w = np.asarray(to_numpy(weights), dtype=np.float64)
    ls = None if least_squares is None else np.asarray(to_numpy(least_squares), dtype=np.float64)
    n = len(gt)
    views = (
        ("2-D input", (0, 1), "x", "y"),
        ("side view", (2, 1), "z (depth)", "y"),
        ("top view", (0, 2), "x", "z (depth)"),
    )
    shown = [hyp[i, w[i] >= min_weight] for i in range(n)]
    extent = np.concatenate([gt.reshape(-1, 3)] + [h.reshape(-1, 3) for h in shown])
    lim = float(np.nanmax(np.abs(extent))) * 1.08
    with new_figure((2.15 * n, 6.9)) as fig:
        axes = fig.subplots(3, n, squeeze=False)
        for i in range(n):
            order = [h for h in np.argsort(-w[i]) if w[i, h] >= min_weight]
            for r, (name, idx, xl, yl) in enumerate(views):
                ax = axes[r, i]
                if r == 0:
                    flat = np.concatenate([x2[i], np.zeros_like(x2[i, :, :1])], -1)
                    _draw_skeleton(ax, flat, parents, idx, color="black", linewidth=1.8)
                else:
                    _draw_skeleton(
                        ax,
                        gt[i],
                        parents,
                        idx,
                        color="black",
                        linewidth=4.0,
                        alpha=0.25,
                        solid_capstyle="round",
                    )
                    for rank, h in enumerate(order):
                        alpha = float(np.clip(0.3 + 0.7 * w[i, h] / w[i].max(), 0.3, 1.0))
                        _draw_skeleton(
                            ax,
                            hyp[i, h],
                            parents,
                            idx,
                            color=_hypothesis_colour(rank),
                            linewidth=1.4,
                            alpha=alpha,
                        )
                    if ls is not None:
                        _draw_skeleton(
                            ax, ls[i], parents, idx, color=FIT_COLOUR, linewidth=1.2, linestyle="--"
                        )
                ax.set_aspect("equal")
                ax.set_xlim(-lim, lim)
                ax.set_ylim(-lim, lim)
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_ylabel(f"{name}\n{yl}", fontsize=9)
                ax.set_xlabel(xl, fontsize=8)
            title = f"{len(order)} hypotheses shown"
            if num_solutions is not None:
                count = int(_flat(num_solutions)[i])
                title = f"{count} true answer{'s' if count != 1 else ''}\n{title}"
            axes[0, i].set_title(title, fontsize=9)
        handles = [
            Line2D([], [], color="black", alpha=0.25, linewidth=4, label="truth"),
            Line2D(
                [],
                [],
                color=_hypothesis_colour(0),
                label=f"MDN hypotheses, weight >= {min_weight:g} (opacity = weight)",
            ),
        ]
        if ls is not None:
            handles.append(Line2D([], [], color=FIT_COLOUR, linestyle="--", label="least squares"))
        fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
        fig.suptitle("Pose lifting: depth hypotheses for ambiguous 2-D poses")
        return save_figure(fig, path)


def solution_branches_figure(
    param: ArrayLike,
    solutions: ArrayLike,
    valid: ArrayLike,
    hypotheses: ArrayLike,
    weights: ArrayLike,
    path: PathLike,
    *,
    least_squares: ArrayLike | None = None,
    param_label: str = "s",
    target_labels: Sequence[str] = (),
    title: str = "",
) -> Path:
    """True solution branches and predicted hypotheses along a 1-D family of inputs.

    One panel per target coordinate: the true solutions as grey points (one curve per branch),
    the hypotheses as coloured points whose opacity follows their weight, and the least-squares
    answer in red, which runs between the branches.

    Args:
        param: ``(N,)`` sorted parameter of the inputs (e.g. the angle of the target on an arc).
        solutions: ``(N, M, D)`` true solutions, NaN-padded.
        valid: ``(N, M)`` which solutions exist.
        hypotheses: ``(N, H, D)`` predictions (component means).
        weights: ``(N, H)`` their weights.
        path: Where to write the PNG.
        least_squares: ``(N, D)`` least-squares predictions.
        param_label: Name of the parameter.
        target_labels: Names of the ``D`` target coordinates.
        title: Figure title.
    """
    s = _flat(param)
    sol = np.asarray(to_numpy(solutions), dtype=np.float64)
    ok = np.asarray(to_numpy(valid), dtype=bool)
    hyp = np.asarray(to_numpy(hypotheses), dtype=np.float64)
    w = np.asarray(to_numpy(weights), dtype=np.float64)
    ls = None if least_squares is None else np.asarray(to_numpy(least_squares), dtype=np.float64)
    d = sol.shape[-1]
    labels = list(target_labels) or [f"y_{i + 1}" for i in range(d)]
    rgba = np.zeros((*w.shape, 4))
    rgba[..., :3] = np.array([int(_hypothesis_colour(0)[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    rgba[..., 3] = np.clip(w / w.max(axis=1, keepdims=True), 0.08, 1.0)
    with new_figure((3.6 * d, 3.2)) as fig:
        axes = fig.subplots(1, d, squeeze=False)[0]
        for i, ax in enumerate(axes):
            for m in range(sol.shape[1]):
                sel = ok[:, m]
                ax.scatter(s[sel], sol[sel, m, i], s=30, color="0.8", zorder=1, linewidths=0)
            for h in range(hyp.shape[1]):
                ax.scatter(s, hyp[:, h, i], s=7, color=rgba[:, h], zorder=3, linewidths=0)
            if ls is not None:
                ax.plot(s, ls[:, i], color=FIT_COLOUR, linewidth=1.6, linestyle="--", zorder=2)
            ax.set_xlabel(f"${param_label}$")
            ax.set_ylabel(f"${labels[i]}$", rotation=0, labelpad=10)
        handles = [
            Line2D(
                [],
                [],
                color="0.8",
                marker="o",
                linestyle="none",
                markersize=6,
                label="true solutions",
            ),
            Line2D(
                [],
                [],
                color=_hypothesis_colour(0),
                marker="o",
                linestyle="none",
                markersize=4,
                label="MDN component means (opacity = weight)",
            ),
        ]
        if ls is not None:
            handles.append(Line2D([], [], color=FIT_COLOUR, linestyle="--", label="least squares"))
        fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
        if title:
            fig.suptitle(title)
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
    s = _flat(num_samples)
    with new_figure((4.6, 3.4)) as fig:
        ax = fig.subplots()
        for k, (name, values) in enumerate(errors.items()):
            colour = FIT_COLOUR if "least" in name.lower() else _kernel_colour(k)
            ax.plot(s, _flat(values), marker="o", markersize=3.5, color=colour, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("samples S")
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.set_title(title)
        ax.legend(frameon=False)
        return save_figure(fig, path)
