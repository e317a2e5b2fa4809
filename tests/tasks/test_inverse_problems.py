"""Toy inverse problems: generators, solution sets, suite metrics, companion runs, recipes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

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
from plausible.distributions.mixture import top_hypotheses
from plausible.metrics.inverse_problems import AnswerSpace
from plausible.metrics.suite import run_metrics
from plausible.models.mdn import MDN, GaussianRegression
from plausible.models.protocols import ConditionalDensityModel, RankedHypotheses
from plausible.registry import TASKS
from plausible.tasks.base import TaskData
from plausible.tasks.inverse_problems import ForwardSine, InverseSine, PoseLifting, RobotArm
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


# -- an oracle with known answers ---------------------------------------------------------------


class _Oracle(nn.Module):
    """p(y|x): one narrow component on each given answer of each test input, equal weights.

    A ``ConditionalDensityModel`` with ``RankedHypotheses`` whose answers are known exactly, so
    the suite metrics must return values computed by hand. Inputs must be rows of ``inputs``.
    """

    def __init__(
        self, inputs: torch.Tensor, answers: torch.Tensor, valid: torch.Tensor, scale: float = 1e-6
    ) -> None:
        super().__init__()
        first = valid.float().argmax(-1)[:, None, None].expand(-1, 1, answers.shape[-1])
        filled = torch.where(valid[..., None], answers, answers.gather(1, first))
        self.register_buffer("inputs", inputs.float())
        self.register_buffer("answers", filled.float())
        self.register_buffer("logits", torch.where(valid, 0.0, -math.inf))
        self.anchor = nn.Parameter(torch.zeros(()))  # metrics find the device through it
        self.scale = scale
        self.x_shape, self.y_shape = (inputs.shape[1],), (answers.shape[-1],)

    def predictive(self, x: torch.Tensor) -> MixtureSameFamily:
        exact = "donot_use_mm_for_euclid_dist"  # the matrix-product shortcut mixes up near rows
        rows = torch.cdist(x.float(), self.inputs, compute_mode=exact).argmin(-1)
        loc = self.answers[rows]
        components = Independent(Normal(loc, torch.full_like(loc, self.scale)), 1)
        return MixtureSameFamily(Categorical(logits=self.logits[rows]), components)

    def forward(self, x: torch.Tensor) -> MixtureSameFamily:
        return self.predictive(x)

    def sample(self, x: torch.Tensor, num_samples: int, *, mean: bool = False) -> torch.Tensor:
        return self.predictive(x).sample((num_samples,))

    def hypotheses(self, x: torch.Tensor, num_hypotheses: int | None = None):
        return top_hypotheses(self.predictive(x), num_hypotheses)


def test_oracle_is_a_ranked_density_model() -> None:
    data = InverseSine(num_train=5, num_val=5, num_test=20).load()
    oracle = _Oracle(data.test["x"], data.test["solutions"], data.test["solutions_valid"])
    assert isinstance(oracle, ConditionalDensityModel) and isinstance(oracle, RankedHypotheses)


def test_the_exact_branches_have_zero_best_of_k_error_and_full_coverage() -> None:
    """Without noise the truth is one of the true branches: hypotheses on all branches score a
    best-of-K error of 0, cover every input at any tolerance, and their mode is always valid."""
    data = InverseSine(num_train=5, num_val=5, num_test=400, noise=0.0).load()
    oracle = _Oracle(data.test["x"], data.test["solutions"], data.test["solutions_valid"])
    settings = {"num_samples": 4, "tolerance": 1e-4}
    r = run_metrics(["answer-errors", "branch-coverage", "valid-answers"], oracle, data, settings)
    # Near a turning point t moves fast with x: float32 inputs leave errors of about 1e-4.
    assert r["answer-errors"]["best_of_k_error"]["mean"] == pytest.approx(0.0, abs=5e-4)
    assert r["answer-errors"]["num_hypotheses"] == 3
    assert r["branch-coverage"]["branch_coverage"] == 1.0
    assert r["valid-answers"]["mode_is_valid"] == 1.0
    # Three answers between the values of g(t) = t + 0.3 sin(2 pi t) at its turning points,
    # where g'(t) = 1 + 0.6 pi cos(2 pi t) = 0; one elsewhere.
    t_turn = math.acos(-1 / (0.6 * math.pi)) / (2 * math.pi)
    hi, lo = (t + 0.3 * math.sin(2 * math.pi * t) for t in (t_turn, 1 - t_turn))
    x = data.test["x"][:, 0]
    three = float(((x >= lo) & (x <= hi)).double().mean())
    shares = r["branch-coverage"]["share_by_num_solutions"]
    assert shares == pytest.approx({"1": 1 - three, "3": three})


def test_a_depth_offset_is_its_mpjpe_in_mm() -> None:
    """Lifting the true depths shifted by 10 mm moves every joint by exactly 10 mm in 3-D:
    best-of-K, mean, mode and expected errors are all 10 mm MPJPE."""
    data = PoseLifting(num_train=5, num_val=5, num_test=200, noise=0.0).load()
    depth = data.test["y"][:, None] + 0.01
    oracle = _Oracle(data.test["x"], depth, torch.ones(len(depth), 1, dtype=torch.bool))
    r = run_metrics(["answer-errors"], oracle, data, {"num_samples": 8})["answer-errors"]
    for key in ("best_of_k_error", "mean_error", "mode_error"):
        assert r[key]["mean"] == pytest.approx(10.0, rel=1e-4), key
    assert r["expected_error"]["mean"] == pytest.approx(10.0, abs=0.01)
    assert r["error_unit"] == "mm (MPJPE)"


def _true_law(n: int = 4000) -> tuple[GaussianRegression, TaskData, torch.Tensor, torch.Tensor]:
    """A Gaussian regression and targets drawn from it: the model is the data's true law."""
    torch.manual_seed(0)
    model = GaussianRegression(1, 1, hidden_dims=(8,), init_scale=0.5).eval()
    x = 2 * torch.rand(n, 1) - 1
    with torch.no_grad():
        p_y = model(x)
        y = p_y.sample()
    loc, scale = p_y.mean.double(), p_y.stddev.double()
    answers = AnswerSpace(residual=lambda x, p: torch.zeros(p.shape[:-1]))
    data = TaskData(train={}, val={}, test={"x": x, "y": y}, info={"answers": answers})
    return model, data, loc, scale


