"""Toy inverse problems: generators, solution sets, evaluation, figures, recipes, learning."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import plausible.models.mdn
import plausible.objectives.mdn  # noqa: F401  (registers mdn_nll, gaussian_nll)
from plausible.data.toy import (
    SMALL_SKELETON,
    PoseData,
    TwoLinkArm,
    sine_branches,
    sine_curve,
    sine_data,
)
from plausible.models.mdn import MDN, GaussianRegression
from plausible.registry import TASKS
from plausible.tasks.mdn_toys import ForwardSine, InverseSine, PoseLifting, RobotArm
from plausible.training import ConfiguredObjective, Trainer, TrainerConfig

RECIPES = ("mdn-inverse-sine", "mdn-robot-arm", "mdn-pose-lifting")


@pytest.fixture(autouse=True)
def _restore_threads():
    # Tiny networks train fastest on one thread; the trainer sets it globally, so put it back.
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _fit(
    model: torch.nn.Module,
    objective: str,
    train: dict,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 100,
) -> torch.nn.Module:
    config = TrainerConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        progress=False,
        tensorboard="off",
        device="cpu",
        log_every=10**9,
        num_threads=1,
    )
    Trainer(model, ConfiguredObjective(objective), config).fit(train)
    return model.eval()


# -- generators ------------------------------------------------------------------------------


def test_sine_data_is_seeded_and_in_range() -> None:
    t, x = sine_data(500, seed=3)
    t2, x2 = sine_data(500, seed=3)
    assert torch.equal(t, t2) and torch.equal(x, x2)
    assert not torch.equal(t, sine_data(500, seed=4)[0])
    assert t.shape == x.shape == (500, 1)
    assert ((x - sine_curve(t)).abs() <= 0.1 + 1e-6).all()
    even, _ = sine_data(11, spacing="even")
    torch.testing.assert_close(even[:, 0], torch.linspace(0, 1, 11))


def test_sine_branches() -> None:
    x = torch.tensor([0.2, 0.45, 0.5, 0.8, -0.05, 1.05], dtype=torch.float64)
    roots, valid = sine_branches(x)
    assert valid.sum(-1).tolist() == [1, 3, 3, 1, 1, 1]
    residual = (sine_curve(roots[..., 0]) - x[:, None]).abs()
    inside = valid & (x[:, None] >= 0) & (x[:, None] <= 1)
    assert (residual[inside] < 1e-9).all()
    assert float(roots[4, 0, 0]) == pytest.approx(0.0, abs=1e-9)  # below g(0): boundary answer
    assert float(roots[5, 2, 0]) == pytest.approx(1.0, abs=1e-9)
    torch.testing.assert_close(
        roots[2, :, 0], torch.tensor([0.2096, 0.5, 0.7904], dtype=torch.float64), atol=1e-4, rtol=0
    )


def test_arm_inverse_kinematics_round_trip() -> None:
    arm = TwoLinkArm()
    angles, clean, observed = arm.sample(1000, seed=1, noise=0.0, dtype=torch.float64)
    torch.testing.assert_close(clean, observed)
    solutions, valid = arm.inverse(clean)
    assert valid.any(-1).all()  # every generated position is reachable
    # Every valid solution reaches the position, and the generating angles are among them.
    reach = (arm.forward(solutions) - clean[:, None]).norm(dim=-1)
    assert (reach[valid] < 1e-9).all()
    nearest = torch.nan_to_num((solutions - angles[:, None]).norm(dim=-1), nan=9.0).amin(-1)
    assert (nearest < 1e-9).all()
    assert (solutions[:, 0, 1] >= 0).all() and (solutions[:, 1, 1] <= 0).all()
    _, unreachable = arm.inverse(torch.tensor([[2.0, 0.0]]))
    assert not unreachable.any()


def test_pose_solutions_contain_the_truth_and_all_fit_the_input() -> None:
    data = PoseData.generate(300, seed=2, noise=0.0, dtype=torch.float64)
    solutions, valid = SMALL_SKELETON.lift_solutions(data.joints2d)
    counts = valid.sum(-1)
    assert (counts >= 1).all() and set(counts.tolist()) <= {1, 2, 4, 8, 16, 32, 64}
    # The truth is one of them.
    error = (solutions - data.joints3d[:, None]).norm(dim=-1).amax(-1)
    assert (torch.nan_to_num(error, nan=9.0).amin(-1) < 1e-9).all()
    # Each valid solution projects to the input and keeps the bone lengths.
    ok = solutions[valid]
    torch.testing.assert_close(
        ok[..., :2], data.joints2d[:, None].expand_as(solutions[..., :2])[valid]
    )
    parents = list(SMALL_SKELETON.parents[1:])
    bones = (ok[:, 1:] - ok[:, parents]).norm(dim=-1)
    torch.testing.assert_close(
        bones, torch.tensor(SMALL_SKELETON.lengths[1:], dtype=torch.float64).expand_as(bones)
    )
    lifted = PoseData.lift(data.x, data.depth)
    torch.testing.assert_close(lifted, data.joints3d[:, 1:].flatten(1))
    assert PoseData.lift(data.x, data.depth.expand(4, -1, -1)).shape == (4, 300, 24)


# -- tasks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs", "x_dim", "y_dim"),
    [
        ("inverse-sine", {"num_train": 50, "num_val": 20, "num_test": 30}, 1, 1),
        ("forward-sine", {"num_train": 50, "num_val": 20, "num_test": 30}, 1, 1),
        ("robot-arm", {"num_train": 50, "num_val": 20, "num_test": 30}, 2, 2),
        ("pose-lifting", {"num_train": 50, "num_val": 20, "num_test": 30}, 16, 8),
    ],
    ids=str,
)
def test_task_splits(name: str, kwargs: dict, x_dim: int, y_dim: int) -> None:
    task = TASKS.get(name)(**kwargs)
    data = task.load()
    assert task.model_kwargs(data) == {"x_dim": x_dim, "y_dim": y_dim}
    for split, n in ((data.train, 50), (data.val, 20), (data.test, 30)):
        assert split["x"].shape == (n, x_dim) and split["y"].shape == (n, y_dim)
    assert data.test["solutions"].shape[0] == 30
    assert data.test["solutions_valid"].shape == data.test["solutions"].shape[:2]
    again = TASKS.get(name)(**kwargs).load()
    assert torch.equal(again.train["x"], data.train["x"])  # seeded


@pytest.mark.parametrize(
    ("task", "model"),
    [
        (InverseSine(num_train=200, num_val=50, num_test=100), MDN(1, 1, hidden_dims=(8,))),
        (
            ForwardSine(num_train=200, num_val=50, num_test=100),
            GaussianRegression(1, 1, hidden_dims=(8,)),
        ),
        (
            RobotArm(num_train=200, num_val=50, num_test=100),
            MDN(2, 2, num_components=2, hidden_dims=(8,), covariance="diagonal"),
        ),
        (
            PoseLifting(num_train=200, num_val=50, num_test=100),
            MDN(16, 8, num_components=3, hidden_dims=(16,)),
        ),
    ],
    ids=lambda v: type(v).__name__,
)
def test_evaluate_and_figures(task, model, tmp_path: Path) -> None:
    data = task.load()
    settings = {"num_samples": 10, "baseline": {"epochs": 2, "batch_size": 50, "num_threads": 1}}
    metrics = task.evaluate(model.eval(), data, settings=settings)
    for key in (
        "test_nll",
        "best_of_k_error",
        "expected_error",
        "energy_score",
        "branch_coverage",
        "mode_is_valid",
        "error_unit",
    ):
        assert key in metrics, key
    assert math.isfinite(metrics["test_nll"]["mean"])
    assert 0.0 <= metrics["branch_coverage"] <= 1.0
    if isinstance(model, GaussianRegression):
        assert "least_squares" not in metrics and "mixture" not in metrics
    else:
        assert metrics["least_squares"]["num_hypotheses"] == 1
        assert metrics["num_hypotheses"] == model.num_components
    if data.test["y"].shape[-1] == 1:
        assert set(metrics["interval_coverage"]) == {"0.5", "0.8", "0.9", "0.95"}
    records = [
        {"step": 1, "epoch": 1, "split": "train", "loss": 1.0},
        {"step": 2, "epoch": 2, "split": "train", "loss": 0.5},
    ]
    figures = task.figures(model, data, tmp_path, records=records)
    assert figures
    for path in figures.values():
        assert path.exists() and path.stat().st_size > 5000
        assert path.read_bytes()[:4] == b"\x89PNG"


def test_baseline_can_be_switched_off() -> None:
    task = InverseSine(num_train=100, num_val=20, num_test=50)
    metrics = task.evaluate(
        MDN(1, 1, hidden_dims=(4,)), task.load(), settings={"num_samples": 5, "baseline": False}
    )
    assert "least_squares" not in metrics


def test_mdn_beats_least_squares_on_the_inverse_sine() -> None:
    """Learning test: in a few seconds the MDN's NLL is far below least squares' and its
    approximate mode always lands on a valid answer; least squares covers few branches."""
    torch.manual_seed(0)
    task = InverseSine()
    data = task.load()
    mdn = _fit(
        MDN(1, 1, num_components=3, hidden_dims=(20,)), "mdn_nll", data.train, epochs=100, lr=1e-2
    )
    settings = {"num_samples": 20, "baseline": {"epochs": 100, "lr": 1e-2, "num_threads": 1}}
    metrics = task.evaluate(mdn, data, settings=settings)
    ls = metrics["least_squares"]
    assert metrics["test_nll"]["mean"] < -0.8
    assert ls["test_nll"]["mean"] > -0.3
    assert metrics["branch_coverage"] > 0.9 and ls["branch_coverage"] < 0.5
    assert metrics["mode_is_valid"] > 0.95 and ls["mode_is_valid"] < 0.9


# -- recipes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", RECIPES, ids=str)
def test_recipe_is_valid(recipe: str) -> None:
    import plausible.tasks.mdn_toys  # noqa: F401
    from plausible.config import load_recipe, validate_config

    config = validate_config(load_recipe(recipe))
    assert config["model"]["name"] == "mdn"
    assert config["description"]


@pytest.mark.parametrize("recipe", RECIPES, ids=str)
def test_recipe_runs_end_to_end_with_a_tiny_budget(recipe: str, tmp_path: Path) -> None:
    from plausible.config import apply_overrides, load_recipe
    from plausible.runs import train_run

    config = apply_overrides(
        load_recipe(recipe),
        [
            "task.num_train=200",
            "task.num_val=50",
            "training.epochs=2",
            "training.progress=false",
            "training.num_threads=1",
            'training.tensorboard="off"',
            "evaluation.num_samples=5",
            "evaluation.baseline={epochs = 1, num_threads = 1}",
        ],
    )
    config["task"]["num_test"] = 100
    run = train_run(config, tmp_path / "run")
    report = (run / "report.md").read_text()
    assert "least_squares.test_nll" in report and "branch_coverage" in report
    assert len(list((run / "figures").glob("*.png"))) >= 3


@pytest.mark.slow
def test_robot_arm_recipe_covers_both_branches(tmp_path: Path) -> None:
    """Done criterion: both branches covered for >= 95% of reachable two-solution test positions."""
    from plausible.config import apply_overrides, load_recipe
    from plausible.runs import train_run

    config = apply_overrides(
        load_recipe("mdn-robot-arm"), ["training.progress=false", 'training.tensorboard="off"']
    )
    import json

    run = train_run(config, tmp_path / "arm")
    test = json.loads((run / "summary.json").read_text())["test"]
    assert test["branch_coverage_two_solutions"] >= 0.95
    assert test["least_squares"]["branch_coverage_two_solutions"] < 0.1


@pytest.mark.slow
def test_inverse_sine_recipe_meets_its_bounds(tmp_path: Path) -> None:
    """Done criterion: test NLL far below least squares' and an approximate mode on a branch."""
    import json

    from plausible.config import apply_overrides, load_recipe
    from plausible.runs import train_run

    config = apply_overrides(
        load_recipe("mdn-inverse-sine"), ["training.progress=false", 'training.tensorboard="off"']
    )
    run = train_run(config, tmp_path / "sine")
    test = json.loads((run / "summary.json").read_text())["test"]
    assert test["nll_gain_over_least_squares"] > 0.7
    assert test["mode_is_valid"] > 0.99
    assert test["branch_coverage"] > 0.99
