"""Sequence figures: what each panel draws, readable PNGs, and the errors for bad shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.colors
import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure

import plausible.viz.sequences as sequences
from plausible.viz._prml import kernel_colour
from plausible.viz.sequences import (
    OFF_MODE,
    channel_forecast_figure,
    forecast_figure,
    frame_indices,
    pose_segments,
    skeleton_filmstrip,
)

#: A three-joint figure: hip (0), knee (1), foot (2).
BONES = [(0, 1), (1, 2)]


def _read(path: Path) -> np.ndarray:
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    return image[..., :3]


def _has_colour(image: np.ndarray, colour: str, tolerance: float = 0.02) -> bool:
    rgb = np.asarray(matplotlib.colors.to_rgb(colour))
    return bool((np.abs(image - rgb).max(-1) < tolerance).any())


class _Seen:
    """What a figure held when it was saved (it is cleared right after)."""

    def __init__(self, fig: Figure) -> None:
        self.lines = [
            [(ln.get_xdata(), ln.get_ydata(), ln.get_color()) for ln in ax.lines] for ax in fig.axes
        ]
        self.segments = [[c.get_segments() for c in ax.collections] for ax in fig.axes]
        self.legend = [t.get_text() for lg in fig.legends for t in lg.get_texts()]


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[_Seen]:
    """What every figure handed to ``save_figure`` drew, axes by axes."""
    seen: list[_Seen] = []
    real = sequences.save_figure

    def spy(fig: Figure, path: Any) -> Path:
        seen.append(_Seen(fig))
        return real(fig, path)

    monkeypatch.setattr(sequences, "save_figure", spy)
    return seen


def _trajectories(n: int = 4, k: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    history = np.cumsum(rng.normal(size=(n, 6, 2)), 1)
    futures = history[None, :, -1:] + np.cumsum(rng.normal(size=(k, n, 8, 2)), 2)
    truth = history[:, -1:] + np.cumsum(rng.normal(size=(n, 8, 2)), 1)
    return history, futures, truth


# -- channel_forecast_figure -------------------------------------------------------------------
def test_channel_figure_draws_each_channel_in_its_lane(tmp_path: Path, drawn: list[_Seen]) -> None:
    rng = np.random.default_rng(1)
    history, futures, truth = (
        rng.normal(size=(7, 6)),
        rng.normal(size=(3, 5, 6)),
        rng.normal(size=(5, 6)),
    )
    out = channel_forecast_figure(history, futures, truth, tmp_path / "c.png", channels=4)
    assert out == tmp_path / "c.png"
    image = _read(out)
    assert _has_colour(image, "black") and _has_colour(image, kernel_colour(0))
    lanes = drawn[0].lines[:4]  # one axes per channel, in order
    assert len(drawn[0].lines) == 4
    for c, lines in enumerate(lanes):
        xs, ys = zip(
            *[(np.asarray(x, float), np.asarray(y, float)) for x, y, _ in lines], strict=True
        )
        colours = [colour for _, _, colour in lines]
        past = colours.index("black")
        np.testing.assert_array_equal(xs[past], np.arange(-6, 1))
        np.testing.assert_array_equal(ys[past], history[:, c])
        # The real future and the three samples start at the last observed value.
        futures_drawn = [i for i in range(len(lines)) if i != past and len(ys[i]) == 6]
        assert len(futures_drawn) == 4
        for i in futures_drawn:
            assert ys[i][0] == history[-1, c]
            np.testing.assert_array_equal(xs[i], np.arange(0, 6))
        got = sorted(tuple(ys[i][1:]) for i in futures_drawn)
        want = sorted(tuple(v) for v in [*futures[:, :, c], truth[:, c]])
        np.testing.assert_array_equal(np.array(got), np.array(want))


def test_channel_figure_draws_no_more_channels_than_the_frames_hold(
    tmp_path: Path, drawn: list[_Seen]
) -> None:
    history, futures, truth = np.zeros((3, 2)), np.ones((2, 4, 2)), np.ones((4, 2))
    channel_forecast_figure(history, futures, truth, tmp_path / "c.png", channels=4, title=None)
    assert len(drawn[0].lines) == 2


@pytest.mark.parametrize(
    ("history", "futures", "truth", "pattern"),
    [
        ((7,), (3, 5, 6), (5, 6), r"history must be \(T_obs, D\)"),
        ((7, 6), (5, 6), (5, 6), r"futures must be \(K, T_pred, D\)"),
        ((7, 6), (3, 5, 6), (4, 6), r"one T_pred and D.*\(3, 5, 6\), \(4, 6\)"),
        ((7, 5), (3, 5, 6), (5, 6), r"one T_pred and D"),
        ((7, 6), (0, 5, 6), (5, 6), r"K >= 1"),
    ],
    ids=["flat-history", "one-future", "horizon", "frame-size", "no-future"],
)
def test_channel_figure_refuses_bad_shapes(
    tmp_path: Path, history: tuple, futures: tuple, truth: tuple, pattern: str
) -> None:
    with pytest.raises(ValueError, match=pattern):
        channel_forecast_figure(
            np.zeros(history), np.zeros(futures), np.zeros(truth), tmp_path / "c.png"
        )
    assert not (tmp_path / "c.png").exists()


def test_channel_figure_refuses_no_channels(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="channels must be >= 1"):
        channel_forecast_figure(
            np.zeros((3, 2)), np.zeros((1, 2, 2)), np.zeros((2, 2)), tmp_path / "c.png", channels=0
        )


# -- forecast_figure ---------------------------------------------------------------------------
def test_forecast_figure_colours_samples_by_mode(tmp_path: Path, drawn: list[_Seen]) -> None:
    history, futures, truth = _trajectories()
    modes = np.array([[0, 1, 2, OFF_MODE]] * 5)
    means = np.stack([truth, truth + 1, truth - 1], 1)
    forecast_figure(
        history,
        futures,
        truth,
        tmp_path / "f.png",
        modes=modes,
        mode_means=means,
        mode_names=["left", "straight", "right"],
        max_examples=4,
    )
    image = _read(tmp_path / "f.png")
    for m in range(3):
        assert _has_colour(image, kernel_colour(m)), m
    # Panel 3: every sample off all modes, drawn grey, from the last observed point.
    lines = drawn[0].lines[3]
    samples = [(x, y) for x, y, colour in lines if colour == "0.6"]
    assert len(samples) == 5
    for s, (x, y) in enumerate(samples):
        np.testing.assert_array_equal(np.stack([x, y], -1)[1:], futures[s, 3])
        np.testing.assert_array_equal([x[0], y[0]], history[3, -1])
    legend = drawn[0].legend
    assert "left: 25%" in legend and "on no mode: 25%" in legend


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"modes": np.zeros((5, 3), int)}, r"modes must be \(K, N\) = \(5, 4\)"),
        ({"modes": np.full((5, 4), 3), "mode_names": ["a", "b", "c"]}, r"integers in \[0, 3\)"),
        ({"mode_means": np.zeros((4, 3, 7, 2))}, r"mode_means must be"),
        ({"annotations": ["one"]}, r"one annotation per example \(4\)"),
    ],
    ids=["modes-shape", "modes-range", "means", "annotations"],
)
def test_forecast_figure_refuses_inconsistent_extras(
    tmp_path: Path, kwargs: dict[str, Any], pattern: str
) -> None:
    history, futures, truth = _trajectories()
    with pytest.raises(ValueError, match=pattern):
        forecast_figure(history, futures, truth, tmp_path / "f.png", **kwargs)


def test_forecast_figure_needs_planar_paths(tmp_path: Path) -> None:
    history, futures, truth = _trajectories()
    with pytest.raises(ValueError, match=r"D = 2"):
        forecast_figure(history[..., :1], futures[..., :1], truth[..., :1], tmp_path / "f.png")
    with pytest.raises(ValueError, match=r"futures must be \(K, N, T_pred, 2\)"):
        forecast_figure(history, futures[0], truth, tmp_path / "f.png")


# -- skeleton_filmstrip ------------------------------------------------------------------------
def _walk(frames: int, shift: float) -> np.ndarray:
    t = np.arange(frames)[:, None]
    pose = np.array([0.0, 1.0, 0.2, 0.5, 0.0, 0.0])  # x0 y0 x1 y1 x2 y2
    return pose + shift * np.concatenate([t, 0 * t] * 3, 1)


def test_filmstrip_draws_the_bones_of_every_chosen_pose(tmp_path: Path, drawn: list[_Seen]) -> None:
    history = _walk(8, 0.05)
    futures = np.stack([_walk(10, 0.1), _walk(10, -0.1)])
    skeleton_filmstrip(history, futures, BONES, tmp_path / "s.png", frames=4)
    image = _read(tmp_path / "s.png")
    assert _has_colour(image, "black") and _has_colour(image, kernel_colour(1))
    assert len(drawn[0].segments) == 3  # the observed row, then one per future
    segments = drawn[0].segments[1][0]
    picked = futures[0][frame_indices(10, 4)]
    assert len(segments) == 4 * len(BONES)
    # Bone lengths do not depend on where the pose is placed in the strip.
    lengths = [np.linalg.norm(s[1] - s[0]) for s in segments]
    joints = picked.reshape(4, 3, 2)
    want = [np.linalg.norm(p[b] - p[a]) for p in joints for a, b in BONES]
    np.testing.assert_allclose(lengths, want)


def test_pose_segments_shift_every_pose_by_its_offset() -> None:
    poses = np.array([[0.0, 0.0, 1.0, 2.0], [1.0, 1.0, 3.0, 1.0]])
    segments = pose_segments(poses, [(0, 1)], np.array([0.0, 10.0]))
    np.testing.assert_array_equal(segments, [[[0, 0], [1, 2]], [[11, 1], [13, 1]]])


def test_frame_indices_are_even_and_end_at_the_last_frame() -> None:
    np.testing.assert_array_equal(frame_indices(10, 4), [0, 3, 6, 9])
    np.testing.assert_array_equal(frame_indices(3, 6), [0, 1, 2])


@pytest.mark.parametrize(
    ("bones", "dim", "pattern"),
    [
        ([(0, 3)], 6, r"pairs of joint indices in \[0, 3\).*\(0, 3\)"),
        ([], 6, r"got none"),
        ([(0, 1)], 5, r"2 values \(x, y\) per joint; a frame holds 5"),
    ],
    ids=["out-of-range", "empty", "odd-frame"],
)
def test_filmstrip_refuses_bones_that_do_not_fit(
    tmp_path: Path, bones: list, dim: int, pattern: str
) -> None:
    with pytest.raises(ValueError, match=pattern):
        skeleton_filmstrip(np.zeros((4, dim)), np.zeros((2, 5, dim)), bones, tmp_path / "s.png")


def test_filmstrip_refuses_bad_shapes_and_labels(tmp_path: Path) -> None:
    history = _walk(4, 0.1)
    with pytest.raises(ValueError, match="1 to 6 futures"):
        skeleton_filmstrip(history, np.zeros((7, 5, 6)), BONES, tmp_path / "s.png")
    with pytest.raises(ValueError, match="same 2 J"):
        skeleton_filmstrip(history, np.zeros((2, 5, 4)), BONES, tmp_path / "s.png")
    with pytest.raises(ValueError, match=r"one label per future \(2\)"):
        skeleton_filmstrip(history, np.zeros((2, 5, 6)), BONES, tmp_path / "s.png", labels=["a"])