def test_the_true_law_is_calibrated_and_scores_its_closed_forms() -> None:
    """PIT interval coverage equals each level (binomial tolerance), the NLL equals the Gaussian
    log-density written out, and the energy score equals the closed-form Gaussian CRPS."""
    model, data, loc, scale = _true_law()
    names = ["pit-calibration", "nll", "answer-errors"]
    r = run_metrics(names, model, data, {"num_samples": 100})
    n = len(loc)
    for level, share in r["pit-calibration"]["interval_coverage"].items():
        p = float(level)
        assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / n), level
    assert r["pit-calibration"]["pit_ks_distance"] < 1.63 / math.sqrt(n)  # 1% KS quantile
    y = data.test["y"].double()
    z = (y - loc) / scale
    nll = scale.log() + 0.5 * math.log(2 * math.pi) + 0.5 * z**2
    assert r["nll"]["nll"]["mean"] == pytest.approx(float(nll.mean()), rel=1e-5)
    phi = torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2)))
    crps = scale * (z * (2 * cdf - 1) + 2 * phi - 1 / math.sqrt(math.pi))
    errors = r["answer-errors"]
    assert errors["energy_score"]["mean"] == pytest.approx(float(crps.mean()), abs=0.004)
    # One hypothesis, the mean: best-of-K is the mean's error.
    assert errors["best_of_k_error"] == {**errors["mean_error"], "estimator": "nearest of K"}


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
    assert isinstance(data.info["answers"], AnswerSpace)
    again = TASKS.get(name)(**kwargs).load()
    assert torch.equal(again.train["x"], data.train["x"])  # seeded


def _config(recipe: str, **model: object) -> dict:
    from plausible.config import load_recipe, validate_config

    config = validate_config(load_recipe(recipe))
    config["model"].update(model)
    return config


def test_the_least_squares_companion_has_the_models_size() -> None:
    from plausible.config import validate_config

    config = _config("mdn-robot-arm")
    recipes = RobotArm().baselines(config)
    assert set(recipes) == {"least_squares"}
    recipe = recipes["least_squares"]
    assert recipe["model"] == {
        "name": "regression",
        "scale": "homoscedastic",
        "hidden_dims": [64, 64],
        "activation": "tanh",
    }
    assert recipe["objective"] == {"name": "gaussian_nll"}
    assert recipe["task"] == config["task"]
    training = recipe["training"]
    assert (training["epochs"], training["batch_size"], training["lr"]) == (100, 100, 3e-3)
    validate_config(recipe)  # a complete recipe the runner can train
    config["evaluation"]["baseline"] = False
    assert RobotArm().baselines(config) == {}
    assert RobotArm().baselines(_config("mdn-robot-arm", name="regression")) == {}


