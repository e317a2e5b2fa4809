"""Figures of sequence forecasts: sampled futures by mode, and stick-figure filmstrips."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D

from plausible.viz._common import ArrayLike, PathLike, new_figure, save_figure, to_numpy
from plausible.viz._prml import hypothesis_colour, kernel_colour

__all__ = [
    "OFF_MODE",
    "channel_forecast_figure",
    "check_bones",
    "forecast_figure",
    "frame_indices",
    "pose_segments",
    "skeleton_filmstrip",
]

#: Mode index of a sample that is on no mode (e.g. farther than the law's tolerance from all).
OFF_MODE = -1
_OFF_COLOUR = "0.6"


def _array(name: str, value: ArrayLike, ndim: int, what: str) -> np.ndarray:
    arr = np.asarray(to_numpy(value), dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {what}; got shape {arr.shape}")
    return arr


def frame_indices(length: int, count: int) -> np.ndarray:
    """``min(count, length)`` evenly spaced indices of ``range(length)``, ending at the last."""
    if length < 1 or count < 1:
        raise ValueError(f"need at least one frame and one pose; got {length} and {count}")
    return np.unique(np.round(np.linspace(0, length - 1, min(count, length)))).astype(int)


def check_bones(bones: Sequence[tuple[int, int]], dim: int) -> list[tuple[int, int]]:
    """Validate bones (pairs of joint indices) against ``dim = 2 J`` position values per frame."""
    if dim % 2:
        raise ValueError(f"stick figures need 2 values (x, y) per joint; a frame holds {dim}")
    joints = dim // 2
    pairs = [tuple(int(j) for j in bone) for bone in bones]
    bad = [p for p in pairs if len(p) != 2 or not all(0 <= j < joints for j in p)]
    if not pairs or bad:
        raise ValueError(
            f"bones must be pairs of joint indices in [0, {joints}) for {joints} joints "
            f"(frames of {dim} values); got {bad or 'none'}"
        )
    return [(a, b) for a, b in pairs]


def pose_segments(
    poses: np.ndarray, bones: Sequence[tuple[int, int]], offsets: np.ndarray
) -> np.ndarray:
    """Bone segments of poses placed side by side, for a ``LineCollection``.

    Args:
        poses: ``(F, 2 J)`` joint positions ``x_0, y_0, x_1, y_1, ...`` of ``F`` poses.
        bones: Pairs of joint indices.
        offsets: ``(F,)`` horizontal shift of each pose (its place in the strip).

    Returns:
        ``(F * len(bones), 2, 2)``: pose by pose, bone by bone, the two ends' ``(x, y)``.
    """
    joints = (
        poses.reshape(len(poses), -1, 2) + np.stack([offsets, np.zeros_like(offsets)], -1)[:, None]
    )
    ends = np.asarray(bones, dtype=int)
    return joints[:, ends].reshape(-1, 2, 2)


def _mode_colour(mode: int) -> str:
    return _OFF_COLOUR if mode == OFF_MODE else kernel_colour(mode)


def forecast_figure(
    history: ArrayLike,
    futures: ArrayLike,
    truth: ArrayLike,
    path: PathLike,
    *,
    modes: ArrayLike | None = None,
    mode_means: ArrayLike | None = None,
    mode_names: Sequence[str] | None = None,
    annotations: Sequence[str] | None = None,
    max_examples: int = 6,
    title: str | None = "Sampled futures of 2-D trajectories",
) -> Path:
    """One panel per example: the history, K sampled futures coloured by mode, the real future.

    Each sampled future is a thin line from the last observed point, in the colour of the true
    mode it was assigned to (``modes``, e.g. the nearest mode mean); the legend gives each mode's
    share of the samples drawn. True mode means are dashed, the real future is thick and grey.

    Args:
        history: ``(N, T_obs, 2)`` observed paths.
        futures: ``(K, N, T_pred, 2)`` sampled futures.
        truth: ``(N, T_pred, 2)`` real futures.
        path: Where to write the PNG.
        modes: ``(K, N)`` integer mode of each sample, or ``OFF_MODE`` (-1) for a sample on no
            mode (drawn grey); without it every sample has one colour.
        mode_means: ``(N, M, T_pred, 2)`` noise-free future of each true mode.
        mode_names: ``M`` names for the legend (default ``mode 0``, ...).
        annotations: One line per example under its panel's title (e.g. its coverage).
        max_examples: The first this many examples are drawn.
        title: Figure title.

    Returns:
        ``path`` as a ``Path``.
    """
    hist = _array("history", history, 3, "(N, T_obs, 2)")
    fut = _array("futures", futures, 4, "(K, N, T_pred, 2)")
    real = _array("truth", truth, 3, "(N, T_pred, 2)")
    n, k = len(hist), len(fut)
    if (
        min(n, k) < 1
        or hist.shape[-1] != 2
        or fut.shape[1:] != real.shape
        or real.shape[::2] != (n, 2)
    ):
        raise ValueError(
            "forecast_figure needs history (N, T_obs, 2), futures (K, N, T_pred, 2) and truth "
            f"(N, T_pred, 2) with one N, T_pred and D = 2; got {hist.shape}, {fut.shape}, "
            f"{real.shape}"
        )
    means = None if mode_means is None else _array("mode_means", mode_means, 4, "(N, M, T, 2)")
    if means is not None and (len(means) != n or means.shape[2:] != real.shape[1:]):
        raise ValueError(f"mode_means must be (N, M, T_pred, 2) = (N={n}, M, {real.shape[1:]})")
    labels = None if modes is None else np.asarray(to_numpy(modes)).astype(int)
    num_modes = (
        len(mode_names)
        if mode_names is not None
        else means.shape[1]
        if means is not None
        else int(labels.max()) + 1
        if labels is not None
        else 0
    )
    if means is not None and means.shape[1] != num_modes:
        raise ValueError(f"{means.shape[1]} mode means but {num_modes} mode names")
    if labels is not None and (
        labels.shape != (k, n) or labels.min() < OFF_MODE or labels.max() >= num_modes
    ):
        raise ValueError(
            f"modes must be (K, N) = {(k, n)} integers in [0, {num_modes}) or {OFF_MODE}; "
            f"got shape {labels.shape}, values {sorted(set(labels.flatten().tolist()))[:8]}"
        )
    if annotations is not None and len(annotations) != n:
        raise ValueError(f"need one annotation per example ({n}); got {len(annotations)}")
    shown = min(n, max_examples)
    names = list(mode_names) if mode_names is not None else [f"mode {m}" for m in range(num_modes)]
    ncols = min(shown, 3)
    nrows = -(-shown // ncols)
    with new_figure((3.0 * ncols, 3.0 * nrows + 0.6)) as fig:
        axes = fig.subplots(nrows, ncols, squeeze=False).reshape(-1)
        for i, ax in enumerate(axes):
            if i >= shown:
                ax.set_axis_off()
                continue
            start = hist[i, -1:]
            if means is not None:
                for m in range(num_modes):
                    line = np.concatenate([start, means[i, m]])
                    ax.plot(*line.T, color=_mode_colour(m), linestyle="--", linewidth=1.2, zorder=3)
            for s in range(k):
                colour = hypothesis_colour(0) if labels is None else _mode_colour(labels[s, i])
                line = np.concatenate([start, fut[s, i]])
                ax.plot(*line.T, color=colour, linewidth=0.7, alpha=0.6, zorder=2)
            ax.plot(*np.concatenate([start, real[i]]).T, color="0.35", linewidth=3.0, zorder=1)
            ax.plot(*hist[i].T, color="black", linewidth=1.8, marker="o", markevery=[-1], zorder=4)
            ax.set_aspect("equal", adjustable="datalim")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"example {i}" + ("" if annotations is None else f"\n{annotations[i]}"))
        handles = [
            Line2D([], [], color="black", linewidth=1.8, marker="o", label="observed"),
            Line2D([], [], color="0.35", linewidth=3.0, label="real future"),
        ]
        if means is not None:
            handles.append(Line2D([], [], color="0.3", linestyle="--", label="true mode means"))
        if labels is None:
            handles.append(Line2D([], [], color=hypothesis_colour(0), label=f"{k} samples"))
        else:
            drawn = labels[:, :shown]
            for m in [*range(num_modes), OFF_MODE]:
                share = float(np.mean(drawn == m))
                if m == OFF_MODE and share == 0:
                    continue
                name = "on no mode" if m == OFF_MODE else names[m]
                handles.append(Line2D([], [], color=_mode_colour(m), label=f"{name}: {share:.0%}"))
        fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
        if title:
            fig.suptitle(title)
        return save_figure(fig, path)


def skeleton_filmstrip(
    history: ArrayLike,
    futures: ArrayLike,
    bones: Sequence[tuple[int, int]],
    path: PathLike,
    *,
    frames: int = 6,
    labels: Sequence[str] | None = None,
    title: str | None = "Observed motion and sampled continuations",
) -> Path:
    """A strip of poses for the observed prefix, then one strip per sampled future.

    Every row shares one scale; poses are shifted horizontally by the same step, after removing
    the mean x of the last observed pose, so a drift of the whole figure stays visible.

    Args:
        history: ``(T_obs, 2 J)`` observed joint positions.
        futures: ``(K, T_pred, 2 J)`` sampled continuations, at most 6.
        bones: Pairs of joint indices drawn as lines.
        path: Where to write the PNG.
        frames: Poses per row, at evenly spaced frames (the history's strip ends at its last
            frame, a future's at its last).
        labels: ``K`` row names (default ``future 1``, ...).
        title: Figure title.

    Returns:
        ``path`` as a ``Path``.
    """
    hist = _array("history", history, 2, "(T_obs, 2 J)")
    fut = _array("futures", futures, 3, "(K, T_pred, 2 J)")
    k = len(fut)
    if fut.shape[-1] != hist.shape[-1] or not 1 <= k <= 6:
        raise ValueError(
            f"skeleton_filmstrip needs history (T_obs, 2 J) and 1 to 6 futures (K, T_pred, 2 J) "
            f"with the same 2 J; got {hist.shape} and {fut.shape}"
        )
    pairs = check_bones(bones, hist.shape[-1])
    names = list(labels) if labels is not None else [f"future {s + 1}" for s in range(k)]
    if len(names) != k:
        raise ValueError(f"need one label per future ({k}); got {len(names)}")
    t_obs, t_pred = len(hist), fut.shape[1]
    past, ahead = frame_indices(t_obs, frames), frame_indices(t_pred, frames)
    rows = [hist[past], *fut[:, ahead]]
    centre = hist[-1, 0::2].mean()
    xs = np.concatenate([r[:, 0::2].ravel() for r in rows]) - centre
    ys = np.concatenate([r[:, 1::2].ravel() for r in rows])
    step = 1.15 * max(float(np.ptp(xs)), 1e-6)
    pad = 0.08 * max(float(np.ptp(ys)), 1e-6)
    width = max(len(past), len(ahead))
    with new_figure((1.0 + 0.9 * width, 1.25 * (k + 1) + 0.4)) as fig:
        axes = fig.subplots(k + 1, 1, squeeze=False)[:, 0]
        for r, (ax, poses) in enumerate(zip(axes, rows, strict=True)):
            offsets = step * np.arange(len(poses)) - centre
            colour = "black" if r == 0 else kernel_colour(r - 1)
            ax.add_collection(
                LineCollection(
                    list(pose_segments(poses, pairs, offsets)), colors=colour, linewidths=1.6
                )
            )
            times = past - (t_obs - 1) if r == 0 else ahead + 1
            ax.set_xticks(step * np.arange(len(poses)) + float(xs.min() + xs.max()) / 2)
            ax.set_xticklabels([f"t{t:+d}" if t else "t" for t in times], fontsize=7)
            ax.set_xlim(float(xs.min()) - 0.1 * step, float(xs.max()) + step * (width - 0.9))
            ax.set_ylim(float(ys.min()) - pad, float(ys.max()) + pad)
            ax.set_aspect("equal")
            ax.set_yticks([])
            ax.set_ylabel("observed" if r == 0 else names[r - 1], fontsize=8)
        if title:
            fig.suptitle(title)
        return save_figure(fig, path)


def channel_forecast_figure(
    history: ArrayLike,
    futures: ArrayLike,
    truth: ArrayLike,
    path: PathLike,
    *,
    channels: int = 4,
    title: str | None = "Sampled futures of the first channels",
) -> Path:
    """The first channels of one example over time, one lane each, for frames of any size.

    Time runs from ``-(T_obs - 1)`` (first observed frame) through ``0`` (last observed frame,
    marked by a vertical line) to ``T_pred``; every future starts from the last observed value,
    so a jump at the boundary is visible.

    Args:
        history: ``(T_obs, D)`` observed frames (drawn black).
        futures: ``(K, T_pred, D)`` sampled futures (thin, one colour each).
        truth: ``(T_pred, D)`` the real future (thick, grey).
        path: Where to write the PNG.
        channels: How many of the first channels to draw (at most ``D``).
        title: Figure title.

    Returns:
        ``path`` as a ``Path``.
    """
    hist = _array("history", history, 2, "(T_obs, D)")
    fut = _array("futures", futures, 3, "(K, T_pred, D)")
    real = _array("truth", truth, 2, "(T_pred, D)")
    t_obs, dim = hist.shape
    if min(t_obs, dim, len(fut)) < 1 or fut.shape[1:] != real.shape or real.shape[1] != dim:
        raise ValueError(
            "channel_forecast_figure needs history (T_obs, D), futures (K, T_pred, D) and truth "
            f"(T_pred, D) with one T_pred and D, and K >= 1; got {hist.shape}, {fut.shape}, "
            f"{real.shape}"
        )
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    shown = min(int(channels), dim)
    past_t = np.arange(-t_obs + 1, 1)
    ahead_t = np.arange(0, real.shape[0] + 1)
    with new_figure((7.0, 1.5 * shown + 0.9)) as fig:
        axes = fig.subplots(shown, 1, sharex=True, squeeze=False)[:, 0]
        for c, ax in enumerate(axes):
            start = hist[-1:, c]
            ax.axvline(0.0, color="0.75", linewidth=1.0, zorder=0)
            ax.plot(ahead_t, np.concatenate([start, real[:, c]]), color="0.55", linewidth=3.0)
            for s in range(len(fut)):
                line = np.concatenate([start, fut[s, :, c]])
                ax.plot(ahead_t, line, color=kernel_colour(s), linewidth=0.8, alpha=0.8)
            ax.plot(past_t, hist[:, c], color="black", linewidth=1.6)
            ax.set_ylabel(f"channel {c}", fontsize=8)
        axes[-1].set_xlabel("frame (0 = last observed)")
        handles = [
            Line2D([], [], color="black", linewidth=1.6, label="observed"),
            Line2D([], [], color="0.55", linewidth=3.0, label="real future"),
            Line2D([], [], color=kernel_colour(0), linewidth=0.8, label=f"{len(fut)} samples"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
        if title:
            fig.suptitle(title)
        return save_figure(fig, path)
