"""Sequences for the explorer: an observed past and a future as one small line plot.

A model whose inputs and outputs are both ``(T, D)`` sequences (a history of ``T_obs`` frames
and a future of ``T_pred``) gets its conditions and outputs drawn as pictures of
``PICTURE_SIZE`` pixels, in one of three styles chosen by the data's shape:

- ``"skeleton"``: the task names ``bones`` (pairs of joint indices) and a frame holds ``D = 2 J``
  joint positions: a filmstrip of poses, the last observed one in black, then the future's;
- ``"trajectory"``: ``D = 2``: the path in the plane, the history in black, the future coloured;
- ``"channels"``: any other ``D`` (e.g. motion-capture angles): the first few channels over
  time, each in its own lane, with the boundary between history and future marked.

Every picture of one explorer shares one scale, taken from the data, so moving a slider moves
the drawing instead of rescaling it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from torch import Tensor

from plausible.viz._prml import hypothesis_colour, kernel_colour
from plausible.viz.sequences import check_bones, frame_indices, pose_segments

__all__ = ["PICTURE_SIZE", "SequencePictures", "sequence_pictures"]

#: ``(height, width)`` of every sequence picture, in pixels.
PICTURE_SIZE = (160, 240)
#: Channels drawn for sequences that are neither paths nor stick figures.
MAX_CHANNELS = 4
#: Poses in a filmstrip: the last observed one, then evenly spaced frames of the future.
POSES = 5

_DPI = 80
_PAST, _FUTURE, _BOUNDARY = "black", hypothesis_colour(0), "0.75"

Style = Literal["trajectory", "skeleton", "channels"]
#: A polyline ``(P, 2)`` with its colour and width in points.
_Line = tuple[np.ndarray, str, float]


def _span(values: np.ndarray, pad: float = 0.06) -> tuple[float, float]:
    """Finite ``(low, high)`` around the finite values, widened by ``pad`` of the range."""
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
    margin = pad * (high - low) or 0.5 * max(abs(low), 1.0)
    return low - margin, high + margin


def _equal_aspect(
    xs: tuple[float, float], ys: tuple[float, float]
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Widen one range so that a data unit spans as many pixels across as up."""
    height, width = PICTURE_SIZE
    per_pixel = max((xs[1] - xs[0]) / width, (ys[1] - ys[0]) / height)
    cx, cy = (xs[0] + xs[1]) / 2, (ys[0] + ys[1]) / 2
    half_x, half_y = per_pixel * width / 2, per_pixel * height / 2
    return (cx - half_x, cx + half_x), (cy - half_y, cy + half_y)