def test_the_sine_also_fits_the_other_direction_on_the_same_points() -> None:
    config = _config("mdn-inverse-sine")
    recipes = InverseSine().baselines(config)
    assert set(recipes) == {"least_squares", "least_squares_forward"}
    other = recipes["least_squares_forward"]
    assert other["task"] == {**config["task"], "name": "forward-sine"}
    assert other["training"]["restore_best"] is False
    kwargs = {k: v for k, v in config["task"].items() if k != "name"}
    inverse, forward = InverseSine(**kwargs).load(), ForwardSine(**kwargs).load()
    assert torch.equal(forward.train["x"], inverse.train["y"])
    assert torch.equal(forward.train["y"], inverse.train["x"])
    # A regression run is least squares already: only the other direction is trained.
    assert set(InverseSine().baselines(_config("mdn-inverse-sine", name="regression"))) == {
        "least_squares_forward"
    }


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
def test_metrics_and_figures(task, model, tmp_path: Path) -> None:
    data = task.load()
    results = run_metrics(task.metrics, model.eval(), data, {"num_samples": 10})
    assert list(results) == list(task.metrics)
    for name in ("nll", "answer-errors", "branch-coverage", "valid-answers"):
        assert "skipped" not in results[name], (name, results[name])
    assert math.isfinite(results["nll"]["nll"]["mean"])
    mixture = isinstance(model, MDN)
    assert ("skipped" in results["mixture-weights"]) != mixture
    if mixture:
        assert results["answer-errors"]["num_hypotheses"] == model.num_components
    one_d = data.test["y"].shape[-1] == 1
    assert ("skipped" in results["pit-calibration"]) != one_d
    x_dim, y_dim = data.test["x"].shape[-1], data.test["y"].shape[-1]
    baselines = {
        name: GaussianRegression(x_dim, y_dim, hidden_dims=(4,)).eval()
        for name in ("least_squares", "least_squares_forward", "least_squares_inverse")
    }
    records = [
        {"step": 1, "epoch": 1, "split": "train", "loss": 1.0},
        {"step": 2, "epoch": 2, "split": "train", "loss": 0.5},
    ]
    with_ls = task.figures(model, data, tmp_path / "with", records=records, baselines=baselines)
    without = task.figures(model, data, tmp_path / "without", records=records)
    assert set(without) <= set(with_ls) and "training curves" in without
    for path in with_ls.values():
        assert path.exists() and path.stat().st_size > 5000
        assert path.read_bytes()[:4] == b"\x89PNG"


def test_mdn_beats_least_squares_on_the_inverse_sine() -> None:
    """Learning test: in a few seconds the MDN's NLL is far below that of its least-squares
    companion (trained from the recipe the task declares), and its approximate mode always
    lands on a valid answer; least squares covers few branches."""
    from plausible.checkpoint import build_model

    torch.manual_seed(0)
    task = InverseSine()
    data = task.load()
    mdn = _fit(
        MDN(1, 1, num_components=3, hidden_dims=(20,)), "mdn_nll", data.train, epochs=100, lr=1e-2
    )
    config = {
        "task": {"name": "inverse-sine"},
        "model": {"name": "mdn", "hidden_dims": [20]},
        "evaluation": {"baseline": {"epochs": 100, "lr": 1e-2}},
    }
    recipe = task.baselines(config)["least_squares"]
    kwargs = {k: v for k, v in recipe["model"].items() if k != "name"}
    ls = build_model(recipe["model"]["name"], {**task.model_kwargs(data), **kwargs})
    training = recipe["training"]
    ls = _fit(ls, "gaussian_nll", data.train, epochs=training["epochs"], lr=training["lr"])
    names = ["nll", "branch-coverage", "valid-answers"]
    ours = run_metrics(names, mdn, data, {"num_samples": 20})
    theirs = run_metrics(names, ls, data, {"num_samples": 20})
    assert ours["nll"]["nll"]["mean"] < -0.8
    assert theirs["nll"]["nll"]["mean"] > -0.3
    assert ours["branch-coverage"]["branch_coverage"] > 0.9
    assert theirs["branch-coverage"]["branch_coverage"] < 0.5
    assert ours["valid-answers"]["mode_is_valid"] > 0.95
    assert theirs["valid-answers"]["mode_is_valid"] < 0.9


# -- recipes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", RECIPES, ids=str)
def test_recipe_is_valid(recipe: str) -> None:
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
    assert "branch-coverage.branch_coverage" in report and "answer-errors" in report
    assert len(list((run / "figures").glob("*.png"))) >= 3


@pytest.mark.slow
def test_robot_arm_recipe_covers_both_branches(tmp_path: Path) -> None:
    """Done criterion: both branches covered for >= 95% of reachable two-solution test positions."""
    import json

    from plausible.config import apply_overrides, load_recipe
    from plausible.runs import train_run

    config = apply_overrides(
        load_recipe("mdn-robot-arm"), ["training.progress=false", 'training.tensorboard="off"']
    )
    run = train_run(config, tmp_path / "arm")
    test = json.loads((run / "summary.json").read_text())["test"]
    assert test["branch-coverage"]["branch_coverage_two_solutions"] >= 0.95
    baseline = test["least_squares"]["branch-coverage"]
    assert baseline["branch_coverage_two_solutions"] < 0.1


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
    assert test["least_squares"]["nll"]["mean"] - test["nll"]["mean"] > 0.7
    assert test["valid-answers"]["mode_is_valid"] > 0.99
    assert test["branch-coverage"]["branch_coverage"] > 0.99
