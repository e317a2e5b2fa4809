"""Figures of kinematic inverse problems: two-link arms, solution branches, lifted poses."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from plausible.viz._common import ArrayLike, PathLike, new_figure, save_figure, to_numpy
from plausible.viz._prml import FIT_COLOUR, flat, hypothesis_colour

__all__ = ["arm_points", "pose_figure", "robot_arm_figure", "solution_branches_figure"]


def arm_points(lengths: Sequence[float], angles: np.ndarray) -> np.ndarray:
    """Shoulder, elbow and end effector of a two-link arm: ``(..., 3, 2)`` for angles ``(..., 2)``.

    The elbow angle is relative to the first link, as in :class:`plausible.data.toy.TwoLinkArm`.
    """
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
                pts = arm_points(lengths, sol[i, m])
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
                pts = arm_points(lengths, hyp[i, h])
                alpha = float(np.clip(0.25 + 0.75 * w[i, h] / w[i].max(), 0.25, 1.0))
                ax.plot(
                    pts[:, 0],
                    pts[:, 1],
                    color=hypothesis_colour(rank),
                    linewidth=1.8,
                    marker="o",
                    markersize=3,
                    alpha=alpha,
                    zorder=3,
                )
            if ls is not None:
                pts = arm_points(lengths, ls[i])
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
                color=hypothesis_colour(0),
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


def _draw_skeleton(
    ax: Axes, joints: np.ndarray, parents: Sequence[int], axes_idx: tuple[int, int], **style: Any
) -> None:
    a, b = axes_idx
    for j, p in enumerate(parents):
        if p >= 0:
            ax.plot([joints[p, a], joints[j, a]], [joints[p, b], joints[j, b]], **style)


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
                    planar = np.concatenate([x2[i], np.zeros_like(x2[i, :, :1])], -1)
                    _draw_skeleton(ax, planar, parents, idx, color="black", linewidth=1.8)
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
                            color=hypothesis_colour(rank),
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
                count = int(flat(num_solutions)[i])
                title = f"{count} true answer{'s' if count != 1 else ''}\n{title}"
            axes[0, i].set_title(title, fontsize=9)
        handles = [
            Line2D([], [], color="black", alpha=0.25, linewidth=4, label="truth"),
            Line2D(
                [],
                [],
                color=hypothesis_colour(0),
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
    s = flat(param)
    sol = np.asarray(to_numpy(solutions), dtype=np.float64)
    ok = np.asarray(to_numpy(valid), dtype=bool)
    hyp = np.asarray(to_numpy(hypotheses), dtype=np.float64)
    w = np.asarray(to_numpy(weights), dtype=np.float64)
    ls = None if least_squares is None else np.asarray(to_numpy(least_squares), dtype=np.float64)
    d = sol.shape[-1]
    labels = list(target_labels) or [f"y_{i + 1}" for i in range(d)]
    rgba = np.zeros((*w.shape, 4))
    rgba[..., :3] = np.array([int(hypothesis_colour(0)[i : i + 2], 16) / 255 for i in (1, 3, 5)])
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
                color=hypothesis_colour(0),
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