class _Plot:
    """One Agg figure kept for every redraw: only its one ``LineCollection`` changes."""

    def __init__(self) -> None:
        height, width = PICTURE_SIZE
        self.figure = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, facecolor="white")
        self.canvas = FigureCanvasAgg(self.figure)
        self.axes = self.figure.add_axes((0.0, 0.0, 1.0, 1.0))
        self.axes.set_axis_off()
        self.lines = LineCollection([], capstyle="round", joinstyle="round")
        self.axes.add_collection(self.lines)

    def draw(
        self, lines: Sequence[_Line], xlim: tuple[float, float], ylim: tuple[float, float]
    ) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB of the polylines within the given limits."""
        self.lines.set_segments([points for points, _, _ in lines])
        self.lines.set_colors([colour for _, colour, _ in lines])
        self.lines.set_linewidth([width for _, _, width in lines])
        self.axes.set_xlim(xlim)
        self.axes.set_ylim(ylim)
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


class SequencePictures:
    """Draws histories ``(T_obs, D)`` and futures ``(T_pred, D)`` on one scale.

    Args:
        x: ``(N, T_obs, D)`` histories of the explored split (they set the scale).
        y: ``(N, T_pred, D)`` their real futures.
        bones: Pairs of joint indices when a frame holds ``D = 2 J`` joint positions.

    Raises:
        ValueError: When ``x`` and ``y`` are not sequences of the same ``D``, or ``bones`` do
            not fit ``D``.
    """

    def __init__(
        self, x: Tensor, y: Tensor, *, bones: Sequence[tuple[int, int]] | None = None
    ) -> None:
        if x.ndim != 3 or y.ndim != 3 or x.shape[-1] != y.shape[-1] or len(x) != len(y):
            raise ValueError(
                "sequence pictures need histories (N, T_obs, D) and futures (N, T_pred, D) of "
                f"one N and D; got {tuple(x.shape)} and {tuple(y.shape)}"
            )
        past = x.detach().double().cpu().numpy()
        future = y.detach().double().cpu().numpy()
        self.t_obs, self.t_pred, dim = past.shape[1], future.shape[1], past.shape[2]
        self.bones = None if bones is None else check_bones(bones, dim)
        self.style: Style = (
            "skeleton" if self.bones is not None else "trajectory" if dim == 2 else "channels"
        )
        self.channels = min(dim, MAX_CHANNELS)
        both = np.concatenate([past, future], axis=1)  # (N, T, D)
        if self.style == "trajectory":
            self.xlim, self.ylim = _equal_aspect(_span(both[..., 0]), _span(both[..., 1]))
        elif self.style == "skeleton":
            xs = both[..., 0::2] - past[:, -1:, 0::2].mean(-1, keepdims=True)
            low, high = _span(xs, pad=0.0)
            self.step = 1.15 * (high - low)
            xlim = (low - 0.1 * self.step, high + (POSES - 0.9) * self.step)
            self.xlim, self.ylim = _equal_aspect(xlim, _span(both[..., 1::2]))
        else:
            lanes = both[..., : self.channels].reshape(-1, self.channels)
            self.lows, self.highs = np.nanmin(lanes, 0), np.nanmax(lanes, 0)
            self.xlim = (-self.t_obs + 0.5, self.t_pred + 0.5)
            self.ylim = (0.0, float(self.channels))
        self._plot = _Plot()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the pictures (RGB)."""
        return (3, *PICTURE_SIZE)

    def history(self, x: Tensor) -> np.ndarray:
        """``(H, W, 3)`` uint8 picture of one history ``(T_obs, D)``."""
        return self._plot.draw(self._lines(self._numpy(x, self.t_obs), None), self.xlim, self.ylim)

    def future(self, x: Tensor, y: Tensor) -> np.ndarray:
        """``(H, W, 3)`` uint8 picture of a future ``(T_pred, D)`` after its history."""
        lines = self._lines(self._numpy(x, self.t_obs), self._numpy(y, self.t_pred))
        return self._plot.draw(lines, self.xlim, self.ylim)

    def _numpy(self, seq: Tensor, length: int) -> np.ndarray:
        return seq.detach().double().cpu().numpy().reshape(length, -1)

    def _lines(self, past: np.ndarray, future: np.ndarray | None) -> list[_Line]:
        if self.style == "trajectory":
            lines = [(past, _PAST, 1.6)]
            if future is not None:
                lines.append((np.concatenate([past[-1:], future]), _FUTURE, 1.6))
            return lines
        if self.style == "skeleton":
            return self._poses(past, future)
        return self._lanes(past, future)

    def _poses(self, past: np.ndarray, future: np.ndarray | None) -> list[_Line]:
        """The history's poses in black; with a future, its last pose then the future's."""
        assert self.bones is not None
        if future is None:
            groups = [(past[frame_indices(self.t_obs, POSES)], _PAST)]
        else:
            groups = [(past[-1:], _PAST), (future[frame_indices(self.t_pred, POSES - 1)], _FUTURE)]
        centre = past[-1, 0::2].mean()
        lines: list[_Line] = []
        first = 0
        for poses, colour in groups:
            offsets = self.step * np.arange(first, first + len(poses)) - centre
            lines += [(s, colour, 1.4) for s in pose_segments(poses, self.bones, offsets)]
            first += len(poses)
        return lines

    def _lanes(self, past: np.ndarray, future: np.ndarray | None) -> list[_Line]:
        """Channel ``c`` scaled into lane ``[C - 1 - c, C - c]`` by its range over the data."""
        times = np.arange(-self.t_obs + 1, 1, dtype=np.float64)
        lines: list[_Line] = [(np.array([[0.5, 0.0], [0.5, self.channels]]), _BOUNDARY, 1.0)]
        for c in range(self.channels):
            lane = self.channels - 1 - c
            scale = 0.8 / max(float(self.highs[c] - self.lows[c]), 1e-12)

            def place(
                t: np.ndarray, v: np.ndarray, lane: int = lane, c: int = c, scale: float = scale
            ) -> np.ndarray:
                return np.stack([t, lane + 0.1 + scale * (v - self.lows[c])], -1)

            lines.append((place(times, past[:, c]), kernel_colour(c), 1.0))
            if future is not None:
                ahead = np.arange(0, self.t_pred + 1, dtype=np.float64)
                values = np.concatenate([past[-1:, c], future[:, c]])
                lines.append((place(ahead, values), kernel_colour(c), 2.0))
        return lines


def sequence_pictures(
    x_shape: Sequence[int],
    y_shape: Sequence[int],
    x: Tensor,
    y: Tensor,
    *,
    bones: Sequence[tuple[int, int]] | None = None,
) -> SequencePictures | None:
    """Pictures for a model of ``(T_obs, D) -> (T_pred, D)`` sequences; ``None`` for any other.

    Args:
        x_shape: The model's input shape.
        y_shape: The model's output shape.
        x: ``(N, *x_shape)`` inputs of the explored split.
        y: ``(N, *y_shape)`` their targets.
        bones: The task's ``info["bones"]``, when its frames are stick figures.
    """
    if len(x_shape) != 2 or len(y_shape) != 2 or x_shape[1] != y_shape[1]:
        return None
    return SequencePictures(x.reshape(-1, *x_shape), y.reshape(-1, *y_shape), bones=bones)
