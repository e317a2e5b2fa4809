"""Dense-prediction figures: what every cell shows, the grid's layout, readable PNGs, and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.colors
import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure

import plausible.viz.dense as dense
from plausible.viz.dense import (
    OMITTED_COLOUR,
    UNCERTAINTY_CMAP,
    ambiguity_figure,
    input_cell,
    observed_cell,
    partial_observation_grid,
)

RED = np.asarray(matplotlib.colors.to_rgb(OMITTED_COLOUR))


class _Axes:
    """What one axes held when its figure was saved (figures are cleared right after)."""

    def __init__(self, ax: Any) -> None:
        self.arrays = [np.asarray(im.get_array()) for im in ax.images]
        self.clims = [im.get_clim() for im in ax.images]
        self.cmaps = [im.get_cmap().name for im in ax.images]
        self.title = ax.get_title()
        self.ylabel = ax.get_ylabel()
        self.is_colorbar = hasattr(ax, "_colorbar")


class _Seen:
    def __init__(self, fig: Figure) -> None:
        self.axes = [_Axes(ax) for ax in fig.axes]
        self.suptitle = fig.get_suptitle()

    def grid(self, ncols: int) -> list[list[_Axes]]:
        cells = [ax for ax in self.axes if not ax.is_colorbar]
        assert len(cells) % ncols == 0
        return [cells[i : i + ncols] for i in range(0, len(cells), ncols)]


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[_Seen]:
    """What every figure handed to ``save_figure`` drew."""
    seen: list[_Seen] = []
    real = dense.save_figure

    def spy(fig: Figure, path: Any) -> Path:
        seen.append(_Seen(fig))
        return real(fig, path)

    monkeypatch.setattr(dense, "save_figure", spy)
    return seen


def _png(path: Path) -> np.ndarray:
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) > 100 and max(image.shape[:2]) < 4000
    assert float(image[..., :3].std()) > 0.01
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    return image[..., :3]


def _has_colour(image: np.ndarray, rgb: np.ndarray, tolerance: float = 0.01) -> bool:
    return bool((np.abs(image - rgb).max(-1) < tolerance).any())


def _dense_batch(b: int = 3, c: int = 4, a: int = 3, k: int = 4, h: int = 8, w: int = 10) -> Any:
    rng = np.random.default_rng(0)
    images = rng.random((b, c, h, w))
    annotations = (rng.random((b, a, 1, h, w)) < 0.5).astype(float)
    samples = rng.random((k, b, 1, h, w))
    mean = samples.mean(0)
    uncertainty = 0.7 * rng.random((b, 1, h, w))
    return images, annotations, samples, mean, uncertainty


# -- cells -------------------------------------------------------------------------------------
def test_input_cell_takes_rgb_or_the_first_channel() -> None:
    image = np.linspace(-0.5, 1.5, 4 * 2 * 3).reshape(4, 2, 3)
    np.testing.assert_array_equal(input_cell(image), np.clip(image[:3].transpose(1, 2, 0), 0, 1))
    np.testing.assert_array_equal(input_cell(image[:2]), np.clip(image[0][..., None], 0, 1))


def test_observed_cell_paints_omitted_pixels() -> None:
    image = np.array([[0.2, 0.4], [0.6, 0.8]])
    observed = np.array([[1.0, 0.0], [0.0, 1.0]])
    cell = observed_cell(image, observed)
    np.testing.assert_array_equal(cell[0, 0], [0.2] * 3)
    np.testing.assert_array_equal(cell[1, 1], [0.8] * 3)
    np.testing.assert_array_equal(cell[0, 1], RED)
    np.testing.assert_array_equal(cell[1, 0], RED)


# -- ambiguity_figure --------------------------------------------------------------------------
def test_ambiguity_figure_shows_every_mask_and_sample(tmp_path: Path, drawn: list[_Seen]) -> None:
    images, annotations, samples, mean, uncertainty = _dense_batch()
    weights = np.array([0.5, 0.3, 0.2])
    out = ambiguity_figure(
        images,
        annotations,
        samples,
        mean,
        uncertainty,
        path=tmp_path / "amb.png",
        title="Ambiguous graders",
        annotation_weights=weights,
        uncertainty_label="entropy (nats)",
    )
    assert out == tmp_path / "amb.png"
    _png(out)
    (seen,) = drawn
    assert seen.suptitle == "Ambiguous graders"
    ncols = 2 + 3 + 4 + 2  # RGB, depth | 3 graders | 4 samples | mean, uncertainty
    assert len(seen.axes) == 3 * ncols + 1  # plus one colorbar for the uncertainty column
    assert sum(ax.is_colorbar for ax in seen.axes) == 1
    grid = seen.grid(ncols)
    assert len(grid) == 3
    titles = [ax.title for ax in grid[0]]
    assert titles == [
        "RGB",
        "depth",
        "grader 1\nw = 0.5",
        "grader 2\nw = 0.3",
        "grader 3\nw = 0.2",
        "sample 1",
        "sample 2",
        "sample 3",
        "sample 4",
        "sample mean",
        "entropy (nats)",
    ]
    for r, row in enumerate(grid):
        assert row[0].ylabel == f"example {r}"
        np.testing.assert_allclose(row[0].arrays[0], images[r, :3].transpose(1, 2, 0))
        np.testing.assert_allclose(row[1].arrays[0], images[r, 3])
        for a in range(3):
            np.testing.assert_array_equal(row[2 + a].arrays[0], annotations[r, a, 0])
        for s in range(4):
            np.testing.assert_allclose(row[5 + s].arrays[0], samples[s, r, 0])
        np.testing.assert_allclose(row[9].arrays[0], mean[r, 0])
        np.testing.assert_allclose(row[10].arrays[0], uncertainty[r, 0])
        # One colour scale for every row: 0 to the largest uncertainty shown.
        assert row[10].clims[0] == pytest.approx((0.0, uncertainty.max()))
        assert row[10].cmaps[0] == UNCERTAINTY_CMAP
        for cell in row[1:10]:
            assert cell.clims[0] == (0.0, 1.0) and cell.cmaps[0] == "gray"


def test_ambiguity_figure_without_graders_and_with_limits(
    tmp_path: Path, drawn: list[_Seen]
) -> None:
    images, _, samples, mean, uncertainty = _dense_batch(b=5, c=1, k=9)
    ambiguity_figure(
        images,
        None,
        samples,
        mean,
        uncertainty,
        path=tmp_path / "grey.png",
        max_samples=3,
        max_examples=2,
    )
    _png(tmp_path / "grey.png")
    (seen,) = drawn
    ncols = 1 + 3 + 2  # grey input | 3 of 9 samples | mean, uncertainty
    grid = seen.grid(ncols)
    assert len(grid) == 2 and len(seen.axes) == 2 * ncols + 1
    assert [ax.title for ax in grid[0]] == [
        "input",
        "sample 1",
        "sample 2",
        "sample 3",
        "sample mean",
        "uncertainty",
    ]
    np.testing.assert_allclose(grid[1][0].arrays[0], images[1, 0])
    np.testing.assert_allclose(grid[1][3].arrays[0], samples[2, 1, 0])
    # The scale is set by the rows shown, not by the examples left out.
    assert grid[0][-1].clims[0] == pytest.approx((0.0, uncertainty[:2].max()))


def test_ambiguity_figure_shows_the_indicator_of_two_channel_inputs(
    tmp_path: Path, drawn: list[_Seen]
) -> None:
    images, annotations, samples, mean, uncertainty = _dense_batch(b=2, c=2, a=2, k=1)
    ambiguity_figure(images, annotations, samples, mean, uncertainty, path=tmp_path / "p.png")
    grid = drawn[0].grid(2 + 2 + 1 + 2)
    assert [ax.title for ax in grid[0]][:4] == ["input", "observed", "grader 1", "grader 2"]
    np.testing.assert_allclose(grid[1][0].arrays[0], images[1, 0])
    np.testing.assert_allclose(grid[1][1].arrays[0], images[1, 1])


def test_ambiguity_figure_titles_each_examples_own_weights(
    tmp_path: Path, drawn: list[_Seen]
) -> None:
    images, annotations, samples, mean, uncertainty = _dense_batch(b=2, c=3, a=2, k=1)
    weights = np.array([[0.25, 0.75], [0.6, 0.4]])
    ambiguity_figure(
        images,
        annotations,
        samples,
        mean,
        uncertainty,
        path=tmp_path / "w.png",
        annotation_weights=weights,
    )
    grid = drawn[0].grid(1 + 2 + 1 + 2)
    assert [grid[0][1].title, grid[0][2].title] == ["grader 1\nw = 0.25", "grader 2\nw = 0.75"]
    assert [grid[1][1].title, grid[1][2].title] == ["w = 0.6", "w = 0.4"]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"images": np.zeros((3, 5, 8, 10))}, "C in 1..4"),
        ({"mean": np.zeros((3, 1, 8, 9))}, "ambiguity_figure needs"),
        ({"samples": np.zeros((4, 2, 1, 8, 10))}, "ambiguity_figure needs"),
        ({"annotations": np.zeros((3, 2, 2, 8, 10))}, "ambiguity_figure needs"),
        ({"uncertainty": np.zeros((3, 8, 10))}, "uncertainty must be"),
        ({"annotation_weights": np.ones(2)}, r"annotation_weights must be \(A,\)"),
        ({"annotations": None, "annotation_weights": np.ones(3)}, "without annotations"),
        ({"max_samples": 0}, "max_samples"),
    ],
    ids=str,
)
def test_ambiguity_figure_errors(tmp_path: Path, change: dict[str, Any], match: str) -> None:
    images, annotations, samples, mean, uncertainty = _dense_batch()
    args: dict[str, Any] = {
        "images": images,
        "annotations": annotations,
        "samples": samples,
        "mean": mean,
        "uncertainty": uncertainty,
        **change,
    }
    with pytest.raises(ValueError, match=match):
        ambiguity_figure(path=tmp_path / "bad.png", **args)
    assert not (tmp_path / "bad.png").exists()


# -- partial_observation_grid ------------------------------------------------------------------
def _partial(b: int = 3, k: int = 2, h: int = 12, w: int = 12) -> Any:
    rng = np.random.default_rng(1)
    image = 0.2 + 0.6 * rng.random((b, h, w))  # never the omission colour
    observed = np.ones((b, h, w))
    observed[:, 2:6, 3:8] = 0.0  # an omitted block in every example
    inputs = np.stack([image, observed], 1)
    truth = rng.random((b, 1, h, w))
    baseline = rng.random((b, 1, h, w))
    samples = rng.random((k, b, 1, h, w))
    return inputs, truth, baseline, samples


def test_partial_observation_grid_marks_omitted_pixels(tmp_path: Path, drawn: list[_Seen]) -> None:
    inputs, truth, baseline, samples = _partial()
    labels = ["10% omitted", "30% omitted", "50% omitted"]
    out = partial_observation_grid(
        inputs,
        truth,
        baseline,
        samples,
        path=tmp_path / "po.png",
        title="Omission",
        row_labels=labels,
    )
    png = _png(out)
    assert _has_colour(png, RED)  # the omitted block reaches the file in the omission colour
    (seen,) = drawn
    assert seen.suptitle == "Omission"
    ncols = 3 + 2
    assert len(seen.axes) == 3 * ncols
    grid = seen.grid(ncols)
    assert [ax.title for ax in grid[0]] == ["input", "truth", "baseline", "sample 1", "sample 2"]
    for r, row in enumerate(grid):
        assert row[0].ylabel == labels[r]
        shown = row[0].arrays[0]
        assert shown.shape == (12, 12, 3)
        omitted = inputs[r, 1] < 0.5
        np.testing.assert_array_equal(shown[omitted], np.broadcast_to(RED, (omitted.sum(), 3)))
        np.testing.assert_allclose(shown[~omitted], np.repeat(inputs[r, 0][~omitted, None], 3, 1))
        np.testing.assert_allclose(row[1].arrays[0], truth[r, 0])
        np.testing.assert_allclose(row[2].arrays[0], baseline[r, 0])
        for s in range(2):
            np.testing.assert_allclose(row[3 + s].arrays[0], samples[s, r, 0])


def test_partial_observation_grid_without_baseline(tmp_path: Path, drawn: list[_Seen]) -> None:
    inputs, truth, _, samples = _partial(b=2, k=8)
    inputs[1, 1] = 1.0  # the second example is fully observed: no red in its input
    partial_observation_grid(inputs, truth, None, samples, path=tmp_path / "nb.png", max_samples=4)
    grid = drawn[0].grid(2 + 4)
    assert len(grid) == 2
    assert [ax.title for ax in grid[0]] == ["input", "truth", *(f"sample {s}" for s in range(1, 5))]
    assert [row[0].ylabel for row in grid] == ["example 0", "example 1"]
    assert not _has_colour(grid[1][0].arrays[0], RED)
    np.testing.assert_allclose(grid[0][5].arrays[0], samples[3, 0, 0])


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"inputs": np.zeros((3, 1, 12, 12))}, r"inputs \(B, 2, H, W\)"),
        ({"truth": np.zeros((2, 1, 12, 12))}, "partial_observation_grid needs"),
        ({"baseline": np.zeros((3, 1, 12, 11))}, "partial_observation_grid needs"),
        ({"samples": np.zeros((3, 1, 12, 12))}, "samples must be"),
        ({"row_labels": ["a", "b"]}, "one row label per example"),
    ],
    ids=str,
)
def test_partial_observation_grid_errors(
    tmp_path: Path, change: dict[str, Any], match: str
) -> None:
    inputs, truth, baseline, samples = _partial()
    args: dict[str, Any] = {
        "inputs": inputs,
        "truth": truth,
        "baseline": baseline,
        "samples": samples,
        **change,
    }
    with pytest.raises(ValueError, match=match):
        partial_observation_grid(path=tmp_path / "bad.png", **args)
    assert not (tmp_path / "bad.png").exists()
