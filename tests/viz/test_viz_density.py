"""Tests for plausible.viz.density and plausible.viz.kinematics: PRML-style figures render."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from plausible.viz.density import (
    FitPanel,
    best_of_k_curves,
    coverage_map,
    fit_figure,
    mixture_figure,
    pit_figure,
)
from plausible.viz.kinematics import (
    arm_points,
    pose_figure,
    robot_arm_figure,
    solution_branches_figure,
)


def assert_png(path: Path) -> None:
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) >= 50
    assert float(image[..., :3].std()) > 0.01


def test_arm_points_follow_the_forward_kinematics() -> None:
    """Straight arm along x; shoulder up with the elbow bent back: hand at (L2, L1)."""
    points = arm_points((0.8, 0.2), np.array([[0.0, 0.0], [math.pi / 2, -math.pi / 2]]))
    np.testing.assert_allclose(points[0], [[0, 0], [0.8, 0], [1.0, 0]], atol=1e-12)
    np.testing.assert_allclose(points[1], [[0, 0], [0, 0.8], [0.2, 0.8]], atol=1e-12)


def test_density_figures_render(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 200)
    y = x + 0.3 * np.sin(2 * np.pi * x)
    grid = np.linspace(0, 1, 50)
    panel = FitPanel(x, y, grid, grid, title="forward", xlabel="t", ylabel="x")
    assert_png(fit_figure([panel, panel], tmp_path / "fit.png"))
    probs = np.full((50, 3), 1 / 3)
    locs = np.stack([grid, grid + 0.2, grid - 0.2], -1)
    ty = np.linspace(-0.3, 1.3, 40)
    density = np.exp(-((ty[:, None] - grid[None]) ** 2) / 0.01)
    assert_png(
        mixture_figure(
            x, y, grid, probs, locs, ty, density, grid, tmp_path / "mdn.png", least_squares=grid
        )
    )
    assert_png(pit_figure({"MDN": rng.uniform(size=500)}, tmp_path / "pit.png"))
    points = rng.uniform(-1, 1, (300, 2))
    count = rng.integers(0, 3, 300)
    assert_png(coverage_map(points, count == 2, count, tmp_path / "coverage.png"))
    errors = {"MDN": [3.0, 2.0, 1.0], "least squares": [4.0, 3.5, 3.2]}
    assert_png(best_of_k_curves([1, 10, 100], errors, tmp_path / "best.png"))
    with pytest.raises(ValueError, match="at least one"):
        fit_figure([], tmp_path / "none.png")


def test_kinematics_figures_render(tmp_path: Path) -> None:
    targets = np.array([[0.7, 0.4], [0.5, 0.6]])
    solutions = np.array([[[0.2, 0.9], [0.8, -0.9]], [[0.5, 1.0], [np.nan, np.nan]]])
    valid = ~np.isnan(solutions[..., 0])
    hypotheses = np.nan_to_num(solutions) + 0.05
    weights = np.array([[0.6, 0.4], [0.9, 0.1]])
    assert_png(
        robot_arm_figure(
            (0.8, 0.2),
            targets,
            solutions,
            valid,
            hypotheses,
            weights,
            tmp_path / "arm.png",
            least_squares=solutions[:, 0],
        )
    )
    assert_png(
        solution_branches_figure(
            np.arange(2.0),
            solutions,
            valid,
            hypotheses,
            weights,
            tmp_path / "branches.png",
            least_squares=solutions[:, 0],
        )
    )
    parents = (-1, 0, 1)
    truth = np.array([[[0, 0, 0], [0, 0.3, 0.1], [0.2, 0.5, -0.1]]] * 2, dtype=float)
    assert_png(
        pose_figure(
            parents,
            truth[..., :2],
            truth,
            truth[:, None].repeat(2, 1),
            np.array([[0.7, 0.3], [0.5, 0.5]]),
            tmp_path / "pose.png",
            least_squares=truth,
            num_solutions=[2, 1],
        )
    )
